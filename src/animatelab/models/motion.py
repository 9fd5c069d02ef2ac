"""The motion module: a diffusers ``MotionAdapter`` on a frozen base UNet, plus the RQ4/RQ5 designs.

The standard design (``temporal: attention``, ``norm: whole_clip``, no text cross-attention) is
exactly diffusers' ``MotionAdapter`` / ``UNetMotionModel``, with ``proj_out`` zero-initialised as
in the official code (diffusers does not zero it), so a new module is the identity.
The other designs are applied to the built ``UNetMotionModel`` by swapping parts of each motion
module, keeping the state-dict layout wherever the weights are the same:

- ``norm: per_frame``: the module's GroupNorm normalises each frame on its own (official code);
  same weights, so the diffusers folder holds them, and ``motion_design.json`` says how to run them.
- ``temporal: conv1d``: each motion module becomes a residual block of two 1-D temporal
  convolutions (kernel 3) with a zero-initialised output convolution.
- ``text_cross_attention``: the temporal block's second attention attends to the text embeddings
  (MoonShot-style), fed through forward hooks because diffusers calls motion modules without them.

A saved run always holds ``motion_design.json``; designs that diffusers cannot run as-is hold their
weights in ``motion_modules.safetensors`` (UNetMotionModel key names) instead of a MotionAdapter
folder, so a plain ``MotionAdapter.from_pretrained`` fails loudly rather than running the wrong model.
Use :func:`load_motion_unet` to rebuild any design.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel

    from animatelab.config import MotionModuleParams

DESIGN_FILE = "motion_design.json"
MODEL_CARD = "README.md"  # the export folder's model card
CUSTOM_WEIGHTS = "motion_modules.safetensors"
MOTION_KEY = "motion_modules."


# --------------------------------------------------------------------------- design parts
class PerFrameGroupNorm(nn.GroupNorm):
    """GroupNorm over each frame of a (B, C, F, H, W) clip, as the official motion module does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        b, c, f, h, w = x.shape
        y = super().forward(x.transpose(1, 2).reshape(b * f, c, h, w))
        return y.reshape(b, f, c, h, w).transpose(1, 2)


class TemporalConv1d(nn.Module):
    """Residual 1-D temporal convolution block, a drop-in for ``AnimateDiffTransformer3D``.

    GroupNorm -> Conv1d(k=3) -> SiLU -> Conv1d(k=3, ``proj_out``) over frames, spatial positions
    folded into the batch, added to the input.
    """

    def __init__(self, channels: int, norm_num_groups: int, per_frame_norm: bool, kernel_size: int = 3) -> None:
        super().__init__()
        norm_cls = PerFrameGroupNorm if per_frame_norm else nn.GroupNorm
        self.norm = norm_cls(norm_num_groups, channels, eps=1e-6, affine=True)
        self.proj_in = nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2)
        self.proj_out = nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2)

    def forward(self, hidden_states: torch.Tensor, encoder_hidden_states: Any = None, timestep: Any = None,
                class_labels: Any = None, num_frames: int = 1, cross_attention_kwargs: Any = None) -> torch.Tensor:
        bf, c, h, w = hidden_states.shape
        b = bf // num_frames
        x = hidden_states.reshape(b, num_frames, c, h, w).transpose(1, 2)  # (B, C, F, H, W)
        x = self.norm(x)
        x = x.permute(0, 3, 4, 1, 2).reshape(b * h * w, c, num_frames)
        x = self.proj_out(F.silu(self.proj_in(x)))
        x = x.reshape(b, h, w, c, num_frames).permute(0, 4, 3, 1, 2).reshape(bf, c, h, w)
        return hidden_states + x


def motion_modules(unet: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every motion module (down, mid, up) of a UNetMotionModel/MotionAdapter."""
    out = []
    for name, module in unet.named_modules():
        parts = name.split(".")
        if len(parts) >= 2 and parts[-2] == "motion_modules":
            out.append((name, module))
    return out


def _set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent), leaf, module)


def is_standard(design: "MotionModuleParams") -> bool:
    """True when diffusers' own MotionAdapter holds the weights (per-frame norm only changes the run)."""
    return design.temporal == "attention" and not design.text_cross_attention


def _add_text_cross_attention(unet: nn.Module, text_dim: int, zero_init: bool) -> None:
    """Turn each temporal block's second self-attention into cross-attention on the text."""
    from diffusers.models.attention_processor import Attention

    context: dict[str, torch.Tensor | None] = {"text": None}

    def remember_text(_module: nn.Module, args: tuple, kwargs: dict) -> None:
        context["text"] = kwargs.get("encoder_hidden_states", args[2] if len(args) > 2 else None)

    def feed_text(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        text = context["text"]
        if text is None:
            raise RuntimeError("text cross-attention motion module called without encoder_hidden_states")
        hidden = args[0] if args else kwargs["hidden_states"]
        frames = kwargs.get("num_frames", args[4] if len(args) > 4 else 1)
        bf, _, h, w = hidden.shape
        per_clip = text[::frames] if text.shape[0] == bf else text  # the UNet gets text repeated per frame
        rows = per_clip.repeat_interleave(h * w, dim=0)  # attention rows are (b h w)
        if len(args) > 1:  # the mid block passes everything positionally
            return (args[0], rows, *args[2:]), kwargs
        return args, {**kwargs, "encoder_hidden_states": rows}

    for _, module in motion_modules(unet):
        for block in module.transformer_blocks:
            old = block.attn2
            block.attn2 = Attention(query_dim=old.query_dim, cross_attention_dim=text_dim, heads=old.heads,
                                    dim_head=old.inner_dim // old.heads, bias=False, out_bias=True)
            if zero_init:
                nn.init.zeros_(block.attn2.to_out[0].weight)
                nn.init.zeros_(block.attn2.to_out[0].bias)
        module.register_forward_pre_hook(feed_text, with_kwargs=True)
    unet.register_forward_pre_hook(remember_text, with_kwargs=True)


def apply_design(unet: "UNetMotionModel", design: "MotionModuleParams", text_dim: int | None = None) -> "UNetMotionModel":
    """Swap the motion modules of ``unet`` (in place) to ``design``; the standard design is a no-op
    apart from zeroing ``proj_out``. New parts are initialised from the current torch seed."""
    for name, module in motion_modules(unet):
        if design.temporal == "conv1d":
            module = TemporalConv1d(module.in_channels, design.norm_num_groups, design.norm == "per_frame")
            module.to(device=unet.device, dtype=unet.dtype)
            _set_submodule(unet, name, module)
        elif design.norm == "per_frame":
            old = module.norm
            new = PerFrameGroupNorm(old.num_groups, old.num_channels, eps=old.eps, affine=old.affine)
            new.load_state_dict(old.state_dict())
            module.norm = new.to(old.weight)
        if design.zero_init_proj_out:
            nn.init.zeros_(module.proj_out.weight)
            nn.init.zeros_(module.proj_out.bias)
    if design.text_cross_attention:
        if design.temporal != "attention":
            raise ValueError("text_cross_attention needs temporal: attention")
        _add_text_cross_attention(unet, text_dim or unet.config.cross_attention_dim, design.zero_init_proj_out)
    return unet


# --------------------------------------------------------------------------- build / save / load
def adapter_config(unet2d: "UNet2DConditionModel", design: "MotionModuleParams") -> dict[str, Any]:
    """MotionAdapter config matching ``unet2d``'s widths and layers (what from_unet2d requires)."""
    layers = design.layers_per_block or unet2d.config.layers_per_block
    return dict(
        block_out_channels=tuple(unet2d.config.block_out_channels), motion_layers_per_block=layers,
        motion_num_attention_heads=design.num_attention_heads, motion_norm_num_groups=design.norm_num_groups,
        motion_max_seq_length=design.max_seq_length, use_motion_mid_block=design.use_mid_block,
    )


def build_motion_unet(unet2d: "UNet2DConditionModel", design: "MotionModuleParams", seed: int = 0) -> "UNetMotionModel":
    """A new motion module (seeded) on ``unet2d``; only motion-module parameters require grad."""
    from diffusers import MotionAdapter, UNetMotionModel

    torch.manual_seed(seed)
    adapter = MotionAdapter(**adapter_config(unet2d, design))
    unet = UNetMotionModel.from_unet2d(unet2d, adapter)
    apply_design(unet, design)
    unet.freeze_unet2d_params()
    return unet


def motion_state_dict(unet: nn.Module) -> dict[str, torch.Tensor]:
    """Motion-module tensors of a UNetMotionModel (its key names), without the fixed ``pos_embed.pe``."""
    return {k: v.detach().cpu().contiguous() for k, v in unet.state_dict().items()
            if MOTION_KEY in k and not k.endswith("pos_embed.pe")}


def to_motion_adapter(unet: "UNetMotionModel", unet2d_config: dict, design: "MotionModuleParams") -> "MotionAdapter":
    """A diffusers MotionAdapter holding ``unet``'s motion modules (standard designs only)."""
    from diffusers import MotionAdapter

    if not is_standard(design):
        raise ValueError(f"design {design.temporal}/text_cross_attention={design.text_cross_attention} "
                         "is not a diffusers MotionAdapter")
    cfg = adapter_config(_Cfg(unet2d_config), design)
    adapter = MotionAdapter(**cfg)
    missing, unexpected = adapter.load_state_dict(motion_state_dict(unet), strict=False)
    if unexpected or [k for k in missing if not k.endswith("pos_embed.pe")]:
        raise RuntimeError(f"motion state does not fit MotionAdapter: missing {missing[:3]} unexpected {unexpected[:3]}")
    return adapter


class _Cfg:
    """Wrap a plain config dict so :func:`adapter_config` reads it like a model."""

    def __init__(self, config: dict) -> None:
        self.config = type("C", (), config)


def save_motion(unet: "UNetMotionModel", design: "MotionModuleParams", out_dir: str | Path,
                official: bool = True, extra: dict | None = None) -> Path:
    """Write a run: MotionAdapter folder (+ official-layout file) for standard designs, custom
    weights otherwise, and ``motion_design.json`` always."""
    from safetensors.torch import save_file

    from animatelab.models.official_format import OFFICIAL_FILE, save_official

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    unet2d_cfg = {"block_out_channels": list(unet.config.block_out_channels),
                  "layers_per_block": unet.config.layers_per_block}
    if is_standard(design):
        adapter = to_motion_adapter(unet, unet2d_cfg, design)
        adapter.save_pretrained(out, safe_serialization=True)
        if official:
            save_official(adapter, out / OFFICIAL_FILE)
    else:
        save_file(motion_state_dict(unet), str(out / CUSTOM_WEIGHTS))
    info = {"design": design.model_dump(mode="json"), "unet2d": unet2d_cfg,
            "diffusers_motion_adapter": is_standard(design), **(extra or {})}
    (out / DESIGN_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    (out / MODEL_CARD).write_text(model_card(design, unet2d_cfg, is_standard(design), out.name))
    return out


def model_card(design: "MotionModuleParams", unet2d: dict, standard: bool, name: str) -> str:
    """The export folder's README: what the files are and which loader computes what this repo computed.

    The loaders differ on the temporal GroupNorm: the official AnimateDiff code and
    ComfyUI-AnimateDiff-Evolved normalise each frame on its own; diffusers' ``MotionAdapter`` normalises
    over the whole clip and never reads ``motion_design.json``. Same weights, other outputs.
    """
    from animatelab.models.official_format import OFFICIAL_FILE

    norm = design.norm
    if not standard:
        loaders = ("Only `animatelab.models.motion.load_motion_unet(unet2d, folder)` rebuilds this design "
                   f"(temporal `{design.temporal}`, text cross-attention {design.text_cross_attention}); its weights "
                   f"are in `{CUSTOM_WEIGHTS}` so that a plain `MotionAdapter.from_pretrained` fails instead of "
                   "running another model.")
    elif norm == "per_frame":
        loaders = ("Trained with **per-frame** GroupNorm, as the official AnimateDiff code and "
                   f"ComfyUI-AnimateDiff-Evolved compute it: load `{OFFICIAL_FILE}` (or the `.ckpt`) there. Plain "
                   "diffusers (`MotionAdapter.from_pretrained(folder)`) builds whole-clip GroupNorm and computes other "
                   "outputs from these weights; `animatelab.models.motion.load_motion_unet` keeps the per-frame norm.")
    else:
        loaders = ("Trained with **whole-clip** GroupNorm, diffusers' own design: `MotionAdapter.from_pretrained(folder)` "
                   "with `UNetMotionModel.from_unet2d` computes what this repo computed. The official AnimateDiff code "
                   f"and ComfyUI-AnimateDiff-Evolved load `{OFFICIAL_FILE}` strictly but normalise each frame on its own, "
                   "so they compute other outputs from these weights.")
    files = ("`config.json` + `diffusion_pytorch_model.safetensors` (diffusers MotionAdapter), "
             f"`{OFFICIAL_FILE}` and `.ckpt` (official AnimateDiff key layout, with `pos_encoder.pe`)" if standard
             else f"`{CUSTOM_WEIGHTS}` (UNetMotionModel key names)")
    return (f"# Motion module `{name}`\n\n"
            f"Trained by animatelab on a frozen base UNet with block widths {unet2d['block_out_channels']} and "
            f"{unet2d['layers_per_block']} layer(s) per block: it fits that base only.\n\n"
            f"- Files: {files}; `{DESIGN_FILE}`: the design and how the run was trained.\n"
            f"- Design: temporal `{design.temporal}`, {design.num_attention_heads} heads, norm `{norm}`, "
            f"positional encoding length {design.max_seq_length}.\n"
            f"- Loaders: {loaders}\n")


def read_design(motion_dir: str | Path) -> "MotionModuleParams":
    from animatelab.config import MotionModuleParams

    path = Path(motion_dir) / DESIGN_FILE
    if not path.is_file():  # a plain diffusers MotionAdapter folder (e.g. a released one)
        cfg = json.loads((Path(motion_dir) / "config.json").read_text())
        return MotionModuleParams(num_attention_heads=cfg["motion_num_attention_heads"],
                                  norm_num_groups=cfg["motion_norm_num_groups"],
                                  max_seq_length=cfg["motion_max_seq_length"],
                                  layers_per_block=cfg["motion_layers_per_block"],
                                  use_mid_block=cfg["use_motion_mid_block"], zero_init_proj_out=False)
    return MotionModuleParams.model_validate(json.loads(path.read_text())["design"])


def load_motion_unet(unet2d: "UNet2DConditionModel", motion_dir: str | Path) -> "UNetMotionModel":
    """Rebuild a saved run of any design on ``unet2d`` (eval mode, frozen)."""
    from diffusers import MotionAdapter, UNetMotionModel
    from safetensors.torch import load_file

    motion_dir = Path(motion_dir)
    design = read_design(motion_dir)
    if is_standard(design):
        adapter = MotionAdapter.from_pretrained(motion_dir, local_files_only=True)
        unet = UNetMotionModel.from_unet2d(unet2d, adapter)
        apply_design(unet, design.model_copy(update={"zero_init_proj_out": False}))
    else:
        unet = build_motion_unet(unet2d, design)
        state = load_file(str(motion_dir / CUSTOM_WEIGHTS))
        missing, unexpected = unet.load_state_dict(state, strict=False)
        bad = [k for k in missing if MOTION_KEY in k and not k.endswith("pos_embed.pe")]
        if unexpected or bad:
            raise RuntimeError(f"{motion_dir}: weights do not fit the design: missing {bad[:3]} unexpected {unexpected[:3]}")
    return unet.eval().requires_grad_(False)
