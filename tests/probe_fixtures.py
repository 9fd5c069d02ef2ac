"""Tiny random models and encoded clips on disk, laid out as CONTRACTS.md says (probe tests)."""

from __future__ import annotations

import json
from pathlib import Path

import torch


def tiny_unet():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16, attention_head_dim=8, norm_num_groups=32,
    )


def tiny_adapter(seed: int, zero_out: bool = False):
    """A random MotionAdapter; ``zero_out`` zeroes each module's output projection (the official
    initialisation, where every module starts as the identity; diffusers' own init is random)."""
    from diffusers import MotionAdapter

    torch.manual_seed(seed)
    adapter = MotionAdapter(
        block_out_channels=(32, 64), motion_layers_per_block=1, motion_num_attention_heads=2,
        motion_norm_num_groups=32, motion_max_seq_length=16, use_motion_mid_block=False,
    )
    if zero_out:
        for name, p in adapter.named_parameters():
            if ".proj_out." in name:
                torch.nn.init.zeros_(p)
    return adapter


def write_world(root: Path, runs: dict[str, int], frames: int = 8, clips: int = 6, checkpoints: bool = True) -> None:
    """``models/base`` (a whole tiny SD folder), ``models/motion/{run}`` (+ weights-only snapshots at
    steps 2 and 4 in ``{run}/snapshots``, as ``train_motion`` writes them), ``data/encoded/heldout``."""
    from safetensors.torch import save_file

    from tests.tiny_fixtures import save_tiny_base

    torch.manual_seed(0)
    save_tiny_base(root / "models/base", unet_block_out_channels=[32, 64], unet_attention_heads=2, text_hidden_size=16)
    for run, seed in runs.items():
        tiny_adapter(seed).save_pretrained(root / "models/motion" / run)
        if checkpoints:
            for step in (2, 4):
                snap = root / f"models/motion/{run}/snapshots/step_{step:06d}"
                snap.mkdir(parents=True)
                weights = {k: v for k, v in tiny_adapter(seed + step).state_dict().items() if "motion_modules." in k}
                save_file(weights, str(snap / "trainable.safetensors"))
                (snap / "state.json").write_text(json.dumps({"step": step, "fingerprint": run}))
    g = torch.Generator().manual_seed(1)
    enc = root / "data/encoded/heldout"
    enc.mkdir(parents=True, exist_ok=True)
    save_file(
        {"latents": torch.randn(clips, frames, 4, 8, 8, generator=g), "text": torch.randn(clips, 5, 16, generator=g)},
        str(enc / "shard-00000.safetensors"),
    )


def write_domain_adapter(root: Path, seed: int = 0) -> Path:
    """``models/domain_adapter/pytorch_lora_weights.safetensors`` for the base ``write_world`` saved: a
    rank-2 LoRA with random (non-zero) up projections, so merging it changes the base."""
    from animatelab.config import LoraParams
    from animatelab.models.base import load_base
    from animatelab.train.adapter import add_domain_adapter, save_domain_adapter

    unet = add_domain_adapter(load_base(root / "models/base").unet, LoraParams(rank=2), seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if "lora_B" in name:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    save_domain_adapter(unet, root / "models/domain_adapter")
    return root / "models/domain_adapter/pytorch_lora_weights.safetensors"
