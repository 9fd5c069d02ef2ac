"""Probes on tiny random models (diffusers UNet + MotionAdapter) and fabricated encoded clips."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.conftest import write_params
from tests.probe_fixtures import tiny_adapter, tiny_unet, write_domain_adapter, write_world


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models: one thread is much faster than two on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def models():
    from diffusers import UNetMotionModel

    torch.manual_seed(0)
    unet2d = tiny_unet().eval()
    live = UNetMotionModel.from_unet2d(unet2d, tiny_adapter(0)).eval()
    identity = UNetMotionModel.from_unet2d(unet2d, tiny_adapter(0, zero_out=True)).eval()
    return unet2d, live, identity


@pytest.fixture(scope="module")
def clips():
    from animatelab.probes.inputs import Clips

    g = torch.Generator().manual_seed(0)
    return Clips(torch.randn(2, 4, 6, 8, 8, generator=g), torch.randn(2, 5, 16, generator=g))


def _scheduler():
    from animatelab.models.scheduler import scheduler_config, training_scheduler
    from tests.conftest import core_group

    return training_scheduler(scheduler_config(core_group("pretrain_base").noise))


def test_radial_power_separates_low_and_high_frequencies():
    from animatelab.probes.spectrum import radial_power

    flat = torch.ones(1, 1, 8, 8)
    checker = (torch.arange(8)[:, None] + torch.arange(8)[None, :]).remainder(2).float()[None, None] * 2 - 1
    p_flat, p_checker = radial_power(flat, 4)[0], radial_power(checker, 4)[0]
    assert p_flat[0] > 0 and torch.allclose(p_flat[1:], torch.zeros(3))
    assert p_checker[-1] > 0 and torch.allclose(p_checker[:-1], torch.zeros(3), atol=1e-4)
    # Parseval: total power equals N * energy
    assert torch.isclose(radial_power(checker, 4).sum(), checker.pow(2).sum() * 64)


def test_bypass_gives_the_image_base_frame_by_frame(models, clips):
    from animatelab.probes.hooks import bypass_motion, capture_residuals, motion_modules
    from animatelab.probes.inputs import predict

    unet2d, live, _ = models
    lat, text = clips.latents, clips.text
    t = torch.tensor([300, 300])
    with torch.no_grad(), bypass_motion(live):
        bypassed = predict(live, lat, t, text)
        frames = lat.permute(0, 2, 1, 3, 4).flatten(0, 1)
        ref = unet2d(frames, 300, encoder_hidden_states=text.repeat_interleave(6, 0)).sample
    assert torch.allclose(bypassed.permute(0, 2, 1, 3, 4).flatten(0, 1), ref, atol=1e-4)
    with torch.no_grad(), capture_residuals(live) as records:
        predict(live, lat, t, text)
    assert len(records) == len(motion_modules(live)) > 0
    assert all(r.abs().max() > 0 for _, _, r in records)  # random proj_out: the modules do act


def test_identity_motion_module_has_no_effect(models, clips):
    """A zero-initialised module (what training starts from) must read as 'no effect' on every probe."""
    from animatelab.probes import loss_split, static_input

    _, _, identity = models
    ls = loss_split.measure(identity, clips, _scheduler(), [200, 800], 2, 0)["values"]
    assert np.allclose(ls["loss_real"], ls["loss_image"], atol=1e-5)
    assert np.allclose(ls["appearance_gain"], 0, atol=1e-5) and np.allclose(ls["temporal_gain"], 0, atol=1e-5)
    st = static_input.measure(identity, clips, _scheduler(), [500], 2, 0)["values"]
    assert np.allclose(st["static_prediction_change"], 0, atol=1e-5)


def test_live_module_changes_static_and_real_clips(models, clips):
    from animatelab.probes import spectrum, static_input

    _, live, _ = models
    st = static_input.measure(live, clips, _scheduler(), [500], 2, 0)["values"]
    assert (st["static_prediction_change"] > 1e-3).all() and (st["real_prediction_change"] > 1e-3).all()
    sp = spectrum.measure(live, clips, _scheduler(), [500], 2, 0)
    assert sp["values"]["residual_hf_fraction"].shape == (2,)
    assert ((sp["values"]["residual_hf_fraction"] > 0) & (sp["values"]["residual_hf_fraction"] < 1)).all()
    assert np.isclose(sum(sp["curves"]["residual_power"]), 1, atol=1e-4)


def test_probe_stage_on_micro_params(workdir, micro_params_dict):
    """``animatelab probe`` writes per-run metrics, curves over checkpoints, and names a missing run."""
    from animatelab.cli import main

    write_world(workdir, {"with_adapter_s0": 0}, frames=8)
    write_domain_adapter(workdir)
    micro_params_dict["probe"]["runs"] = ["with_adapter_s0", "no_adapter_s0"]  # no_adapter_s0 not trained
    write_params(workdir, micro_params_dict)
    assert main(["probe"]) == 0
    out = workdir / "metrics/probes"
    for probe in ("spectrum", "static_input", "loss_split"):
        data = json.loads((out / f"{probe}.json").read_text())
        assert list(data) == ["with_adapter_s0"]
        for m in data["with_adapter_s0"].values():
            assert set(m) == {"mean", "ci_low", "ci_high", "n"} and m["n"] == 2
            assert m["ci_low"] <= m["mean"] <= m["ci_high"]
    split = json.loads((out / "loss_split.json").read_text())["with_adapter_s0"]
    # a with-adapter run also read at its training condition (adapter merged at 1): another UNet, other losses
    assert {"loss_real_trained", "appearance_gain_trained"} <= set(split)
    assert split["loss_real_trained"]["mean"] != split["loss_real"]["mean"]
    signal = json.loads((out / "domain_signal.json").read_text())
    assert list(signal) == ["with_adapter_s0"] and signal["with_adapter_s0"]["domain_grad_frac"]["n"] == 2
    assert 0 < signal["with_adapter_s0"]["domain_grad_frac"]["mean"] < 10
    gap = json.loads((out / "adapter_gap.json").read_text())
    assert set(gap) == {"scale_0.0", "scale_1.0", "gap_removed_frac"} and gap["scale_0.0"]["domain_gap"]["n"] == 2
    curves = json.loads((out / "curves.json").read_text())["with_adapter_s0"]
    grads = curves["domain_grad_over_training"]
    assert grads["step"] == [2, 4] and grads["domain_grad_frac"][0] != grads["domain_grad_frac"][1]  # each snapshot's own
    over = curves["loss_over_training"]
    assert over["step"] == [2, 4] and over["loss_real"][0] != over["loss_real"][1]  # each checkpoint's own weights
    assert len(curves["spectrum"]["residual_power"]) == 4
    dose = curves["leakage_over_training"]  # step 0 = the image base alone (motion bypassed), then each snapshot
    assert dose["step"] == [0, 2, 4] and all(np.isfinite(dose["leakage_proxy"]))
    assert dose["leakage_proxy"][1] != dose["leakage_proxy"][2]
    assert "no_adapter_s0" in json.loads((out / "missing.json").read_text())
    # the curve swaps each snapshot into one UNet: it must read what a UNet built afresh at that step reads
    from animatelab.config import load_params
    from animatelab.models.scheduler import study_schedule, training_scheduler
    from animatelab.probes import loss_split
    from animatelab.probes.inputs import load_clips, load_motion_unet

    params = load_params(workdir / "params.yaml")
    p = params.probe
    clips = load_clips(workdir / "data/encoded/heldout", p.num_clips, p.frames or params.train_motion.frames, p.seed)
    fresh = load_motion_unet("models/base", "models/motion/with_adapter_s0",
                             checkpoint="models/motion/with_adapter_s0/snapshots/step_000002")
    want = loss_split.measure(fresh, clips, training_scheduler(study_schedule(params.base)), p.timesteps, p.batch_size,
                              p.seed)["values"]
    assert over["loss_real"][0] == float(want["loss_real"].mean())


def test_one_step_x0_is_exact_when_the_noise_is_predicted_exactly():
    """Known answer of the dose-response proxy: a UNet that predicts the true noise returns the clean clip."""
    from types import SimpleNamespace

    from diffusers import DDPMScheduler

    from animatelab.probes.leakage_proxy import CleanClips, one_step_x0

    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=0.00085, beta_end=0.012)
    clean = torch.randn(3, 4, 5, 8, 8, generator=torch.Generator().manual_seed(0))
    a = sched.alphas_cumprod[700]

    class Oracle(torch.nn.Module):
        def forward(self, x, t, encoder_hidden_states):
            return SimpleNamespace(sample=(x - a.sqrt() * clean[: len(x)]) / (1 - a).sqrt())

    clips = CleanClips(clean, clean.clone(), torch.zeros(3, 2, 16), real_score=1.0)
    x0 = one_step_x0(Oracle(), clips, sched, 700, batch_size=3, seed=0)
    assert torch.allclose(x0, clean, atol=1e-4)
    wrong = one_step_x0(lambda x, t, encoder_hidden_states: SimpleNamespace(sample=torch.zeros_like(x)),
                        clips, sched, 700, batch_size=3, seed=0)
    assert not torch.allclose(wrong, clean, atol=0.1)


def test_over_training_reuses_the_final_measure_for_the_last_snapshot(models, clips):
    """The last snapshot holds the final weights, already probed: its point is the final values, unmeasured."""
    from animatelab.probes import loss_split

    _, live, _ = models
    loaded = []

    def load(path):
        loaded.append(path)
        return live

    final = loss_split.measure(live, clips, _scheduler(), [500], 2, 0)["values"]
    curve = loss_split.over_training(load, [(2, "a"), (4, "b")], clips, _scheduler(), [500], 2, 0, known={4: final})
    assert loaded == ["a"] and curve["step"] == [2, 4]
    assert curve["loss_real"] == [float(final["loss_real"].mean())] * 2  # step 2 measured on the same live weights


def test_domain_grad_frac_is_zero_for_identical_twins_and_positive_otherwise(models, clips):
    """The share of the module's gradient the defects drive: none when the degraded clip is its clean twin."""
    from animatelab.probes.domain_signal import grad_fraction

    _, live, _ = models
    before = [p.requires_grad for p in live.parameters()]
    same = grad_fraction(live, clips.latents, clips.latents.clone(), clips.text, _scheduler(), 0)
    assert same.shape == (2,) and np.allclose(same, 0, atol=1e-7)
    g = torch.Generator().manual_seed(3)
    degraded = clips.latents + 0.5 * torch.randn(clips.latents.shape, generator=g)
    frac = grad_fraction(live, degraded, clips.latents, clips.text, _scheduler(), 0)
    assert ((frac > 1e-3) & np.isfinite(frac)).all()
    assert [p.requires_grad for p in live.parameters()] == before  # the UNet's trainability is left as it was
    with pytest.raises(ValueError):
        grad_fraction(live, degraded[:, :, :3], clips.latents, clips.text, _scheduler(), 0)


def test_adapter_gap_file_structure_and_the_adapter_changes_it(tmp_path):
    """The image base's degraded-vs-clean gap at adapter scale 0 and 1, with intervals over clips; a
    non-zero adapter moves it; identical twins give no gap."""
    from animatelab.probes.domain_signal import adapter_gap

    write_world(tmp_path, {}, checkpoints=False)
    adapter = write_domain_adapter(tmp_path)
    g = torch.Generator().manual_seed(0)
    clean = torch.randn(3, 4, 2, 8, 8, generator=g)
    degraded = clean + 0.5 * torch.randn(clean.shape, generator=g)
    text = torch.randn(3, 5, 16, generator=g)
    gap = adapter_gap(tmp_path / "models/base", adapter, degraded, clean, text, _scheduler(), [300, 700], 2, 0, 50)
    assert set(gap) == {"scale_0.0", "scale_1.0", "gap_removed_frac"}
    for scale in ("scale_0.0", "scale_1.0"):
        assert set(gap[scale]) == {"loss_degraded", "loss_clean", "domain_gap"}
        for m in gap[scale].values():
            assert set(m) == {"mean", "ci_low", "ci_high", "n"} and m["n"] == 3 and m["ci_low"] <= m["mean"] <= m["ci_high"]
        assert np.isclose(gap[scale]["domain_gap"]["mean"],
                          gap[scale]["loss_degraded"]["mean"] - gap[scale]["loss_clean"]["mean"])
    assert abs(gap["scale_0.0"]["domain_gap"]["mean"] - gap["scale_1.0"]["domain_gap"]["mean"]) > 1e-6
    removed = 1 - gap["scale_1.0"]["domain_gap"]["mean"] / gap["scale_0.0"]["domain_gap"]["mean"]
    assert np.isclose(gap["gap_removed_frac"]["mean"], removed)
    none = adapter_gap(tmp_path / "models/base", adapter, clean, clean, text, _scheduler(), [500], 2, 0, 20)
    assert none["scale_1.0"]["domain_gap"]["mean"] == 0 and none["scale_0.0"]["domain_gap"]["mean"] == 0
