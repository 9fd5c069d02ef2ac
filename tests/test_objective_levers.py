"""The training objective's levers (``train_motion.runs.<run>.objective``): timesteps weighted toward
high noise and PYoCo's frame-correlated mixed noise prior. Their defaults draw exactly what the official
objective always drew, and leave a run's fingerprint as it was."""

from __future__ import annotations

import pytest
import torch

from animatelab.config import ObjectiveParams, ParamsError, parse_params
from animatelab.train.diffusion import add_noise_one_timestep_per_video, sample_timesteps
from animatelab.train.randomness import StepRandom


def _scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="linear")


def _before(scheduler, latents: torch.Tensor, rng: StepRandom):
    """The official objective's draws as this module made them before it had levers."""
    b = latents.shape[0]
    noise = rng.randn(latents.shape).to(latents)
    t = rng.randint(scheduler.config.num_train_timesteps, b).to(latents.device)
    if latents.dim() == 5:
        flat = lambda x: x.flatten(0, 1)  # noqa: E731
        noisy = scheduler.add_noise(flat(latents), flat(noise), t.repeat_interleave(latents.shape[1]))
        return noisy.view_as(latents), noise, t
    return scheduler.add_noise(latents, noise, t), noise, t


@pytest.mark.parametrize("shape", [(3, 4, 4, 8, 8), (5, 4, 8, 8)])
@pytest.mark.parametrize("objective", [None, ObjectiveParams()])
def test_defaults_reproduce_the_official_draws_exactly(shape, objective):
    sched = _scheduler()
    latents = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    old_rng, new_rng = StepRandom(7, shape[0]), StepRandom(7, shape[0])
    old = _before(sched, latents, old_rng)
    new = add_noise_one_timestep_per_video(sched, latents, new_rng, objective)
    assert all(torch.equal(a, b) for a, b in zip(old, new))
    # the same number of draws: what the step draws next (e.g. caption dropout) is unchanged too
    assert torch.equal(old_rng.rand(shape[0]), new_rng.rand(shape[0]))


def test_high_noise_timesteps_lie_above_uniform():
    n, T = 20_000, 1000
    uniform = sample_timesteps(StepRandom(0, n), T, n, ObjectiveParams())
    for k in (2.0, 4.0):
        high = sample_timesteps(StepRandom(0, n), T, n, ObjectiveParams(timestep_sampling="high_noise", timestep_bias=k))
        assert high.dtype == torch.int64 and int(high.min()) >= 0 and int(high.max()) <= T - 1
        # mean of floor(T(1 - u^k)) is T·k/(k+1) - 1/2 (standard error ~2 here)
        assert float(high.float().mean()) == pytest.approx(T * k / (k + 1) - 0.5, abs=10)
        assert float(high.float().mean()) > float(uniform.float().mean()) + 100
    one = sample_timesteps(StepRandom(0, n), T, n, ObjectiveParams(timestep_sampling="high_noise", timestep_bias=1.0))
    assert float(one.float().mean()) == pytest.approx((T - 1) / 2, abs=10)  # k = 1: uniform again


def _frame_correlation(noise: torch.Tensor) -> float:
    """Mean correlation between two different frames of a video, (B, F, C, h, w) unit-variance noise."""
    b, f = noise.shape[:2]
    x = noise.transpose(0, 1).reshape(f, -1)  # (F, everything else)
    gram = x @ x.T / x.shape[1]
    off = ~torch.eye(f, dtype=torch.bool)
    return float(gram[off].mean())


@pytest.mark.parametrize("alpha", [0.5, 1.0, 3.0])
def test_mixed_noise_has_unit_variance_and_the_expected_frame_correlation(alpha):
    sched = _scheduler()
    latents = torch.zeros(64, 8, 4, 8, 8)  # 131,072 elements, 16,384 shared draws
    objective = ObjectiveParams(noise_prior="mixed", noise_alpha=alpha)
    _, noise, _ = add_noise_one_timestep_per_video(sched, latents, StepRandom(3, 64), objective)
    assert float(noise.mean()) == pytest.approx(0.0, abs=0.02)
    assert float(noise.var()) == pytest.approx(1.0, abs=0.02)
    assert float(noise.var(dim=(0, 2, 3, 4)).sub(1).abs().max()) < 0.05  # per frame too
    assert _frame_correlation(noise) == pytest.approx(alpha / (1 + alpha), abs=0.03)
    _, plain, _ = add_noise_one_timestep_per_video(sched, latents, StepRandom(3, 64))
    assert abs(_frame_correlation(plain)) < 0.02


def test_mixed_noise_keeps_the_independent_draw_and_adds_the_shared_one_after():
    """The mixed prior re-uses the official draw order (noise, timesteps), then draws the shared frame."""
    sched = _scheduler()
    latents = torch.zeros(2, 4, 4, 8, 8)
    objective = ObjectiveParams(noise_prior="mixed", noise_alpha=1.0)
    _, noise, t = add_noise_one_timestep_per_video(sched, latents, StepRandom(5, 2), objective)
    rng = StepRandom(5, 2)
    independent, t0 = rng.randn(latents.shape), rng.randint(1000, 2)
    shared = rng.randn((2, 1, 4, 8, 8))
    assert torch.equal(t, t0)
    assert torch.allclose(noise, 0.5 ** 0.5 * (shared + independent), atol=1e-6)


def test_mixed_noise_needs_video_latents():
    with pytest.raises(ValueError, match="video latents"):
        add_noise_one_timestep_per_video(_scheduler(), torch.zeros(2, 4, 8, 8), StepRandom(0, 2),
                                         ObjectiveParams(noise_prior="mixed"))


@pytest.mark.parametrize("objective, fragment", [
    ({"timestep_sampling": "low_noise"}, "timestep_sampling"),
    ({"timestep_bias": 0.5}, "timestep_bias"),
    ({"noise_prior": "shared"}, "noise_prior"),
    ({"noise_alpha": 0}, "noise_alpha"),
    ({"noise_beta": 1}, "noise_beta"),
])
def test_bad_objective_rejected(micro_params_dict, objective, fragment):
    run = next(iter(micro_params_dict["train_motion"]["runs"]))
    micro_params_dict["train_motion"]["runs"][run]["objective"] = objective
    with pytest.raises(ParamsError, match=fragment):
        parse_params(micro_params_dict, "params.yaml")


def test_default_objective_leaves_the_fingerprint_as_it_was(micro_params_dict, monkeypatch, tmp_path):
    import animatelab.train.motion as motion
    from animatelab.train.checkpoint import params_fingerprint

    monkeypatch.chdir(tmp_path)  # no base or adapter files: their identities read "missing"
    fingerprint = lambda p, run: motion.motion_fingerprint(  # noqa: E731
        p.train_motion, run, schedule={"beta_schedule": "linear"}, base_path=p.base.path,
        adapter_dir=p.train_adapter.out_dir)
    params = parse_params(micro_params_dict)
    tm = params.train_motion
    for name, cfg in tm.runs.items():
        if not cfg.objective.is_default() or cfg.batch_size is not None:  # the RQ8 levers' runs
            continue
        old_run = {"with_adapter": cfg.with_adapter, "seed": cfg.seed, "module": cfg.module.model_dump(mode="json"),
                   "steps": cfg.steps}  # MotionRun's fields before it had an objective
        before = params_fingerprint(old_run, tm.frames, tm.loop, {"beta_schedule": "linear"}, tm.dataset, "missing",
                                    "missing" if cfg.with_adapter else None, None)
        assert fingerprint(params, name) == before, name
    name = next(iter(tm.runs))
    runs = dict(micro_params_dict["train_motion"]["runs"])
    runs[name] = {**runs[name], "objective": {"timestep_sampling": "high_noise"}}
    changed = parse_params({**micro_params_dict, "train_motion": {**micro_params_dict["train_motion"], "runs": runs}})
    assert fingerprint(changed, name) != fingerprint(params, name)


def test_a_runs_batch_size_replaces_the_loops_and_joins_its_fingerprint(micro_params_dict, monkeypatch, tmp_path):
    import animatelab.train.motion as motion

    monkeypatch.chdir(tmp_path)
    params = parse_params(micro_params_dict)
    name = next(iter(params.train_motion.runs))
    loop = params.train_motion.loop
    assert loop.for_run(3).batch_size == loop.batch_size and loop.for_run(3, None, 7).batch_size == 7
    assert loop.for_run(3, 5, 7).steps == 5 and loop.for_run(3, 5, 7).seed == 3
    runs = dict(micro_params_dict["train_motion"]["runs"])
    runs[name] = {**runs[name], "batch_size": loop.batch_size * 4}
    bigger = parse_params({**micro_params_dict, "train_motion": {**micro_params_dict["train_motion"], "runs": runs}})
    fingerprint = lambda p: motion.motion_fingerprint(  # noqa: E731
        p.train_motion, name, schedule={}, base_path="b", adapter_dir="a")
    assert fingerprint(bigger) != fingerprint(params)
    with pytest.raises(ParamsError, match="batch_size"):
        runs[name] = {**runs[name], "batch_size": 0}
        parse_params({**micro_params_dict, "train_motion": {**micro_params_dict["train_motion"], "runs": runs}})
