"""The domain adapter: a peft LoRA on the base UNet's *spatial* attention (q/k/v/out of the
self- and cross-attentions; the paper's) and, as an option, its ResNet convs, saved as a diffusers
LoRA file (``load_lora_weights`` loads it).

Target modules are resolved to full module names on the UNet, never by bare suffixes such as
``to_q``: on a ``UNetMotionModel`` those would also hit the motion modules' attention.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from animatelab.models.assemble import ADAPTER_NAME, merge_adapter  # noqa: F401
from animatelab.models.lora import (  # noqa: F401
    WEIGHT_NAME,
    add_lora,
    attention_targets,
    merge_lora,
    resnet_conv_targets,
    save_lora,
)

if TYPE_CHECKING:
    from animatelab.config import LoraParams, TrainAdapterParams
    from animatelab.train.randomness import StepRandom


def spatial_attention_targets(unet: nn.Module) -> list[str]:
    """Full names of q/k/v/out of every spatial ``attn1``/``attn2`` (skips motion modules)."""
    return attention_targets(unet, "spatial")


def domain_adapter_targets(unet: nn.Module, kinds: Sequence[str] = ("attention",)) -> list[str]:
    """Full names of the spatial modules that ``kinds`` (``train_adapter.targets``, validated there) select."""
    by_kind = {"attention": spatial_attention_targets, "resnet_conv": resnet_conv_targets}
    return [name for kind in kinds for name in by_kind[kind](unet)]


def add_domain_adapter(unet: nn.Module, lora: "LoraParams", seed: int = 0,
                       targets: Sequence[str] = ("attention",)) -> nn.Module:
    """Freeze ``unet`` and inject a trainable, seeded LoRA on the spatial layers ``targets`` selects (in place)."""
    return add_lora(unet, lora, domain_adapter_targets(unet, targets), ADAPTER_NAME, seed)


def save_domain_adapter(unet: nn.Module, out_dir: str | Path) -> Path:
    return save_lora(unet, out_dir, ADAPTER_NAME)


def apply_domain_adapter(unet: nn.Module, adapter_dir: str | Path, scale: float = 1.0) -> nn.Module:
    """Merge the domain adapter into ``unet`` (UNet2DConditionModel or UNetMotionModel) at ``scale``
    (:func:`animatelab.models.assemble.merge_adapter`, which every assembly goes through)."""
    return merge_adapter(unet, adapter_dir, scale)


def train_domain_adapter(base_path: str | Path, encoded_dir: str | Path, p: "TrainAdapterParams",
                         scheduler_overrides: dict[str, Any] | None = None):
    """Train the adapter on single frames of the encoded clips; everything else frozen.
    Returns ``(FitResult, path of the LoRA file)``; ``loss.csv`` lands next to it."""
    from animatelab.data.latents import EncodedFrames
    from animatelab.models.base import load_base
    from animatelab.train.checkpoint import params_fingerprint
    from animatelab.train.diffusion import (
        add_noise_one_timestep_per_video,
        diffusion_loss,
        diffusion_target,
        drop_captions,
    )
    from animatelab.models.scheduler import base_scheduler_config, training_scheduler
    from animatelab.train.loop import fit, get_accelerator

    device = get_accelerator(p.loop).device
    base = load_base(base_path, device=device)
    unet = add_domain_adapter(base.unet, p.lora, seed=p.loop.seed, targets=p.targets)
    data = EncodedFrames(encoded_dir)
    schedule = base_scheduler_config(base_path, scheduler_overrides)
    scheduler = training_scheduler(schedule)
    empty = data.empty_text.to(device)

    def loss_fn(batch: dict, rng: "StepRandom") -> torch.Tensor:
        text = drop_captions(batch["text"], empty, p.loop.cfg_dropout, rng)
        noisy, noise, t = add_noise_one_timestep_per_video(scheduler, batch["latents"], rng)
        pred = unet(noisy, t, text).sample
        return diffusion_loss(pred, diffusion_target(scheduler, batch["latents"], noise, t))

    out = Path(p.out_dir)
    fingerprint = params_fingerprint(p.model_dump(exclude={"threads", "out_dir"}), schedule, str(base_path), str(encoded_dir))
    result = fit(trainable=unet, compute_loss=loss_fn, dataset=data, loop=p.loop, checkpoint_dir=p.checkpoint_dir,
                 fingerprint=fingerprint, run_name="domain_adapter", loss_csv=out / "loss.csv",
                 component=None)
    return result, save_domain_adapter(unet, out)
