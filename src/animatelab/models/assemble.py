"""The one assembly of base UNet + domain adapter + motion module, and of a video pipeline on it.

Every trainer, pipeline builder and probe goes through :func:`motion_unet`, so the order is the
same everywhere: load the base UNet (float32 unless asked), merge the domain adapter into its
spatial layers at ``adapter_scale`` (scale 0, or no adapter, leaves the base untouched), then put
the motion module on the merged UNet. The adapter's weights file is :func:`adapter_file`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import torch
from torch import nn

from animatelab.models.base import base_unet
from animatelab.models.lora import WEIGHT_NAME, merge_lora

if TYPE_CHECKING:
    from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel

    from animatelab.models.base import BaseComponents

ADAPTER_NAME = "domain_adapter"
ADAPTER_FILE = WEIGHT_NAME

# a saved run's folder, a diffusers MotionAdapter, or a function building the video UNet on the merged base
Motion = Union[str, Path, "MotionAdapter", Callable[["UNet2DConditionModel"], "UNetMotionModel"], None]


def adapter_file(adapter_dir: str | Path) -> Path:
    """The domain adapter's weights file in its output folder."""
    return Path(adapter_dir) / ADAPTER_FILE


def merge_adapter(unet: nn.Module, adapter: str | Path | None, scale: float) -> nn.Module:
    """Merge the domain adapter (its folder or weights file) into ``unet`` at ``scale``, in place:
    W += scale * (alpha / r) * up @ down on the layers the file names. No adapter or scale 0: untouched."""
    if adapter is None or not scale:
        return unet
    return merge_lora(unet, adapter, scale, ADAPTER_NAME)


def load_snapshot_weights(unet: nn.Module, folder: str | Path) -> nn.Module:
    """Put a MotionAdapter folder's or a training checkpoint's (``trainable.safetensors``) motion weights
    into ``unet`` in place (the base's weights stay): the run's UNet at that step, without rebuilding it.
    Returns it."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if (folder / "trainable.safetensors").is_file():
        state = load_file(str(folder / "trainable.safetensors"))
    else:
        from diffusers import MotionAdapter

        adapter = MotionAdapter.from_pretrained(folder, local_files_only=True)
        state = adapter.state_dict()  # same key names as the UNetMotionModel's motion modules
    _, unexpected = unet.load_state_dict(state, strict=False)
    if unexpected:
        raise RuntimeError(f"{folder}: checkpoint keys do not fit the run: {unexpected[:3]}")
    return unet


def motion_unet(base: "str | Path | UNet2DConditionModel", motion: Motion = None,
                adapter: str | Path | None = None, adapter_scale: float = 0.0,
                snapshot: str | Path | None = None, dtype: torch.dtype = torch.float32) -> nn.Module:
    """Base + domain adapter merged at ``adapter_scale`` + motion module, frozen and in eval mode.

    ``base``: a base pipeline folder, or its already loaded UNet (the merge then changes it in place).
    ``adapter``: the domain adapter's folder or weights file (None: no adapter).
    ``motion``: None returns the merged 2-D UNet; a saved run's folder (any design) or a
    ``MotionAdapter`` gives the ``UNetMotionModel``; a function of the merged UNet builds any other
    video UNet on it (MoonShot's). ``snapshot``: a training snapshot whose motion weights replace the run's.
    """
    unet2d = base if isinstance(base, nn.Module) else base_unet(base, dtype)
    merge_adapter(unet2d, adapter, adapter_scale)
    if motion is None:
        if snapshot is not None:
            raise ValueError("a snapshot needs a motion module")
        return unet2d.requires_grad_(False).eval()
    from diffusers import MotionAdapter

    if isinstance(motion, MotionAdapter):
        from diffusers import UNetMotionModel

        unet = UNetMotionModel.from_unet2d(unet2d, motion)
    elif callable(motion):
        unet = motion(unet2d)
    else:
        from animatelab.models.motion import load_motion_unet

        unet = load_motion_unet(unet2d, motion)
    if snapshot is not None:
        load_snapshot_weights(unet, snapshot)
    return unet.eval().requires_grad_(False)


def pipeline(base: "BaseComponents", unet: nn.Module, scheduler: Any, cls: type | None = None, **parts: Any):
    """A video pipeline (``AnimateDiffPipeline`` unless ``cls``) over ``base``'s VAE, text encoder and
    tokenizer and ``unet``, the :func:`motion_unet` assembled on ``base.unet``, with ``scheduler``, any
    further ``parts`` (a ControlNet) and no progress bar."""
    if cls is None:
        from diffusers import AnimateDiffPipeline as cls

    pipe = cls(vae=base.vae, text_encoder=base.text_encoder, tokenizer=base.tokenizer, unet=unet,
               motion_adapter=None, scheduler=scheduler, **parts)
    pipe.set_progress_bar_config(disable=True)
    return pipe
