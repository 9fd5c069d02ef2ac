"""The noise schedule: read from the base folder's ``scheduler/``, the one place it is written.

A local SD1.5 folder carries SD's schedule there (``scaled_linear`` betas); the tiny base trained by
``pretrain_base`` writes its own (``pretrain_base.noise``). AnimateDiff trains and samples its video
models on linear betas over SD's folder, so a study replaces only the keys it varies
(``base.scheduler_overrides``: ``{}`` in the default, ``{beta_schedule: linear}`` on SD1.5).
Training (``add_noise``, DDPM) and sampling (DDIM) read the same config, so they cannot disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diffusers import DDIMScheduler, DDPMScheduler

    from animatelab.schema.base import NoiseScheduleParams
    from animatelab.schema.models import BaseModelParams

# The official AnimateDiff / SD inference settings every DDIM here uses (a base folder's PNDM or DDIM
# config already carries them; they are stated so that a folder without them samples the same way)
_DDIM_FIXED = {"clip_sample": False, "set_alpha_to_one": False, "steps_offset": 1}


def scheduler_config(noise: "NoiseScheduleParams") -> dict[str, Any]:
    """The config ``pretrain_base`` writes into the tiny base's ``scheduler/`` folder."""
    return {**noise.model_dump(), **_DDIM_FIXED, "timestep_spacing": "leading"}


def base_scheduler_config(base_path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The base folder's scheduler config with the study's overrides applied (plain JSON values)."""
    from diffusers import DDIMScheduler

    config = dict(DDIMScheduler.load_config(str(base_path), subfolder="scheduler", local_files_only=True))
    allowed = {"beta_schedule", "beta_start", "beta_end", "num_train_timesteps", "prediction_type",
               "rescale_betas_zero_snr"}  # named even where a folder's config (SD1.5's PNDM) lacks them
    unknown = set(overrides or {}) - set(config) - allowed
    if unknown:
        raise ValueError(f"base.scheduler_overrides: unknown scheduler keys {sorted(unknown)}")
    merged = {**config, **(overrides or {})}
    if merged.get("rescale_betas_zero_snr") and merged.get("prediction_type", "epsilon") != "v_prediction":
        # at zero terminal SNR the last timestep's input is pure noise: epsilon is then given, not predicted,
        # and DDIM divides by sqrt(alpha_bar) = 0 there (Lin et al. 2024 train these with v-prediction)
        raise ValueError("base.scheduler_overrides: rescale_betas_zero_snr needs "
                         "prediction_type: v_prediction")
    return merged


def training_scheduler(config: dict[str, Any]) -> "DDPMScheduler":
    """DDPM on ``config``: what trainers and probes use to noise latents (``add_noise``) and set targets."""
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_config({**config, "clip_sample": False})


def sampling_scheduler(config: dict[str, Any], timestep_spacing: str = "leading", sampler: str = "ddim"):
    """The inference scheduler on ``config``: DDIM with the official settings (``ddim``), or diffusers'
    DPM-Solver++ 2M (``dpmpp_2m``, second order: fewer steps for the same trajectory), both on the
    same betas and timestep spacing."""
    if sampler == "dpmpp_2m":
        from diffusers import DPMSolverMultistepScheduler

        return DPMSolverMultistepScheduler.from_config(
            {**config, "timestep_spacing": timestep_spacing, "steps_offset": 1},
            algorithm_type="dpmsolver++", solver_order=2, lower_order_final=True)
    if sampler != "ddim":
        raise ValueError(f"sampler must be ddim or dpmpp_2m, got {sampler!r}")
    from diffusers import DDIMScheduler

    return DDIMScheduler.from_config({**config, **_DDIM_FIXED, "timestep_spacing": timestep_spacing})


def study_schedule(base: "BaseModelParams") -> dict[str, Any]:
    """The schedule every video model of the study trains and samples on: ``base.path``'s, overridden
    (``base``: the ``base`` params group; the config is read here once, callers pass the dict on)."""
    return base_scheduler_config(base.path, base.scheduler_overrides)
