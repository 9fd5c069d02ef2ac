"""The diffusion training objective of the official AnimateDiff trainer.

Linear betas 0.00085 -> 0.012 over 1000 steps, epsilon prediction, one timestep per video,
captions replaced by "" with probability ``cfg_dropout`` (classifier-free guidance).
All randomness comes from the loop's :class:`~animatelab.train.randomness.StepRandom`, so a resumed run
is bit-exact and the noise of a clip does not depend on the number of processes. A study can bias the
timesteps toward high noise and correlate the noise across frames (``ObjectiveParams``); the default
draws what the official trainer draws.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from diffusers import DDPMScheduler

    from animatelab.schema.base import ObjectiveParams
    from animatelab.train.randomness import StepRandom


def drop_captions(text: torch.Tensor, empty_text: torch.Tensor, p: float, rng: "StepRandom") -> torch.Tensor:
    """Replace each sample's text embedding (B, L, D) by the "" embedding (L, D) with probability p."""
    if p <= 0:
        return text
    drop = rng.rand(text.shape[0]) < p
    drop = drop.to(text.device).view(-1, *([1] * (text.dim() - 1)))
    return torch.where(drop, empty_text.to(text).expand_as(text), text)


def sample_timesteps(rng: "StepRandom", num_train_timesteps: int, n: int,
                     objective: "ObjectiveParams | None" = None) -> torch.Tensor:
    """(n,) int64 timesteps: uniform (one ``randint`` draw, the official trainer's), or, under
    ``timestep_sampling: high_noise``, ``min(T - 1, floor(T·(1 - u^k)))`` from one ``rand`` draw u."""
    if objective is None or objective.timestep_sampling == "uniform":
        return rng.randint(num_train_timesteps, n)
    u = rng.rand(n).double()
    t = torch.floor(num_train_timesteps * (1.0 - u ** objective.timestep_bias)).long()
    return t.clamp_(0, num_train_timesteps - 1)


def mix_noise(independent: torch.Tensor, shared: torch.Tensor, alpha: float) -> torch.Tensor:
    """PYoCo's mixed prior: ``sqrt(a/(1+a))·shared + sqrt(1/(1+a))·independent`` (``shared`` broadcast
    over the frame axis): unit variance, correlation a/(1+a) between frames when both are unit normal."""
    return (alpha / (1 + alpha)) ** 0.5 * shared + (1 / (1 + alpha)) ** 0.5 * independent


def add_noise_one_timestep_per_video(
    scheduler: "DDPMScheduler", latents: torch.Tensor, rng: "StepRandom",
    objective: "ObjectiveParams | None" = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Noise image latents (B, C, h, w) or video latents (B, F, C, h, w) at one timestep per sample.

    Returns ``(noisy, noise, timesteps)``; timesteps has shape (B,) (repeat per frame for a 2-D UNet).
    ``objective`` (None: the official one) picks the timestep distribution and the noise prior
    (``ObjectiveParams``); the default draws exactly ``randn`` then ``randint``, as always, and the
    others draw after them (the mixed prior's shared noise, (B, 1, C, h, w), comes last).
    """
    b = latents.shape[0]
    noise = rng.randn(latents.shape).to(latents)
    t = sample_timesteps(rng, scheduler.config.num_train_timesteps, b, objective).to(latents.device)
    if objective is not None and objective.noise_prior == "mixed":
        if latents.dim() != 5:
            raise ValueError("noise_prior: mixed needs video latents (B, F, C, h, w)")
        shared = rng.randn((b, 1, *latents.shape[2:])).to(latents)
        noise = mix_noise(noise, shared, objective.noise_alpha)
    return noise_at(scheduler, latents, noise, t), noise, t


def noise_at(scheduler: "DDPMScheduler", latents: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``latents`` noised with ``noise`` at timesteps ``t`` (B,): images (B, C, h, w), or videos
    (B, F, C, h, w) at one timestep for every frame of a video."""
    if latents.dim() == 5:
        flat = lambda x: x.flatten(0, 1)  # noqa: E731
        noisy = scheduler.add_noise(flat(latents), flat(noise), t.repeat_interleave(latents.shape[1]))
        return noisy.view_as(latents)
    return scheduler.add_noise(latents, noise, t)


def diffusion_target(scheduler: "DDPMScheduler", latents: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """What the model predicts: the noise (epsilon) or the velocity (v-prediction)."""
    if scheduler.config.prediction_type == "epsilon":
        return noise
    if latents.dim() == 5:
        v = scheduler.get_velocity(latents.flatten(0, 1), noise.flatten(0, 1), t.repeat_interleave(latents.shape[1]))
        return v.view_as(latents)
    return scheduler.get_velocity(latents, noise, t)


def diffusion_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error in float32 (as the official trainer, also under fp16 autocast)."""
    return F.mse_loss(pred.float(), target.float(), reduction="mean")
