"""MotionLoRA: a peft LoRA on the motion modules' temporal attention only (never spatial attention).

Targets are full module names (a bare ``to_q`` would also hit the spatial attention), saved as a
diffusers LoRA file that ``AnimateDiffPipeline.load_lora_weights`` loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from torch import nn

from animatelab.models.lora import WEIGHT_NAME, add_lora, attention_targets, save_lora  # noqa: F401

if TYPE_CHECKING:
    from animatelab.config import LoraParams

ADAPTER_NAME = "motion_lora"


def temporal_attention_targets(unet: nn.Module) -> list[str]:
    """Full names of q/k/v/out of every attention inside a motion module."""
    return attention_targets(unet, "temporal")


def add_motion_lora(unet: nn.Module, lora: "LoraParams", seed: int = 0) -> nn.Module:
    """Freeze ``unet`` (a UNetMotionModel) and inject a trainable, seeded LoRA on its temporal attention."""
    return add_lora(unet, lora, temporal_attention_targets(unet), ADAPTER_NAME, seed)


def save_motion_lora(unet: nn.Module, out_dir: str | Path) -> Path:
    """``pytorch_lora_weights.safetensors``: ``AnimateDiffPipeline.load_lora_weights`` loads it."""
    return save_lora(unet, out_dir, ADAPTER_NAME)
