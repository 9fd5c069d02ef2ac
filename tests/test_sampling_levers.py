"""Sampling levers on a tiny AnimateDiffPipeline: FreeInit (``sample.free_init``) and the mixed noise prior
(``sample.noise_prior``). Off (the defaults), the pipeline draws and returns exactly what it did before."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from animatelab.config import ParamsError, parse_params
from tests.probe_fixtures import write_world

PROMPTS = ["a red circle moving left on a black background", "a blue square growing on a gray background"]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("levers_world")
    write_world(root, {"r": 0}, checkpoints=False)  # a random (non-zero) motion module: frames interact
    return root


def _params(root: Path, **sample):
    from tests.conftest import micro_params

    data = micro_params()
    data["base"] = {**data["base"], "path": str(root / "models/base")}
    data["train_motion"] = {**data["train_motion"], "out_dir": str(root / "models/motion")}
    data["sample"] = {**data["sample"], "frames": 8, "num_inference_steps": 3, "batch_size": 2, **sample}
    return parse_params(data)


def _latents(root: Path, **sample) -> torch.Tensor:
    from animatelab.sampling import SampleRun, build_pipeline, denoise

    from animatelab.sampling import noise_prior_for
    from animatelab.stages.sample import study_models

    params = _params(root, **sample)
    pipe = build_pipeline(study_models(params), params.sample, params.train_motion.out_dir, SampleRun("r", "r"), 0.0)
    return torch.cat(denoise(pipe, PROMPTS, params.sample, 0, noise_prior_for(params.sample)))


def _before(root: Path) -> torch.Tensor:
    """The pipeline as ``build_pipeline`` built it before the levers (no FreeInit, no latents passed)."""
    from animatelab.models.assemble import motion_unet, pipeline
    from animatelab.models.base import load_base
    from animatelab.models.scheduler import study_schedule
    from animatelab.sampling import inference_scheduler

    params = _params(root)
    s = params.sample
    base = load_base(params.base.path)
    unet = motion_unet(base.unet, root / "models/motion/r", None, 0.0)
    pipe = pipeline(base, unet, inference_scheduler(study_schedule(params.base), s))
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    gens = [torch.Generator().manual_seed(j) for j in range(len(PROMPTS))]
    with torch.inference_mode():
        return pipe(prompt=PROMPTS, num_frames=s.frames, height=size, width=size, num_inference_steps=s.num_inference_steps,
                    guidance_scale=s.guidance_scale, generator=gens, output_type="latent").frames


def test_levers_off_leave_the_samples_byte_identical(root):
    default = _latents(root)
    assert torch.equal(default, _before(root))
    assert torch.equal(default, _latents(root, free_init=None, noise_prior="independent"))


def test_free_init_changes_the_samples(root):
    default = _latents(root)
    two = _latents(root, free_init={"num_iters": 2})
    assert two.shape == default.shape and torch.isfinite(two).all()
    assert not torch.equal(two, default) and (two - default).abs().max() > 1e-3
    assert torch.equal(two, _latents(root, free_init={"num_iters": 2}))  # still a function of the seeds
    # one iteration is plain sampling: FreeInit's first pass is the ordinary one
    assert torch.allclose(_latents(root, free_init={"num_iters": 1}), default, atol=1e-6)


def test_mixed_prior_initial_latents(root):
    from animatelab.sampling import SampleRun, build_pipeline, initial_latents
    from animatelab.stages.sample import study_models

    params = _params(root)
    pipe = build_pipeline(study_models(params), params.sample, params.train_motion.out_dir, SampleRun("r", "r"), 0.0)
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    gens = lambda: [torch.Generator().manual_seed(j) for j in range(2)]  # noqa: E731
    assert initial_latents(pipe, gens(), 8, size, "independent", 1.0) is None
    c, h = pipe.unet.config.in_channels, size // pipe.vae_scale_factor
    own = pipe.prepare_latents(2, c, 8, size, size, torch.float32, torch.device("cpu"), gens())
    # a vanishing alpha leaves the pipeline's own per-video draw: the independent part is that draw
    nearly = initial_latents(pipe, gens(), 8, size, "mixed", 1e-12)
    assert nearly.shape == own.shape == (2, c, 8, h, h) and torch.allclose(nearly, own, atol=1e-5)
    mixed = initial_latents(pipe, gens(), 8, size, "mixed", 1.0)
    x = mixed.transpose(1, 2).transpose(0, 1).reshape(8, -1)  # (F, everything else)
    corr = (x @ x.T / x.shape[1])[~torch.eye(8, dtype=torch.bool)].mean()
    assert float(corr) == pytest.approx(0.5, abs=0.15)
    assert not torch.equal(_latents(root, noise_prior="mixed"), _latents(root))


@pytest.mark.parametrize("sample, fragment", [
    ({"noise_prior": "pyoco"}, "noise_prior"),
    ({"noise_alpha": -1}, "noise_alpha"),
    ({"free_init": {"num_iters": 0}}, "num_iters"),
    ({"free_init": {"method": "box"}}, "method"),
    ({"free_init": {"spatial_stop_frequency": 1.5}}, "spatial_stop_frequency"),
    ({"free_init": {"iterations": 2}}, "iterations"),
])
def test_bad_sampling_levers_rejected(micro_params_dict, sample, fragment):
    micro_params_dict["sample"] = {**micro_params_dict["sample"], **sample}
    with pytest.raises(ParamsError, match=fragment):
        parse_params(micro_params_dict, "params.yaml")


def test_noise_prior_run_reads_the_runs_training_prior(micro_params_dict):
    from animatelab.sampling import noise_prior_for

    runs = micro_params_dict["train_motion"]["runs"]
    mixed, plain = list(runs)[:2]
    runs[mixed] = {**runs[mixed], "objective": {"noise_prior": "mixed", "noise_alpha": 2.0}}
    params = parse_params(micro_params_dict)
    trained = lambda run: params.train_motion.runs[run].objective  # noqa: E731
    assert noise_prior_for(params.sample, trained(mixed)) == ("independent", 1.0)  # the default: sample decides
    micro_params_dict["sample"] = {**micro_params_dict["sample"], "noise_prior": "run"}
    params = parse_params(micro_params_dict)
    assert noise_prior_for(params.sample, trained(mixed)) == ("mixed", 2.0)
    assert noise_prior_for(params.sample, trained(plain)) == ("independent", 1.0)
    with pytest.raises(KeyError, match="noise_prior: run"):
        noise_prior_for(params.sample, None)
