"""RQ7 MoonShot's sample and evaluate stages on the micro synthetic world (same code path as the default):
the sample stage's layout, prompts and initial noise, the conditioning each mode feeds the UNet, and
evaluate's metrics (same numbers as ``evaluate`` on the same folder) plus first-frame fidelity and identity."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tests.conftest import core_group, micro_params
from tests.motion_fixtures import run_stage

MODES = ("text", "animate")
OWN_METRICS = {"first_frame_psnr", "first_frame_ssim", "first_frame_psnr_vae_ceiling", "first_frame_ssim_vae_ceiling",
               "identity_clip", "identity_frame_acc"}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """synth_data -> ... -> train_eval_models, both MoonShot training stages, then sample_moonshot and
    evaluate_moonshot for every mode, through the CLI in the world's folder."""
    from tests.tiny_fixtures import save_tiny_base

    root = tmp_path_factory.mktemp("moonshot_stages")
    params = micro_params()
    params["train_eval_models"]["domain_net"]["steps"] = 3  # the classifier's accuracy is not under test here
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for argv in (["synth_data"], ["prepare"]):
        assert run_stage(root, *argv) == 0
    save_tiny_base(root / "models/base")
    for argv in (["encode"], ["train_adapter"], ["train_eval_models"], ["train_moonshot_image"], ["train_moonshot_video"],
                 *(["sample_moonshot", "--run", m] for m in MODES), *(["evaluate_moonshot", "--run", m] for m in MODES)):
        assert run_stage(root, *argv) == 0, argv
    return root


class _Cwd:
    def __init__(self, root: Path) -> None:
        self.root = root

    def __enter__(self) -> None:
        self.old = os.getcwd()
        os.chdir(self.root)

    def __exit__(self, *exc) -> None:
        os.chdir(self.old)


def _params(root: Path, *overrides: str):
    from animatelab.config import load_params

    return load_params(root / "params.yaml", list(overrides))


def _folder(root: Path, mode: str, out_dir: str = "samples/moonshot") -> Path:
    return root / out_dir / mode / "scale_0.0"


def _heldout_frame0(root: Path) -> dict:
    from animatelab.eval.suite import load_clips

    clips, meta = load_clips(root / "data/prepared/heldout")
    return {m["videoid"]: clips[i, 0] for i, m in enumerate(meta)}


# --------------------------------------------------------------------------- sample_moonshot
def test_samples_are_in_the_sample_stages_layout_on_its_prompts(world):
    from animatelab.sampling import heldout_prompts

    s = _params(world).sample
    with _Cwd(world):
        prompts = heldout_prompts(s.heldout_dir, s.ground_truth, s.num_videos)  # what sample@<run> renders, in its order
    frame0 = _heldout_frame0(world)
    videos = {}
    for mode in MODES:
        out = _folder(world, mode)
        videos[mode] = np.load(out / "videos.npy")
        assert videos[mode].shape == (s.num_videos, s.frames, 32, 32, 3) and videos[mode].dtype == np.uint8
        latents = np.load(out / "latents.npy")
        assert latents.shape == (s.num_videos, s.frames, 4, 16, 16) and latents.dtype == np.float16
        assert json.loads((out / "prompts.json").read_text()) == prompts
        assert sorted(p.name for p in (out / "mp4").iterdir()) == [f"{i:03d}.mp4" for i in range(s.num_videos)]
        assert sorted(p.name for p in (out / "gif").iterdir()) == [f"{i:03d}.gif" for i in range(s.num_videos)]
        assert json.loads((out / "mode.json").read_text())["mode"] == mode
        with np.load(out / "condition.npz") as z:  # frame 0 of each prompt's own held-out clip
            assert np.array_equal(z["frames"], np.stack([frame0[p["videoid"]] for p in prompts]))
            assert z["reconstruction"].shape == z["frames"].shape and z["reconstruction"].dtype == np.uint8
    assert not np.array_equal(videos["text"], videos["animate"])


def _unet_inputs(world: Path, params) -> dict:
    """Per mode: the first-frame latents, image embeddings and every conv_in input of one DDIM pass
    (as the stage renders it, one thread), plus the pipeline and what the encode path gives."""
    from animatelab.models.encode import encode_frames
    from animatelab.sampling import heldout_prompts
    from animatelab.moonshot.sampling import build_moonshot, conditions, denoise_mode
    from animatelab.stages.sample import study_models
    from animatelab.stages.sample_moonshot import moonshot_weights

    threads = torch.get_num_threads()
    torch.set_num_threads(params.sample_moonshot.threads)  # 2 threads on 2 busy cores crawl
    out = {}
    try:
        with _Cwd(world):
            s, weights = params.sample, moonshot_weights(params)
            prompts = heldout_prompts(s.heldout_dir, s.ground_truth, s.num_videos)
            pipe, base, image_dim = build_moonshot(study_models(params), s, weights, params.sample_moonshot.adapter_scale)
            seen: list[torch.Tensor] = []
            pipe.unet.conv_in.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
            for mode, m in params.sample_moonshot.modes.items():
                frames, first, image, _ = conditions(pipe, base, prompts, image_dim, m,
                                                     heldout_dir=params.sample_moonshot.heldout_dir,
                                                     batch_size=s.batch_size, image_encoder=weights.image_encoder)
                encoded = encode_frames(base, frames[:, None], params.sample.batch_size)[:, 0]
                seen.clear()
                denoise_mode(pipe, base, prompts, first, image, m, s)
                out[mode] = {"first": first, "encoded": encoded, "image": image, "calls": list(seen), "pipe": pipe,
                             "scales": {p.scale[0] for p in pipe.unet.attn_processors.values() if hasattr(p, "to_k_ip")}}
    finally:
        torch.set_num_threads(threads)
    return out


def test_modes_feed_the_unet_their_condition_from_animatediffs_initial_noise(world):
    """animate: the first-frame latent at frame 0 with mask 1 in both guidance branches and the image
    branch on; text: zero extra channels and image scale 0. Both start from the noise that
    AnimateDiffPipeline draws for video i from seed ``sample.seed + i``."""
    params = _params(world, "sample.num_inference_steps=1")
    s = params.sample
    for mode, got in _unet_inputs(world, params).items():
        m, first, pipe = params.sample_moonshot.modes[mode], got["first"], got["pipe"]
        torch.testing.assert_close(first, got["encoded"], rtol=0, atol=0)  # the encode cache's VAE path
        assert got["scales"] == {m.image_scale}
        assert (got["image"].abs().sum(1) > 0).all() if m.image else got["image"].abs().sum() == 0
        size = pipe.unet.config.sample_size * pipe.vae_scale_factor
        start = 0
        for inp in got["calls"]:  # one call per batch: (2B * F, 9, h, w), both guidance branches
            clips = inp.view(-1, s.frames, 9, *inp.shape[-2:])
            b = clips.shape[0] // 2
            if mode == "animate":
                batch = first[start : start + b]
                torch.testing.assert_close(clips[:, 0, 4:8], torch.cat([batch, batch]), rtol=0, atol=0)
                assert clips[:, 0, 8].eq(1).all() and clips[:, 1:, 4:].abs().sum() == 0
            else:
                assert clips[:, :, 4:].abs().sum() == 0
            gens = [torch.Generator().manual_seed(s.seed + start + j) for j in range(b)]
            noise = pipe.prepare_latents(b, 4, s.frames, size, size, torch.float32, torch.device("cpu"), gens)
            torch.testing.assert_close(clips[:b, :, :4], noise.transpose(1, 2), rtol=0, atol=0)
            start += b
        assert start == s.num_videos


def test_same_seed_same_bytes_and_videos_do_not_depend_on_the_batch(world):
    assert run_stage(world, "sample_moonshot", "--run", "animate", "--set", "sample_moonshot.out_dir=samples/again") == 0
    assert run_stage(world, "sample_moonshot", "--run", "animate", "--set", "sample_moonshot.out_dir=samples/b1",
                     "--set", "sample.batch_size=1") == 0
    first, again, b1 = _folder(world, "animate"), _folder(world, "animate", "samples/again"), _folder(world, "animate", "samples/b1")
    for name in ("videos.npy", "latents.npy", "prompts.json", "condition.npz"):
        assert (first / name).read_bytes() == (again / name).read_bytes(), name
    np.testing.assert_allclose(np.load(b1 / "latents.npy").astype(np.float32),
                               np.load(first / "latents.npy").astype(np.float32), rtol=2e-3, atol=2e-3)  # ~1 float16 ulp


def test_unknown_mode_is_a_params_error(world, capsys):
    for stage in ("sample_moonshot", "evaluate_moonshot"):
        assert run_stage(world, stage, "--run", "nope") == 2
        assert "not a sample_moonshot mode" in capsys.readouterr().err


# --------------------------------------------------------------------------- evaluate_moonshot
def test_every_metric_has_an_interval(world):
    from animatelab.eval.bootstrap import is_metric

    n = _params(world).sample.num_videos
    for mode in MODES:
        metrics = json.loads((world / "metrics/moonshot" / f"{mode}.json").read_text())
        assert set(metrics) == {"scale_0.0", "real_heldout"}
        for group, values in metrics.items():
            assert all(is_metric(v) for v in values.values()), group
        scale = metrics["scale_0.0"]
        assert OWN_METRICS | {"fvd_synth", "watermark_leakage", "watermark_leakage_latent", "clip_synth_text",
                              "gt_appearance_acc", "warp_error"} <= set(scale)
        for key in OWN_METRICS:
            m = scale[key]
            assert m["n"] == n and m["ci_low"] <= m["ci_high"] and np.isfinite(m["mean"]), (mode, key)
        assert -1 <= scale["first_frame_ssim"]["mean"] <= 1 and 0 <= scale["identity_frame_acc"]["mean"] <= 1
        assert {"identity_clip", "identity_frame_acc"} <= set(metrics["real_heldout"])
        assert not {"first_frame_psnr", "first_frame_ssim"} & set(metrics["real_heldout"])
        meta = json.loads((world / "metrics/moonshot" / f"{mode}.meta.json").read_text())
        assert meta["mode"] == mode and "not comparable" in meta["fvd_note"]


def test_evaluate_scores_the_samples_unchanged_with_the_same_numbers(world):
    """The plain ``evaluate`` stage reads a MoonShot folder as it is, and every number it writes is
    evaluate_moonshot's: the extra metrics are only additions."""
    assert run_stage(world, "evaluate", "--run", "text", "--set", "evaluate.samples_dir=samples/moonshot",
                     "--set", "evaluate.out_dir=metrics/plain") == 0
    plain = json.loads((world / "metrics/plain/text.json").read_text())
    ours = json.loads((world / "metrics/moonshot/text.json").read_text())
    assert plain.keys() == ours.keys()
    for group in plain:
        assert {k: ours[group][k] for k in plain[group]} == plain[group], group
    assert set(ours["scale_0.0"]) - set(plain["scale_0.0"]) == OWN_METRICS
    assert set(ours["real_heldout"]) - set(plain["real_heldout"]) == {"identity_clip", "identity_frame_acc"}


# --------------------------------------------------------------------------- the measures' known answers
def test_psnr_ssim_known_answers():
    from animatelab.moonshot.scoring import psnr_ssim

    rng = np.random.default_rng(0)
    target = rng.integers(20, 230, (3, 32, 32, 3), dtype=np.uint8)
    psnr, ssim = psnr_ssim(target + np.uint8(5), target)  # MSE 25 everywhere
    np.testing.assert_allclose(psnr, 10 * np.log10(255**2 / 25), rtol=1e-5)
    assert (ssim < 1).all()
    psnr, ssim = psnr_ssim(target, target)
    assert np.isinf(psnr).all()
    np.testing.assert_allclose(ssim, 1.0, rtol=1e-6)


def test_first_frame_fidelity_reads_frame_zero_only():
    from animatelab.moonshot.scoring import first_frame_fidelity

    p = core_group("evaluate", bootstrap=20)
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    videos = rng.integers(0, 256, (4, 5, 32, 32, 3), dtype=np.uint8)
    videos[:, 0] = frames
    videos[0, 0, 0, 0] ^= 1  # one pixel off in video 0: a finite PSNR there
    out = first_frame_fidelity(videos, frames, None, p)
    assert set(out) == {"first_frame_psnr", "first_frame_ssim"}
    assert out["first_frame_psnr"]["n"] == 1 and out["first_frame_psnr"]["mean"] > 60  # inf (identical) dropped
    assert out["first_frame_ssim"]["mean"] > 0.99
    with pytest.raises(ValueError, match="conditioning frames"):
        first_frame_fidelity(videos[:3], frames, None, p)
