"""An image ControlNet (diffusers ``ControlNetModel``) on this repo's base, attached per frame to video UNets.

* :func:`build_controlnet`: ``ControlNetModel.from_unet`` on the base UNet (its conv_in, time
  embedding, down and mid blocks copied; the zero convolutions and the conditioning embedding's last
  conv zero-initialised by diffusers, so a new ControlNet adds exactly nothing). The conditioning
  embedding downsamples pixels to latents: one entry of ``conditioning_embedding_out_channels`` per
  VAE level (each after the first halves the resolution).
* Condition: cv2.Canny edge maps (the SparseCtrl sketches, ``sparsectrl.model.sketches``) as
  3-channel images in [0, 1], what ``AnimateDiffControlNetPipeline``'s control processor gives a
  ControlNet for white-on-black uint8 images.
* :class:`ControlledUNet`: a video UNet (``UNetMotionModel``, 5-D input) whose every call first runs
  the ControlNet on each frame's noisy latent (the first ``controlnet.config.in_channels`` input
  channels: MoonShot's 9-channel input carries the first-frame latent and mask after them) with that
  frame's edge map, then hands the residuals to the UNet's ``down_block_additional_residuals`` /
  ``mid_block_additional_residual``. No video training: the ControlNet only ever saw images.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

INFO_FILE = "controlnet_image.json"


def vae_levels(base_path: str | Path) -> int:
    """Number of VAE levels of the base (its pixel / latent ratio is 2 ** (levels - 1))."""
    cfg = json.loads((Path(base_path) / "vae" / "config.json").read_text())
    return len(cfg["block_out_channels"])


def build_controlnet(unet2d: nn.Module, embedding_channels: list[int], levels: int, seed: int = 0):
    """A new ``ControlNetModel`` (seeded) from the base UNet, 3 conditioning channels, with the first
    ``levels`` entries of ``embedding_channels`` as its conditioning embedding."""
    from diffusers import ControlNetModel

    if len(embedding_channels) < levels:
        raise ValueError(f"conditioning_embedding_out_channels needs >= {levels} entries (one per VAE level)")
    torch.manual_seed(seed)
    return ControlNetModel.from_unet(unet2d, conditioning_embedding_out_channels=tuple(embedding_channels[:levels]),
                                     conditioning_channels=3)


def edge_maps(frames: np.ndarray, thresholds: tuple[int, int]) -> np.ndarray:
    """uint8 Canny edges (..., H, W) (0 or 255) of uint8 RGB frames (..., H, W, 3)."""
    from animatelab.sparsectrl.model import sketches

    return np.ascontiguousarray(sketches(frames, thresholds)[..., 0])


def edge_condition(edges: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 edges (N, H, W) -> float (N, 3, H, W) in [0, 1], the ControlNet's ``controlnet_cond``."""
    x = torch.as_tensor(edges).float().div(255.0)
    return x[:, None].expand(-1, 3, -1, -1).contiguous()


def save_controlnet(controlnet: nn.Module, out_dir: str | Path, info: dict[str, Any]) -> Path:
    out = Path(out_dir)
    controlnet.save_pretrained(out, safe_serialization=True)
    (out / INFO_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return out


def load_controlnet(folder: str | Path):
    """The trained ``ControlNetModel`` (frozen, eval) and its info."""
    from diffusers import ControlNetModel

    folder = Path(folder)
    info = json.loads((folder / INFO_FILE).read_text())
    return ControlNetModel.from_pretrained(folder, local_files_only=True).eval().requires_grad_(False), info


class ControlledUNet(nn.Module):
    """A ``UNetMotionModel`` plus a ControlNet applied to every frame (see the module docstring).

    ``set_condition(cond, scale)``: per-video conditions (B, F, 3, H, W) for the next calls; a call
    with 2B videos (both guidance branches in one batch) gives each branch the same conditions, as
    ``AnimateDiffControlNetPipeline`` does outside guess mode. ``scale`` 0 or no condition: the bare
    UNet. Attribute reads the wrapper does not have (``config``, ``attn_processors``, ``conv_in``...)
    go to the UNet, so code written for the UNet takes the wrapper."""

    def __init__(self, unet: nn.Module, controlnet: nn.Module) -> None:
        super().__init__()
        self.unet, self.controlnet = unet, controlnet
        self.cond: torch.Tensor | None = None
        self.scale = 1.0

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("unet"), name)

    def set_condition(self, cond: torch.Tensor | None, scale: float = 1.0) -> None:
        self.cond, self.scale = cond, float(scale)

    def residuals(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor):
        """``(down, mid)`` of the ControlNet for a 5-D UNet input (B, C, F, h, w) and its per-frame
        text (B*F, L, D)."""
        b, _, f = sample.shape[:3]
        cond = self.cond
        if cond.shape[0] != b:
            if b % cond.shape[0]:
                raise ValueError(f"{cond.shape[0]} conditions for a batch of {b} videos")
            cond = cond.repeat(b // cond.shape[0], 1, 1, 1, 1)
        if cond.shape[1] != f:
            raise ValueError(f"conditions of {cond.shape[1]} frames for {f}-frame videos")
        noisy = sample[:, : self.controlnet.config.in_channels].transpose(1, 2).flatten(0, 1)
        t = torch.as_tensor(timestep, device=sample.device).reshape(-1)
        t = t.expand(b) if t.numel() == 1 else t
        return self.controlnet(noisy, t.repeat_interleave(f), encoder_hidden_states=encoder_hidden_states,
                               controlnet_cond=cond.flatten(0, 1).to(sample), conditioning_scale=self.scale,
                               return_dict=False)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor,
                **kwargs: Any):
        if self.cond is not None and self.scale != 0:
            down, mid = self.residuals(sample, timestep, encoder_hidden_states)
            kwargs = {**kwargs, "down_block_additional_residuals": down, "mid_block_additional_residual": mid}
        return self.unet(sample, timestep, encoder_hidden_states=encoder_hidden_states, **kwargs)
