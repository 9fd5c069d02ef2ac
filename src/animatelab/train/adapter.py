"""The domain adapter: a peft LoRA on the base UNet's *spatial* attention (q/k/v/out of the
self- and cross-attentions), saved as a diffusers LoRA file (``load_lora_weights`` loads it).

Target modules are resolved to full module names on the UNet, never by bare suffixes such as
``to_q``: on a ``UNetMotionModel`` those would also hit the motion modules' attention.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from animatelab.config import LoraParams, TrainAdapterParams
    from animatelab.train.loop import StepRandom

ADAPTER_NAME = "domain_adapter"
WEIGHT_NAME = "pytorch_lora_weights.safetensors"
PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0")


def spatial_attention_targets(unet: nn.Module) -> list[str]:
    """Full names of q/k/v/out of every spatial ``attn1``/``attn2`` (skips motion modules)."""
    from diffusers.models.attention_processor import Attention

    names = []
    for name, module in unet.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if isinstance(module, Attention) and leaf in ("attn1", "attn2") and "motion_modules" not in name \
                and ".attentions." in f".{name}":
            names.extend(f"{name}.{p}" for p in PROJECTIONS)
    if not names:
        raise ValueError("no spatial attention found in the UNet")
    return names


def lora_config(lora: "LoraParams", targets: list[str]):
    from peft import LoraConfig

    return LoraConfig(r=lora.rank, lora_alpha=lora.alpha or lora.rank, lora_dropout=lora.dropout,
                      init_lora_weights="gaussian", target_modules=targets)


def add_domain_adapter(unet: nn.Module, lora: "LoraParams") -> nn.Module:
    """Freeze ``unet`` and inject a trainable LoRA on its spatial attention (in place)."""
    unet.requires_grad_(False)
    unet.add_adapter(lora_config(lora, spatial_attention_targets(unet)), adapter_name=ADAPTER_NAME)
    return unet


def save_domain_adapter(unet: nn.Module, out_dir: str | Path) -> Path:
    """Write ``pytorch_lora_weights.safetensors`` in diffusers' SD LoRA format (with its peft config)."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    state = get_peft_model_state_dict(unet, adapter_name=ADAPTER_NAME)
    config = unet.peft_config[ADAPTER_NAME].to_dict()
    config["target_modules"] = sorted(config["target_modules"])
    StableDiffusionPipeline.save_lora_weights(
        out_dir, unet_lora_layers=convert_state_dict_to_diffusers(state), weight_name=WEIGHT_NAME,
        unet_lora_adapter_metadata=config,
    )
    return Path(out_dir) / WEIGHT_NAME


def apply_domain_adapter(unet: nn.Module, adapter_dir: str | Path, scale: float = 1.0) -> nn.Module:
    """Merge the domain adapter into ``unet`` (UNet2DConditionModel or UNetMotionModel) as
    W += scale * (alpha / r) * up @ down, then drop the LoRA layers, leaving a plain UNet.
    Loading goes through diffusers' own LoRA loader (as ``load_lora_weights`` does).
    ``scale == 0`` leaves the UNet untouched."""
    from diffusers import StableDiffusionPipeline

    if scale == 0:
        return unet
    path = Path(adapter_dir)
    folder = path.parent if path.is_file() else path
    state, alphas, meta = StableDiffusionPipeline.lora_state_dict(str(folder), weight_name=WEIGHT_NAME,
                                                                  return_lora_metadata=True)
    StableDiffusionPipeline.load_lora_into_unet(state, alphas, unet, adapter_name=ADAPTER_NAME, metadata=meta)
    unet.fuse_lora(lora_scale=scale, adapter_names=[ADAPTER_NAME])
    unet.unload_lora()
    return unet


def train_domain_adapter(base_path: str | Path, encoded_dir: str | Path, p: "TrainAdapterParams"):
    """Train the adapter on single frames of the encoded clips; everything else frozen.
    Returns ``(FitResult, path of the LoRA file)``; ``loss.csv`` lands next to it."""
    from animatelab.data.latents import EncodedFrames
    from animatelab.models.base import load_base
    from animatelab.train.checkpoint import params_fingerprint
    from animatelab.train.diffusion import (
        add_noise_one_timestep_per_video, diffusion_loss, diffusion_target, drop_captions, make_noise_scheduler,
    )
    from animatelab.train.loop import fit, get_accelerator

    device = get_accelerator(p.loop).device
    base = load_base(base_path, device=device)
    unet = add_domain_adapter(base.unet, p.lora)
    data = EncodedFrames(encoded_dir)
    scheduler = make_noise_scheduler(p.noise)
    empty = data.empty_text.to(device)

    def loss_fn(batch: dict, rng: "StepRandom") -> torch.Tensor:
        text = drop_captions(batch["text"], empty, p.loop.cfg_dropout, rng)
        noisy, noise, t = add_noise_one_timestep_per_video(scheduler, batch["latents"], rng)
        pred = unet(noisy, t, text).sample
        return diffusion_loss(pred, diffusion_target(scheduler, batch["latents"], noise, t))

    out = Path(p.out_dir)
    fingerprint = params_fingerprint(p.model_dump(exclude={"threads", "out_dir"}), str(base_path), str(encoded_dir))
    result = fit(trainable=unet, compute_loss=loss_fn, dataset=data, loop=p.loop, checkpoint_dir=p.checkpoint_dir,
                 fingerprint=fingerprint, run_name="domain_adapter", loss_csv=out / "loss.csv",
                 metric_key="train/loss")
    return result, save_domain_adapter(unet, out)
