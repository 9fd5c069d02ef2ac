"""MoonShot's Multimodal Video Block (arXiv 2401.01827) from diffusers parts; no official code exists.

Block order, as the paper: spatial ResNet -> self-attention -> decoupled text+image cross-attention
-> temporal attention, spatial weights frozen.

* Decoupled cross-attention: diffusers' ``IPAdapterAttnProcessor2_0`` on every *spatial*
  cross-attention (text K/V of the base + separate image K/V with its own ``scale``), fed by an
  ``ImageProjection`` (pooled image embedding -> ``num_tokens`` context tokens) installed as the
  UNet's ``encoder_hid_proj`` with ``encoder_hid_dim_type="ip_image_proj"``: the UNet forward then
  takes ``added_cond_kwargs={"image_embeds": [(B, 1, D)]}``. The image K/V start as copies of the
  text K/V (IP-Adapter's initialisation). Written here: only the wiring (which processors, the init).
* Temporal attention: a diffusers ``MotionAdapter`` on the base via ``UNetMotionModel.from_unet2d``,
  which carries the IP processors and ``encoder_hid_proj`` over (it repeats the image tokens per frame).
* Image animation: ``MotionAdapter(conv_in_channels=9)`` (4 noisy + 4 first-frame latent + 1 mask);
  ``from_unet2d`` keeps the base's 4 input channels and takes the other 5 from the adapter, which
  are zeroed here, so the widened model starts as the base motion UNet. The paper does not say
  where the first-frame latent goes; ``first_frame_input`` chooses: ``"frame0"`` (latent and mask 1
  at frame 0, zeros elsewhere) or ``"all_frames"`` (the latent at every frame, as SVD and
  DynamiCrafter feed their image latent, mask still 1 at frame 0 only). A clip without an image to
  animate gets all zeros (text-to-video). The choice travels with the weights (``moonshot.json``)
  and the UNet (attribute ``first_frame_input``), so the sampler feeds what training fed.
* Image embeddings: the image tower of a clip-anytorch CLIP (the evaluation CLIP of
  ``train_eval_models`` by default), unit-normalised, or any callable uint8 (N, H, W, 3) -> (N, D).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel

    from animatelab.config import MotionModuleParams

ImageEncoder = Callable[[np.ndarray], torch.Tensor]
IMAGE_FILE = "image_adapter.safetensors"
VIDEO_FILE = "moonshot_video.safetensors"
INFO_FILE = "moonshot.json"
IMAGE_KEYS = ("to_k_ip.", "to_v_ip.", "encoder_hid_proj.")
VIDEO_KEYS = ("motion_modules.", "conv_in.")
IN_CHANNELS = 9


# --------------------------------------------------------------------------- image embeddings
def clip_image_encoder(path: str | Path) -> tuple[ImageEncoder, int]:
    """``(encode, dim)``: the image tower of a local clip-anytorch CLIP, as the evaluation uses it."""
    from animatelab.eval.clip_scores import ClipScorer, load_clip

    model = load_clip(path)
    scorer = ClipScorer(model, "moonshot")
    return scorer.embed_images, int(model.visual.output_dim)


# --------------------------------------------------------------------------- decoupled cross-attention
def spatial_cross_attention(unet: nn.Module) -> list[str]:
    """Processor names of the base's cross-attention layers (never the motion modules')."""
    return [n for n in unet.attn_processors if n.endswith("attn2.processor") and "motion_modules" not in n]


def add_image_cross_attention(unet: nn.Module, image_embed_dim: int, num_tokens: int, scale: float,
                              seed: int = 0) -> nn.Module:
    """Make every spatial cross-attention of ``unet`` (in place) decoupled text+image attention."""
    from diffusers.models.attention_processor import IPAdapterAttnProcessor2_0
    from diffusers.models.embeddings import ImageProjection, MultiIPAdapterImageProjection

    torch.manual_seed(seed)
    cross_dim = unet.config.cross_attention_dim
    procs = dict(unet.attn_processors)
    for name in spatial_cross_attention(unet):
        attn = unet.get_submodule(name.removesuffix(".processor"))
        proc = IPAdapterAttnProcessor2_0(attn.to_k.out_features, cross_dim, num_tokens=(num_tokens,), scale=scale)
        proc.to_k_ip[0].weight.data.copy_(attn.to_k.weight.data)
        proc.to_v_ip[0].weight.data.copy_(attn.to_v.weight.data)
        procs[name] = proc.to(attn.to_k.weight)
    unet.set_attn_processor(procs)
    proj = ImageProjection(image_embed_dim, cross_dim, num_tokens).to(unet.device, unet.dtype)
    unet.encoder_hid_proj = MultiIPAdapterImageProjection([proj])
    unet.register_to_config(encoder_hid_dim_type="ip_image_proj")
    return unet


def set_image_scale(unet: nn.Module, scale: float) -> None:
    """The image branch's weight in every decoupled cross-attention (0: text-only attention)."""
    from diffusers.models.attention_processor import IPAdapterAttnProcessor2_0

    for proc in unet.attn_processors.values():
        if isinstance(proc, IPAdapterAttnProcessor2_0):
            proc.scale = [scale]


def image_kwargs(image_embeds: torch.Tensor) -> dict[str, Any]:
    """``added_cond_kwargs`` for pooled image embeddings (B, D): one image per sample."""
    return {"image_embeds": [image_embeds[:, None]]}


def keyed_state(module: nn.Module, keys: tuple[str, ...]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()
            if any(key in k for key in keys) and not k.endswith("pos_embed.pe")}


def train_only(module: nn.Module, keys: tuple[str, ...]) -> list[str]:
    """Freeze ``module`` except parameters whose name contains one of ``keys``; their names."""
    module.requires_grad_(False)
    names = []
    for n, p in module.named_parameters():
        if any(k in n for k in keys):
            p.requires_grad_(True)
            names.append(n)
    if not names:
        raise AssertionError(f"no parameter matches {keys}")
    return names


def save_weights(module: nn.Module, keys: tuple[str, ...], out_dir: str | Path, file: str, info: dict) -> Path:
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_file(keyed_state(module, keys), str(out / file))
    (out / INFO_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return out


def load_weights(module: nn.Module, keys: tuple[str, ...], folder: str | Path, file: str) -> dict:
    """Load ``file`` into ``module`` (all of ``keys``' tensors must fit); returns the folder's info."""
    from safetensors.torch import load_file

    missing, unexpected = module.load_state_dict(load_file(str(Path(folder) / file)), strict=False)
    bad = [k for k in missing if any(key in k for key in keys) and not k.endswith("pos_embed.pe")]
    if unexpected or bad:
        raise RuntimeError(f"{folder}: weights do not fit: missing {bad[:3]} unexpected {unexpected[:3]}")
    return json.loads((Path(folder) / INFO_FILE).read_text())


def load_image_adapter(unet2d: "UNet2DConditionModel", folder: str | Path) -> dict:
    """Add the trained decoupled cross-attention of ``folder`` to ``unet2d`` (in place); its info."""
    info = json.loads((Path(folder) / INFO_FILE).read_text())
    add_image_cross_attention(unet2d, info["image_embed_dim"], info["num_image_tokens"], info["image_scale"])
    load_weights(unet2d, IMAGE_KEYS, folder, IMAGE_FILE)
    return info


# --------------------------------------------------------------------------- the video model
def widened_adapter(unet2d: "UNet2DConditionModel", design: "MotionModuleParams") -> "MotionAdapter":
    """A new MotionAdapter with a 9-channel conv_in whose weights are zero (the base's 4 channels
    are replaced by the base's own in ``from_unet2d``; the 5 new ones stay zero)."""
    from diffusers import MotionAdapter

    from animatelab.models.motion import adapter_config

    adapter = MotionAdapter(**adapter_config(unet2d, design), conv_in_channels=IN_CHANNELS)
    nn.init.zeros_(adapter.conv_in.weight)
    return adapter


FIRST_FRAME_INPUTS = ("frame0", "all_frames")


def build_moonshot_unet(unet2d: "UNet2DConditionModel", design: "MotionModuleParams",
                        seed: int = 0, first_frame_input: str = "frame0") -> "UNetMotionModel":
    """The MVB UNet (seeded) on ``unet2d`` (with its decoupled cross-attention, if added)."""
    if first_frame_input not in FIRST_FRAME_INPUTS:
        raise ValueError(f"first_frame_input {first_frame_input!r}: expected one of {FIRST_FRAME_INPUTS}")
    from diffusers import UNetMotionModel

    from animatelab.models.motion import apply_design

    torch.manual_seed(seed)
    unet = UNetMotionModel.from_unet2d(unet2d, widened_adapter(unet2d, design))
    apply_design(unet, design)
    train_only(unet, VIDEO_KEYS)
    unet.first_frame_input = first_frame_input
    return unet


def animation_input(noisy: torch.Tensor, first: torch.Tensor | None, animate: torch.Tensor | None = None,
                    first_frame_input: str = "frame0") -> torch.Tensor:
    """(B, 9, F, h, w): noisy latents (B, 4, F, h, w), the first-frame latent (B, 4, h, w) at frame 0
    (or at every frame, ``"all_frames"``), and a mask that is 1 at frame 0; samples with ``animate``
    False (or ``first`` None) get zeros."""
    b, _, f, h, w = noisy.shape
    cond = noisy.new_zeros(noisy.shape)
    mask = noisy.new_zeros((b, 1, f, h, w))
    if first is not None:
        on = torch.ones(b, device=noisy.device) if animate is None else animate.to(noisy)
        placed = first.to(noisy) * on.view(b, 1, 1, 1)
        if first_frame_input == "all_frames":
            cond[:] = placed[:, :, None]
        else:
            cond[:, :, 0] = placed
        mask[:, :, 0] = on.view(b, 1, 1, 1)
    return torch.cat([noisy, cond, mask], dim=1)


def predict(unet: "UNetMotionModel", noisy: torch.Tensor, t: torch.Tensor, text: torch.Tensor,
            image_embeds: torch.Tensor | None, first: torch.Tensor | None,
            animate: torch.Tensor | None = None) -> torch.Tensor:
    """Noise prediction (B, 4, F, h, w) of the MVB UNet: text (B, L, D), image embeddings (B, D)."""
    frames = noisy.shape[2]
    x = (animation_input(noisy, first, animate, getattr(unet, "first_frame_input", "frame0"))
         if unet.config.in_channels == IN_CHANNELS else noisy)
    kwargs = {"added_cond_kwargs": image_kwargs(image_embeds)} if image_embeds is not None else {}
    return unet(x, t, encoder_hidden_states=text.repeat_interleave(frames, 0), **kwargs).sample


def load_moonshot_unet(unet2d: "UNet2DConditionModel", image_dir: str | Path | None,
                       video_dir: str | Path) -> "UNetMotionModel":
    """Rebuild a trained MoonShot video UNet on ``unet2d`` (frozen, eval)."""
    from animatelab.config import MotionModuleParams

    if image_dir is not None:
        load_image_adapter(unet2d, image_dir)
    info = json.loads((Path(video_dir) / INFO_FILE).read_text())
    unet = build_moonshot_unet(unet2d, MotionModuleParams.model_validate(info["module"]),
                               first_frame_input=info.get("first_frame_input", "frame0"))
    load_weights(unet, VIDEO_KEYS, video_dir, VIDEO_FILE)
    return unet.eval().requires_grad_(False)
