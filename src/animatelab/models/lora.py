"""The one LoRA recipe (peft config, add, save, merge) for the domain adapter and the MotionLoRAs.

The two differ only in where the LoRA goes: the domain adapter on the base's *spatial* layers
(q/k/v/out of every ``attn1``/``attn2``, optionally the ResNet convs), a MotionLoRA on the motion
modules' *temporal* attention. Targets are resolved to full module names, never bare suffixes such as
``to_q``: on a ``UNetMotionModel`` a suffix would hit both kinds of attention.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
from torch import nn

if TYPE_CHECKING:
    from animatelab.config import LoraParams

WEIGHT_NAME = "pytorch_lora_weights.safetensors"
PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0")
Where = Literal["spatial", "temporal"]


def attention_targets(unet: nn.Module, where: Where) -> list[str]:
    """Full names of q/k/v/out of every spatial attention (skipping motion modules) or every
    attention inside a motion module."""
    from diffusers.models.attention_processor import Attention

    names = []
    for name, module in unet.named_modules():
        if not isinstance(module, Attention):
            continue
        temporal = ".motion_modules." in f".{name}"
        spatial = not temporal and name.rsplit(".", 1)[-1] in ("attn1", "attn2") and ".attentions." in f".{name}"
        if (where == "temporal" and temporal) or (where == "spatial" and spatial):
            names.extend(f"{name}.{p}" for p in PROJECTIONS)
    if not names:
        raise ValueError(f"no {where} attention found in the UNet"
                         + (" (MotionLoRA needs temporal: attention)" if where == "temporal" else ""))
    return names


def resnet_conv_targets(unet: nn.Module) -> list[str]:
    """Full names of the 3x3 ``conv1``/``conv2`` of every spatial ResNet block (down, mid and up)."""
    names = [name for name, module in unet.named_modules()
             if isinstance(module, nn.Conv2d) and ".resnets." in f".{name}"
             and name.rsplit(".", 1)[-1] in ("conv1", "conv2") and ".motion_modules." not in f".{name}"]
    if not names:
        raise ValueError("no ResNet conv1/conv2 found in the UNet")
    return names


def saved_lora_modules(lora_path: str | Path) -> list[str]:
    """Names (in the UNet, no ``unet.`` prefix) of the modules a saved LoRA file changes when merged:
    what a caller must snapshot to undo a merge, read from the file rather than assumed."""
    from safetensors import safe_open

    path = Path(lora_path)
    path = path / WEIGHT_NAME if path.is_dir() else path
    with safe_open(str(path), framework="pt") as f:
        keys = list(f.keys())
    names = {k.removeprefix("unet.").split(".lora")[0] for k in keys if ".lora" in k}
    return sorted(names)


def lora_config(lora: "LoraParams", targets: list[str]):
    from peft import LoraConfig

    return LoraConfig(r=lora.rank, lora_alpha=lora.alpha or lora.rank, lora_dropout=lora.dropout,
                      init_lora_weights="gaussian", target_modules=targets)


def add_lora(unet: nn.Module, lora: "LoraParams", targets: list[str], adapter_name: str, seed: int) -> nn.Module:
    """Freeze ``unet`` and inject a trainable LoRA on the modules ``targets`` (full names; in place).

    peft draws the LoRA's initial weights from torch's global generator, so it is seeded here:
    without it two runs of the same params started from different weights."""
    unet.requires_grad_(False)
    torch.manual_seed(seed)
    unet.add_adapter(lora_config(lora, targets), adapter_name=adapter_name)
    return unet


def save_lora(unet: nn.Module, out_dir: str | Path, adapter_name: str) -> Path:
    """``pytorch_lora_weights.safetensors`` in diffusers' LoRA format with its peft config as metadata
    (``load_lora_weights`` of an SD or AnimateDiff pipeline loads it), the header in a canonical order
    so that equal weights give equal bytes."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    from animatelab.outputs import canonical_safetensors

    state = get_peft_model_state_dict(unet, adapter_name=adapter_name)
    config = unet.peft_config[adapter_name].to_dict()
    config["target_modules"] = sorted(config["target_modules"])
    StableDiffusionPipeline.save_lora_weights(out_dir, unet_lora_layers=convert_state_dict_to_diffusers(state),
                                              weight_name=WEIGHT_NAME, unet_lora_adapter_metadata=config)
    return canonical_safetensors(Path(out_dir) / WEIGHT_NAME)


def merge_lora(unet: nn.Module, lora_path: str | Path, scale: float, adapter_name: str) -> nn.Module:
    """Merge a saved LoRA into ``unet`` as W += scale * (alpha / r) * up @ down and drop the LoRA
    layers, leaving a plain UNet (loaded through diffusers' own LoRA loader, as ``load_lora_weights``).
    ``scale == 0`` leaves the UNet untouched."""
    from diffusers import StableDiffusionPipeline

    if scale == 0:
        return unet
    path = Path(lora_path)
    folder = path.parent if path.is_file() else path
    state, alphas, meta = StableDiffusionPipeline.lora_state_dict(str(folder), weight_name=WEIGHT_NAME,
                                                                  return_lora_metadata=True)
    StableDiffusionPipeline.load_lora_into_unet(state, alphas, unet, adapter_name=adapter_name, metadata=meta)
    unet.fuse_lora(lora_scale=scale, adapter_names=[adapter_name])
    unet.unload_lora()
    return unet
