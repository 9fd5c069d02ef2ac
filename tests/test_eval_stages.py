"""train_eval_models and evaluate as stages, on the micro synthetic world (same code path as the default)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from animatelab.cli import main


@pytest.fixture(scope="module")
def micro_world(tmp_path_factory):
    import os

    from tests.conftest import micro_text
    from tests.tiny_fixtures import save_tiny_base

    root = tmp_path_factory.mktemp("evalworld")
    (root / "params.yaml").write_text(micro_text())
    old = os.getcwd()
    os.chdir(root)
    try:
        assert main(["synth_data"]) == 0
        assert main(["prepare"]) == 0
        save_tiny_base(root / "models/base")  # an untrained base: its VAE's numbers are not meaningful
        assert main(["encode"]) == 0
        assert main(["train_eval_models"]) == 0
    finally:
        os.chdir(old)
    return root


def _fake_samples(root, run: str, n: int, dataset: str = "heldout") -> None:
    """Stand-in samples (the contract's layout): real clips of ``dataset`` with their captions."""
    from animatelab.data.shards import list_shards, load_shard

    frames, meta = load_shard(list_shards(root / "data/prepared" / dataset)[0])
    truth = json.loads((root / "data/synth/ground_truth.json").read_text())
    out = root / "samples" / run / "scale_0.0"
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "videos.npy", frames[:n])
    prompts = [{"prompt": m["caption"], **{k: truth[str(m["videoid"])][k] for k in ("shape", "colour", "background", "motion")}} for m in meta[:n]]
    (out / "prompts.json").write_text(json.dumps(prompts))


def test_train_eval_models_outputs(micro_world):
    import clip

    models = micro_world / "models/eval"
    for name in ("video_net.safetensors", "video_net.json", "clip.pt", "report.json", "domain_net.safetensors",
                 "domain_net.json", "watermark_latent.npz", "vae_reconstructions.npz"):
        assert (models / name).is_file()
    report = json.loads((models / "report.json").read_text())
    assert set(report["video_net_heldout_accuracy"]) == {"motion", "shape", "colour", "background"}
    assert 0 <= report["clip_heldout_top1"] <= 1
    for key in ("domain_heldout", "domain_heldout_vae_reconstructions"):
        assert set(report[key]) == {"accuracy", "images_called_image", "frames_called_video"}
    # micro: 100 steps, 51 images + their reconstructions vs 128 h264 frames + 32 reconstructed; measured 1.0 (a trained net, not the tiny VAE)
    assert report["domain_heldout"]["accuracy"] >= 0.9
    ceiling = report["watermark_leakage_vae_ceiling"]
    assert ceiling["n"] == 4 and ceiling["ci_low"] <= ceiling["mean"] <= ceiling["ci_high"]
    with np.load(models / "vae_reconstructions.npz") as z:
        assert z["videos"].shape == (4, 8, 32, 32, 3) and z["videos"].dtype == np.uint8
    # each defect alone on held-out specs: classifier's video fraction, every leakage, and of the VAE's reconstructions
    assert report["defect_clips"]["clips"] >= 2
    for name in ("clean", "blur_only", "watermark_only", "codec_only", "all_defects"):
        entry = report[f"defect_{name}"]
        for key in ("domain_video_frac", "watermark_leakage", "blur_leakage", "codec_leakage"):
            assert entry[key]["ci_low"] <= entry[key]["mean"] <= entry[key]["ci_high"], (name, key)
        assert set(entry["vae_reconstructions"]) == {"watermark_leakage", "blur_leakage", "codec_leakage"}
    # known answers in pixels: the clean twins carry no watermark, the watermark-only clips most of the real one
    assert abs(report["defect_clean"]["watermark_leakage"]["mean"]) < 0.2
    assert report["defect_watermark_only"]["watermark_leakage"]["mean"] > 0.7
    assert abs(report["defect_clean"]["codec_leakage"]["mean"]) < 0.05
    model, _ = clip.load(str(models / "clip.pt"), device="cpu", jit=False)
    assert model.visual.input_resolution == 32


def test_evaluate_writes_metrics_with_intervals(micro_world, monkeypatch):
    monkeypatch.chdir(micro_world)
    _fake_samples(micro_world, "with_adapter_s0", 4)
    assert main(["evaluate", "--run", "with_adapter_s0"]) == 0
    metrics = json.loads((micro_world / "metrics/with_adapter_s0.json").read_text())
    assert set(metrics) == {"scale_0.0", "real_heldout"}
    scale = metrics["scale_0.0"]
    for key in ("fvd_synth", "fvd_synth_floor", "num_videos", "clip_synth_text", "clip_synth_domain", "clip_synth_smooth",
                "clip_synth_consistency", "flicker", "warp_error", "gt_moving_frac", "gt_speed_w1", "gt_jerk",
                "gt_persistent_object", "gt_no_object_frac", "gt_extra_object_frac", "gt_direction_acc", "gt_colour_acc", "gt_shape_acc", "gt_background_acc",
                "watermark_leakage", "blur_leakage", "codec_leakage"):
        assert {"mean", "ci_low", "ci_high", "n"} <= scale[key].keys(), key
    # held-out real clips carry the train clips' blur and codec noise (clean images = 0, train clips = 1)
    assert metrics["real_heldout"]["codec_leakage"]["mean"] > 0.5 and metrics["real_heldout"]["blur_leakage"]["mean"] > 0.5
    assert "blur_leakage_vae_ceiling" in scale and "codec_leakage_vae_ceiling" in scale
    report = json.loads((micro_world / "models/eval/report.json").read_text())  # the floor, explained
    assert scale["watermark_leakage_vae_clean"] == report["defect_clean"]["vae_reconstructions"]["watermark_leakage"]
    assert scale["codec_leakage_vae_degraded"] == report["defect_all_defects"]["vae_reconstructions"]["codec_leakage"]
    assert scale["num_videos"]["mean"] == 4
    assert metrics["real_heldout"]["gt_direction_acc"]["mean"] >= 0.85
    for group in ("scale_0.0", "real_heldout"):  # the ceiling beside every pixel leakage number
        assert metrics[group]["watermark_leakage_vae_ceiling"] == metrics["scale_0.0"]["watermark_leakage_vae_ceiling"]
    # the fake samples are real held-out clips: the classifier calls them video
    assert scale["domain_video_frac"]["mean"] >= 0.9 and {"ci_low", "ci_high"} <= scale["domain_video_frac"].keys()
    assert "watermark_leakage_latent" not in scale  # no latents.npy saved: skipped
    assert "watermark_leakage_latent" in metrics["real_heldout"]
    meta = json.loads((micro_world / "metrics/with_adapter_s0.meta.json").read_text())
    assert "not comparable" in meta["fvd_note"] and "clean synthetic images" in meta["clip_domain_reference"]


def test_evaluate_scores_saved_latents(micro_world, monkeypatch, capsys):
    """Latents of the real clips as the 'generated' latents: the latent leakage equals the real row's."""
    from animatelab.data.latents import load_encoded

    monkeypatch.chdir(micro_world)
    _fake_samples(micro_world, "no_adapter_s0", 4)
    latents = load_encoded(micro_world / "data/encoded/heldout")[0][:4].numpy()
    scale_dir = micro_world / "samples/no_adapter_s0/scale_0.0"
    np.save(scale_dir / "latents.npy", latents.astype(np.float16))
    assert main(["evaluate", "--run", "no_adapter_s0"]) == 0
    metrics = json.loads((micro_world / "metrics/no_adapter_s0.json").read_text())
    latent = metrics["scale_0.0"]["watermark_leakage_latent"]
    assert latent["n"] == 4 and latent["ci_low"] <= latent["mean"] <= latent["ci_high"]
    from animatelab.config import load_params
    from animatelab.eval.watermark import LatentSignature, latent_scores

    p = load_params("params.yaml").evaluate
    sig = LatentSignature.load(p.latent_signature)
    norm = latent_scores(load_encoded(p.real_latents)[0][: p.gt_reference_videos].numpy(), sig).mean()
    expected = latent_scores(latents.astype(np.float16).astype(np.float32), sig).mean() / norm
    assert latent["mean"] == pytest.approx(expected, rel=1e-4)
    (scale_dir / "latents.npy").unlink()
    assert main(["evaluate", "--run", "no_adapter_s0"]) == 0
    assert "watermark_leakage_latent not scored" in capsys.readouterr().out


def test_evaluate_refuses_too_few_videos(micro_world, monkeypatch):
    from animatelab.eval.fvd import TooFewVideosError

    monkeypatch.chdir(micro_world)
    _fake_samples(micro_world, "no_adapter_s0", 1)  # 1 video for 1-d features: N <= d
    with pytest.raises(TooFewVideosError, match="N > d"):
        main(["evaluate", "--run", "no_adapter_s0"])


def test_evaluate_without_samples_is_a_params_error(micro_world, monkeypatch, capsys):
    monkeypatch.chdir(micro_world)
    assert main(["evaluate", "--run", "missing_run"]) == 2
    assert "no samples/missing_run" in capsys.readouterr().err


def test_evaluate_lora_scores_the_loras_motion(micro_world, monkeypatch):
    """RQ3's number: real zoom-in clips, asked for "zoom_in", read as that motion (not as their content's)."""
    monkeypatch.chdir(micro_world)
    _fake_samples(micro_world, "lora_n2", 4, dataset="motion_lora")
    prompts = json.loads((micro_world / "samples/lora_n2/scale_0.0/prompts.json").read_text())
    assert {p["motion"] for p in prompts} == {"zoom_in"}
    assert main(["evaluate_lora", "--run", "2"]) == 0
    metrics = json.loads((micro_world / "metrics/lora_n2.json").read_text())
    assert metrics["scale_0.0"]["gt_direction_acc"]["mean"] >= 0.75
    assert metrics["scale_0.0"]["gt_growth_rate"]["ci_low"] > 0  # zoom-in: the object grows
    # RQ3's reference: every camera-motion clip the LoRAs learn from, scored as samples
    from animatelab.eval.suite import load_clips

    real = metrics["real_motion_lora"]
    assert real["num_videos"]["mean"] == len(load_clips(micro_world / "data/prepared/motion_lora")[0])
    assert real["gt_direction_acc"]["mean"] >= 0.5 and real["gt_growth_rate"]["mean"] > 0.05  # slow zooms read static
    # the same clips asked for a translation they do not show score low
    for p in prompts:
        p["motion"] = "left"
    (micro_world / "samples/lora_n2/scale_0.0/prompts.json").write_text(json.dumps(prompts))
    assert main(["evaluate_lora", "--run", "2"]) == 0
    metrics = json.loads((micro_world / "metrics/lora_n2.json").read_text())
    assert metrics["scale_0.0"]["gt_direction_acc"]["mean"] <= 0.25
