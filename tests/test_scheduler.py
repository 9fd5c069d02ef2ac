"""One noise schedule per study: the base folder's scheduler/ config, overridden only where params say."""

from __future__ import annotations

import pytest
import torch

from animatelab.models.scheduler import (
    base_scheduler_config,
    sampling_scheduler,
    scheduler_config,
    training_scheduler,
)
from animatelab.schema.base import NoiseScheduleParams


@pytest.fixture()
def folder(tmp_path):
    sampling_scheduler(scheduler_config(NoiseScheduleParams())).save_pretrained(tmp_path / "scheduler")
    return tmp_path


def test_training_and_sampling_read_the_schedule_the_base_folder_holds(folder):
    from diffusers import DDIMScheduler, DDPMScheduler

    config = base_scheduler_config(folder)
    official = DDPMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="linear")
    assert torch.equal(training_scheduler(config).alphas_cumprod, official.alphas_cumprod)
    ddim = sampling_scheduler(config, "leading")
    ref = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="linear", steps_offset=1,
                        clip_sample=False, set_alpha_to_one=False, timestep_spacing="leading")
    ddim.set_timesteps(15)
    ref.set_timesteps(15)
    assert torch.equal(ddim.timesteps, ref.timesteps)
    assert torch.equal(ddim.alphas_cumprod, training_scheduler(config).alphas_cumprod)


def test_overrides_replace_only_their_keys(folder):
    config = base_scheduler_config(folder, {"beta_schedule": "scaled_linear"})
    assert config["beta_schedule"] == "scaled_linear" and config["beta_end"] == 0.012
    plain = training_scheduler(base_scheduler_config(folder))
    assert not torch.equal(training_scheduler(config).alphas_cumprod, plain.alphas_cumprod)


def test_unknown_override_is_rejected(folder):
    with pytest.raises(ValueError, match="scheduler_overrides"):
        base_scheduler_config(folder, {"beta_shedule": "linear"})
