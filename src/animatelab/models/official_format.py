"""The official AnimateDiff motion-module key layout (``mm_sd_v15*.ckpt`` / ``v3_sd15_mm.ckpt``).

Export is the inverse of diffusers' ``convert_animatediff_checkpoint_to_diffusers``, plus the
``pos_encoder.pe`` buffers that official files carry (tools read their length to tell v1 from
v2/v3). Import goes through diffusers' own conversion.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from diffusers import MotionAdapter

OFFICIAL_FILE = "motion_module_official.safetensors"

# diffusers name -> official name, applied to the part after ``motion_modules.{j}.``
_RENAMES = (
    (".norm1.", ".norms.0."),
    (".norm2.", ".norms.1."),
    (".norm3.", ".ff_norm."),
    (".attn1.", ".attention_blocks.0."),
    (".attn2.", ".attention_blocks.1."),
)


def _official_key(key: str) -> str:
    head, sep, tail = key.partition("motion_modules.")
    index, _, rest = tail.partition(".")
    rest = "." + rest
    if rest.startswith(".transformer_blocks."):
        for old, new in _RENAMES:
            rest = rest.replace(old, new)
    return f"{head}{sep}{index}.temporal_transformer{rest}"


def to_official_state_dict(adapter: "MotionAdapter") -> dict[str, torch.Tensor]:
    """Official-layout tensors of a diffusers ``MotionAdapter``, including ``pos_encoder.pe``."""
    out: dict[str, torch.Tensor] = {}
    for key, value in adapter.state_dict().items():
        if key.endswith(".pos_embed.pe"):  # one per block in diffusers, one per attention officially
            block = _official_key(key.removesuffix(".pos_embed.pe") + ".x").removesuffix(".x")
            for i in (0, 1):
                out[f"{block}.attention_blocks.{i}.pos_encoder.pe"] = value.detach().cpu().clone()
            continue
        out[_official_key(key)] = value.detach().cpu().contiguous()
    return out


def save_official(adapter: "MotionAdapter", path: str | Path) -> Path:
    """The official key layout as safetensors, and as a ``.ckpt`` beside it: the official repository
    reads motion modules with ``torch.load``, which under its pinned torch cannot read safetensors.
    The ``.ckpt`` holds plain tensors only (no code), so ``torch.load(..., weights_only=True)`` reads it."""
    from safetensors.torch import save_file

    from animatelab.outputs import canonical_safetensors

    path = Path(path)
    state = to_official_state_dict(adapter)
    save_file(state, str(path), metadata={"format": "pt", "layout": "animatediff"})
    canonical_safetensors(path)
    torch.save(state, path.with_suffix(".ckpt"))
    return path


def from_official_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """diffusers-layout tensors of an official file (diffusers' own conversion; drops ``pos_encoder``)."""
    from diffusers.loaders.single_file_utils import convert_animatediff_checkpoint_to_diffusers

    return convert_animatediff_checkpoint_to_diffusers(state)


def load_official(path: str | Path, config_dir: str | Path) -> "MotionAdapter":
    """An official-layout file as a diffusers ``MotionAdapter``, configured from a local folder
    (offline, ``from_single_file`` would otherwise reach for a hub config)."""
    from diffusers import MotionAdapter

    return MotionAdapter.from_single_file(str(path), config=str(config_dir), local_files_only=True)
