"""RQ7 image ControlNet: train_controlnet_image, sample_controlnet@{target}, evaluate_controlnet@{target}
on the micro synthetic world (same code paths as the default), the zero-initialised ControlNet's
no-op, and the edge-agreement measure's known answers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tests.conftest import micro_params
from tests.motion_fixtures import run_stage

TARGETS = ("animatediff", "moonshot")


class _Cwd:
    def __init__(self, root: Path) -> None:
        self.root = root

    def __enter__(self) -> None:
        self.old = os.getcwd()
        os.chdir(self.root)

    def __exit__(self, *exc) -> None:
        os.chdir(self.old)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """synth_data -> prepare -> tiny base -> encode, the uncontrolled baselines (sample@with_adapter_s0,
    sample_moonshot@text), train_controlnet_image, then sample_controlnet / evaluate_controlnet for
    both targets, through the CLI in the world's folder."""
    from tests.tiny_fixtures import save_tiny_base

    root = tmp_path_factory.mktemp("controlnet_stages")
    params = micro_params()
    params["train_eval_models"]["domain_net"]["steps"] = 3  # the classifier's accuracy is not under test here
    params["train_motion"]["runs"] = {"with_adapter_s0": params["train_motion"]["runs"]["with_adapter_s0"]}
    params["probe"]["runs"] = ["with_adapter_s0"]
    params["sample"]["adapter_scales_by_run"] = {}  # the baseline is scale 0 only
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for argv in (["synth_data"], ["prepare"]):
        assert run_stage(root, *argv) == 0
    save_tiny_base(root / "models/base")
    for argv in (["encode"], ["train_adapter"], ["train_eval_models"], ["train_motion", "--run", "with_adapter_s0"],
                 ["sample", "--run", "with_adapter_s0"], ["train_moonshot_image"], ["train_moonshot_video"],
                 ["sample_moonshot", "--run", "text"], ["train_controlnet_image"],
                 *(["sample_controlnet", "--run", t] for t in TARGETS),
                 *(["evaluate_controlnet", "--run", t] for t in TARGETS)):
        assert run_stage(root, *argv) == 0, argv
    return root


def _params(root: Path, *overrides: str):
    from animatelab.config import load_params

    return load_params(root / "params.yaml", list(overrides))


# --------------------------------------------------------------------------- train_controlnet_image
def test_training_writes_a_controlnet_that_loads_and_moved(world):
    from animatelab.controlnet.model import build_controlnet, load_controlnet, vae_levels
    from animatelab.train.motion import load_frozen_unet2d

    p = _params(world)
    out = world / p.train_controlnet_image.out_dir
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == p.train_controlnet_image.loop.steps and np.isfinite(summary["final_loss"])
    assert len((out / "loss.csv").read_text().splitlines()) == 1 + p.train_controlnet_image.loop.steps
    trained, info = load_controlnet(out)
    assert info["canny_thresholds"] == list(p.train_controlnet_image.canny_thresholds)
    assert trained.config.conditioning_channels == 3
    with _Cwd(world):
        unet = load_frozen_unet2d(p.base.path)
        fresh = build_controlnet(unet, p.train_controlnet_image.conditioning_embedding_out_channels,
                                 vae_levels(p.base.path), seed=p.train_controlnet_image.loop.seed)
    # the spatial copy starts as the base's; the zero convolutions are what training moves off zero
    base_conv = unet.conv_in.weight
    torch.testing.assert_close(fresh.conv_in.weight, base_conv, rtol=0, atol=0)
    assert all(b.weight.abs().sum() == 0 for b in fresh.controlnet_down_blocks)
    assert any(b.weight.abs().sum() > 0 for b in trained.controlnet_down_blocks)


def test_edge_embedding_reaches_the_latent_resolution(world):
    """The conditioning embedding turns pixel-size edges (H, W) into the latent grid the UNet sees."""
    from animatelab.controlnet.model import build_controlnet, edge_condition, vae_levels
    from animatelab.train.motion import load_frozen_unet2d

    p = _params(world)
    with _Cwd(world):
        unet = load_frozen_unet2d(p.base.path)
        net = build_controlnet(unet, p.train_controlnet_image.conditioning_embedding_out_channels, vae_levels(p.base.path))
    h, factor = unet.config.sample_size, 2 ** (vae_levels(world / p.base.path) - 1)
    edges = torch.zeros(2, factor * h, factor * h, dtype=torch.uint8)
    edges[:, 5, :] = 255
    cond = edge_condition(edges)
    assert cond.shape == (2, 3, factor * h, factor * h) and cond.max() == 1 and cond.min() == 0
    down, mid = net(torch.randn(2, 4, h, h), torch.tensor([10, 500]), encoder_hidden_states=torch.randn(2, 8, 32),
                    controlnet_cond=cond, return_dict=False)
    assert down[0].shape[-2:] == (h, h) and mid.shape[-2:] == (h // 2, h // 2)
    assert all(d.abs().sum() == 0 for d in down) and mid.abs().sum() == 0  # zero-initialised: adds nothing


# --------------------------------------------------------------------------- zero ControlNet = no ControlNet
def test_zero_controlnet_gives_exactly_the_uncontrolled_moonshot_samples(world):
    """A fresh (zero-initialised) ControlNet wrapped around the MVB UNet reproduces sample_moonshot@text's
    latents bit for bit: same prompts, initial noise, batching and DDIM loop; the residuals add zeros."""
    from animatelab.controlnet.model import build_controlnet, vae_levels
    from animatelab.sampling import heldout_prompts, latents_array
    from animatelab.controlnet.sampling import (
        build_moonshot_controlled,
        condition_edges,
        denoise_moonshot,
    )
    from animatelab.moonshot.sampling import conditions
    from animatelab.stages.sample import study_models
    from animatelab.stages.sample_moonshot import moonshot_weights
    from animatelab.train.motion import load_frozen_unet2d

    p = _params(world)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with _Cwd(world):
            fresh = build_controlnet(load_frozen_unet2d(p.base.path),
                                     p.train_controlnet_image.conditioning_embedding_out_channels, vae_levels(p.base.path))
            s, sc, weights = p.sample, p.sample_controlnet, moonshot_weights(p)
            prompts = heldout_prompts(s.heldout_dir, s.ground_truth, s.num_videos)[: sc.num_videos]
            pipe, base, dim, unet = build_moonshot_controlled(study_models(p), s, weights, sc.adapter_scale,
                                                              p.train_controlnet_image.out_dir, fresh)
            mode = p.sample_moonshot.modes["text"]
            _, first, image, _ = conditions(pipe, base, prompts, dim, mode, heldout_dir=p.sample_moonshot.heldout_dir,
                                            batch_size=s.batch_size, image_encoder=weights.image_encoder)
            edges = condition_edges(prompts, 32, controlnet_dir=p.train_controlnet_image.out_dir,
                                    heldout_dir=sc.heldout_dir, frames=s.frames)
            calls = []
            unet.controlnet.register_forward_hook(lambda m, a, out: calls.append(out))
            latents = latents_array(denoise_moonshot(unet, pipe.scheduler, base, prompts, first, image, edges, mode, s,
                                                     sc.conditioning_scale))
    finally:
        torch.set_num_threads(threads)
    assert calls and all(d.abs().sum() == 0 for down, _ in calls for d in down)  # it ran, and added zeros
    baseline = np.load(world / "samples/moonshot/text/scale_0.0/latents.npy")[: len(prompts)]
    np.testing.assert_array_equal(latents, baseline)


def test_zero_controlnet_pipeline_equals_animatediff_pipeline(world):
    """AnimateDiffControlNetPipeline with a fresh ControlNet and AnimateDiffPipeline on the same UNet give
    the same latents for the same prompt and generator."""
    from diffusers import AnimateDiffPipeline

    from animatelab.controlnet.model import build_controlnet, vae_levels
    from animatelab.controlnet.sampling import build_animatediff, denoise_animatediff
    from animatelab.stages.sample import study_models
    from animatelab.train.motion import load_frozen_unet2d

    p = _params(world, "sample.num_inference_steps=2")
    with _Cwd(world):
        run = p.sample_controlnet.targets["animatediff"].motion_run
        pipe = build_animatediff(study_models(p), p.sample, Path(p.train_motion.out_dir) / run,
                                 p.sample_controlnet.adapter_scale, p.train_controlnet_image.out_dir)
        pipe.controlnet = build_controlnet(load_frozen_unet2d(p.base.path),
                                           p.train_controlnet_image.conditioning_embedding_out_channels,
                                           vae_levels(p.base.path))
    edges = np.zeros((1, p.sample.frames, 32, 32), np.uint8)
    edges[..., 10, :] = 255
    got = denoise_animatediff(pipe, ["a red circle"], edges, p.sample, p.sample_controlnet.conditioning_scale)[0]
    plain = AnimateDiffPipeline(vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, unet=pipe.unet,
                                motion_adapter=None, scheduler=pipe.scheduler)
    plain.set_progress_bar_config(disable=True)
    with torch.inference_mode():
        want = plain(prompt=["a red circle"], num_frames=p.sample.frames, height=32, width=32,
                     num_inference_steps=2, guidance_scale=p.sample.guidance_scale,
                     generator=[torch.Generator().manual_seed(p.sample.seed)], output_type="latent").frames
    torch.testing.assert_close(got, want, rtol=0, atol=0)


# --------------------------------------------------------------------------- sample_controlnet
def test_samples_in_the_sample_stages_layout_with_the_clips_edges(world):
    from animatelab.eval.suite import load_clips
    from animatelab.controlnet.model import edge_maps
    from animatelab.sampling import heldout_prompts

    p = _params(world)
    n, s = p.sample_controlnet.num_videos, p.sample
    with _Cwd(world):
        prompts = heldout_prompts(s.heldout_dir, s.ground_truth, s.num_videos)[:n]
    clips, meta = load_clips(world / "data/prepared/heldout")
    by_id = {m["videoid"]: clips[i, : s.frames] for i, m in enumerate(meta)}
    want_edges = edge_maps(np.stack([by_id[q["videoid"]] for q in prompts]), (50, 150))
    videos = {}
    for target in TARGETS:
        out = world / "samples/controlnet" / target / "scale_0.0"
        videos[target] = np.load(out / "videos.npy")
        assert videos[target].shape == (n, s.frames, 32, 32, 3) and videos[target].dtype == np.uint8
        assert np.load(out / "latents.npy").shape == (n, *np.load(world / "samples/moonshot/text/scale_0.0/latents.npy").shape[1:])
        assert json.loads((out / "prompts.json").read_text()) == prompts
        assert sorted(q.name for q in (out / "mp4").iterdir()) == [f"{i:03d}.mp4" for i in range(n)]
        with np.load(out / "edges.npz") as z:
            np.testing.assert_array_equal(z["edges"], want_edges)
            assert z["edges"].max() == 255
        control = json.loads((out / "control.json").read_text())
        assert control["seeds"] == [s.seed + i for i in range(n)] and control["model"] == target
    assert json.loads((world / "samples/controlnet/animatediff/scale_0.0/control.json").read_text())["baseline"] \
        == "samples/with_adapter_s0/scale_0.0"
    assert json.loads((world / "samples/controlnet/moonshot/scale_0.0/control.json").read_text())["baseline"] \
        == "samples/moonshot/text/scale_0.0"
    # the trained ControlNet changes the videos: they are not the baseline's
    for target, base in (("animatediff", "samples/with_adapter_s0/scale_0.0"), ("moonshot", "samples/moonshot/text/scale_0.0")):
        assert not np.array_equal(np.load(world / base / "latents.npy")[:n],
                                  np.load(world / "samples/controlnet" / target / "scale_0.0/latents.npy")), target


def test_sampling_is_deterministic(world):
    assert run_stage(world, "sample_controlnet", "--run", "moonshot", "--set",
                     "sample_controlnet.out_dir=samples/again") == 0
    a, b = world / "samples/controlnet/moonshot/scale_0.0", world / "samples/again/moonshot/scale_0.0"
    for name in ("videos.npy", "latents.npy", "prompts.json", "edges.npz"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_unknown_target_is_a_params_error(world, capsys):
    for stage in ("sample_controlnet", "evaluate_controlnet"):
        assert run_stage(world, stage, "--run", "nope") == 2
        assert "not a sample_controlnet target" in capsys.readouterr().err


# --------------------------------------------------------------------------- evaluate_controlnet
def test_metrics_controlled_uncontrolled_and_paired(world):
    from animatelab.eval.bootstrap import is_metric
    from animatelab.controlnet.scoring import EDGE_METRICS

    n = _params(world).sample_controlnet.num_videos
    for target in TARGETS:
        metrics = json.loads((world / "metrics/controlnet" / f"{target}.json").read_text())
        assert set(metrics) == {"scale_0.0", "uncontrolled", "controlled_minus_uncontrolled"}
        for group, values in metrics.items():
            assert all(is_metric(v) for v in values.values()), group
        for group in ("scale_0.0", "uncontrolled"):
            assert {*EDGE_METRICS, "fvd_synth", "watermark_leakage", "clip_synth_text", "warp_error"} <= set(metrics[group])
            for m in EDGE_METRICS:
                v = metrics[group][m]
                assert 0 <= v["ci_low"] <= v["mean"] <= v["ci_high"] <= 1 and v["n"] <= n, (target, group, m)
        diff = metrics["controlled_minus_uncontrolled"]
        assert set(diff) == set(EDGE_METRICS)
        f1 = metrics["scale_0.0"]["edge_f1"]["mean"] - metrics["uncontrolled"]["edge_f1"]["mean"]
        if diff["edge_f1"]["n"] == metrics["scale_0.0"]["edge_f1"]["n"] == metrics["uncontrolled"]["edge_f1"]["n"]:
            assert diff["edge_f1"]["mean"] == pytest.approx(f1)
        meta = json.loads((world / "metrics/controlnet" / f"{target}.meta.json").read_text())
        assert meta["edge_tolerance_px"] == 1 and meta["target"] == target


def test_baseline_with_other_prompts_is_refused(world, tmp_path):
    """The uncontrolled numbers must come from the same prompts: a baseline whose prompts differ fails."""
    import shutil

    fake = tmp_path / "baseline"
    shutil.copytree(world / "samples/moonshot/text", fake / "text")
    prompts = json.loads((fake / "text/scale_0.0/prompts.json").read_text())
    prompts[0]["prompt"] = "something else"
    (fake / "text/scale_0.0/prompts.json").write_text(json.dumps(prompts))
    with pytest.raises(ValueError, match="its prompts are not the ControlNet samples'"):
        run_stage(world, "evaluate_controlnet", "--run", "moonshot", "--set", f"sample_moonshot.out_dir={fake}",
                  "--set", f"evaluate_controlnet.out_dir={tmp_path / 'm'}")


# --------------------------------------------------------------------------- edge agreement, known answers
def _line(col: int, size: int = 16) -> np.ndarray:
    e = np.zeros((size, size), np.uint8)
    e[2:14, col] = 255
    return e


def test_frame_agreement_known_answers():
    from animatelab.controlnet.scoring import frame_agreement

    assert frame_agreement(_line(5), _line(5), 1) == (1.0, 1.0, 1.0)
    assert frame_agreement(_line(6), _line(5), 1) == (1.0, 1.0, 1.0)  # 1 px off: within tolerance
    assert frame_agreement(_line(6), _line(5), 0) == (0.0, 0.0, 0.0)
    assert frame_agreement(_line(8), _line(5), 1) == (0.0, 0.0, 0.0)
    half = _line(5)
    half[8:] = 0  # rows 2..7 drawn: condition rows 2..8 are within 1 px of them (7 of 12)
    p, r, f = frame_agreement(half, _line(5), 1)
    assert (p, r) == (1.0, 7 / 12) and f == pytest.approx(14 / 19)
    both = np.maximum(_line(5), _line(10))  # every condition pixel drawn, plus as many spurious ones
    p, r, f = frame_agreement(both, _line(5), 1)
    assert (p, r) == (0.5, 1.0) and f == pytest.approx(2 / 3)
    empty = np.zeros((16, 16), np.uint8)
    assert frame_agreement(empty, _line(5), 1)[2] == 0.0 and np.isnan(frame_agreement(empty, _line(5), 1)[0])
    assert all(np.isnan(frame_agreement(empty, empty, 1)))


def test_edge_agreement_averages_frames_per_video():
    from animatelab.controlnet.scoring import edge_agreement

    cond = np.stack([np.stack([_line(5), _line(5)]), np.stack([_line(5), np.zeros((16, 16), np.uint8)])])
    gen = np.stack([np.stack([_line(5), _line(9)]), np.stack([_line(6), np.zeros((16, 16), np.uint8)])])
    out = edge_agreement(gen, cond, 1)
    np.testing.assert_allclose(out["edge_f1"], [0.5, 1.0])  # video 1's edgeless frame is left out
    with pytest.raises(ValueError, match="condition edges"):
        edge_agreement(gen[:1], cond, 1)


def test_real_frames_agree_with_their_own_edges():
    """A video's own Canny edges are its condition: F1 1 (the measure's ceiling), and a shifted video scores lower."""
    from animatelab.controlnet.model import edge_maps
    from animatelab.controlnet.scoring import video_edge_agreement

    videos = np.zeros((2, 3, 32, 32, 3), np.uint8)
    for i in range(3):
        videos[:, i, 8 + i : 20 + i, 10:22] = (200, 40, 40)
    edges = edge_maps(videos, (50, 150))
    assert edges.max() == 255
    np.testing.assert_array_equal(video_edge_agreement(videos, edges, (50, 150), 1)["edge_f1"], [1.0, 1.0])
    shifted = np.roll(videos, 4, axis=3)
    assert (video_edge_agreement(shifted, edges, (50, 150), 1)["edge_f1"] < 0.6).all()
