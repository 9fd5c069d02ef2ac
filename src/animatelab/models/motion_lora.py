"""MotionLoRA: a peft LoRA on the motion modules' temporal attention only (never spatial attention).

Targets are full module names (a bare ``to_q`` would also hit the spatial attention), saved as a
diffusers LoRA file that ``AnimateDiffPipeline.load_lora_weights`` loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from torch import nn

if TYPE_CHECKING:
    from animatelab.config import LoraParams

ADAPTER_NAME = "motion_lora"
WEIGHT_NAME = "pytorch_lora_weights.safetensors"
PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0")


def temporal_attention_targets(unet: nn.Module) -> list[str]:
    """Full names of q/k/v/out of every attention inside a motion module."""
    from diffusers.models.attention_processor import Attention

    names = [f"{name}.{p}" for name, m in unet.named_modules()
             if isinstance(m, Attention) and ".motion_modules." in f".{name}" for p in PROJECTIONS]
    if not names:
        raise ValueError("no temporal attention found (MotionLoRA needs temporal: attention)")
    return names


def add_motion_lora(unet: nn.Module, lora: "LoraParams") -> nn.Module:
    """Freeze ``unet`` (a UNetMotionModel) and inject a trainable LoRA on its temporal attention."""
    from peft import LoraConfig

    unet.requires_grad_(False)
    config = LoraConfig(r=lora.rank, lora_alpha=lora.alpha or lora.rank, lora_dropout=lora.dropout,
                        init_lora_weights="gaussian", target_modules=temporal_attention_targets(unet))
    unet.add_adapter(config, adapter_name=ADAPTER_NAME)
    return unet


def save_motion_lora(unet: nn.Module, out_dir: str | Path) -> Path:
    """``pytorch_lora_weights.safetensors`` in diffusers' LoRA format, with its peft config as metadata."""
    from diffusers import AnimateDiffPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    state = get_peft_model_state_dict(unet, adapter_name=ADAPTER_NAME)
    config = unet.peft_config[ADAPTER_NAME].to_dict()
    config["target_modules"] = sorted(config["target_modules"])
    AnimateDiffPipeline.save_lora_weights(out_dir, unet_lora_layers=convert_state_dict_to_diffusers(state),
                                          weight_name=WEIGHT_NAME, unet_lora_adapter_metadata=config)
    return Path(out_dir) / WEIGHT_NAME
