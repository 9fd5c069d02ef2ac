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
from tests.conftest import core_group


@pytest.fixture()
def folder(tmp_path):
    sampling_scheduler(scheduler_config(core_group("pretrain_base").noise)).save_pretrained(tmp_path / "scheduler")
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


def test_zero_terminal_snr_with_v_prediction_is_reachable_through_the_overrides(folder):
    """``base.scheduler_overrides: {rescale_betas_zero_snr: true, prediction_type: v_prediction}``: training
    noises the last timestep to pure noise and predicts v; sampling reads the same schedule."""
    from animatelab.train.diffusion import diffusion_target

    config = base_scheduler_config(folder, {"rescale_betas_zero_snr": True, "prediction_type": "v_prediction"})
    train = training_scheduler(config)
    assert train.config.rescale_betas_zero_snr and float(train.alphas_cumprod[-1]) < 1e-6
    assert float(training_scheduler(base_scheduler_config(folder)).alphas_cumprod[-1]) > 1e-3  # the default: not zero
    latents, noise = torch.randn(2, 3, 4, 8, 8), torch.randn(2, 3, 4, 8, 8)
    t = torch.tensor([999, 10])
    v = diffusion_target(train, latents, noise, t)
    assert torch.allclose(v[0], -latents[0], atol=1e-3)  # v = sqrt(a)·eps - sqrt(1-a)·x0 -> -x0 at zero SNR
    ddim = sampling_scheduler(config, "trailing")
    assert ddim.config.rescale_betas_zero_snr and ddim.config.prediction_type == "v_prediction"
    assert torch.equal(ddim.alphas_cumprod, train.alphas_cumprod)
    # an SD1.5-style folder whose scheduler config does not name the key accepts it too
    import json

    path = folder / "scheduler" / "scheduler_config.json"
    saved = json.loads(path.read_text())
    saved.pop("rescale_betas_zero_snr", None)
    path.write_text(json.dumps(saved))
    assert base_scheduler_config(folder, {"rescale_betas_zero_snr": True, "prediction_type": "v_prediction"})[
        "rescale_betas_zero_snr"] is True


def test_zero_terminal_snr_needs_v_prediction(folder):
    with pytest.raises(ValueError, match="v_prediction"):
        base_scheduler_config(folder, {"rescale_betas_zero_snr": True})
