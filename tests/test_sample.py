"""sample stage: AnimateDiffPipeline outputs per CONTRACTS.md, deterministic, with and without MotionLoRA."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.motion_fixtures import make_world, run_stage


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = make_world(tmp_path_factory.mktemp("sample_world"))
    assert run_stage(root, "train_motion", "--run", "with_adapter_s0") == 0
    # RQ2: the scale sweep is asked for this run only; 0.0 comes from adapter_scales
    assert run_stage(root, "sample", "--run", "with_adapter_s0",
                     "--set", "sample.adapter_scales_by_run={with_adapter_s0: [1.0, 0.0]}") == 0
    return root


def test_outputs_follow_the_contract(world):
    for scale in ("scale_0.0", "scale_1.0"):
        out = world / "samples/with_adapter_s0" / scale
        videos = np.load(out / "videos.npy")
        assert videos.dtype == np.uint8 and videos.shape == (3, 8, 32, 32, 3)
        prompts = json.loads((out / "prompts.json").read_text())
        assert len(prompts) == 3 and set(prompts[0]) >= {"prompt", "shape", "colour", "background", "motion"}
        assert prompts[0]["prompt"].startswith("a red circle") and prompts[0]["motion"] == "left"
        assert len(list((out / "mp4").glob("*.mp4"))) == 3 and len(list((out / "gif").glob("*.gif"))) == 3
    a = np.load(world / "samples/with_adapter_s0/scale_0.0/videos.npy")
    b = np.load(world / "samples/with_adapter_s0/scale_1.0/videos.npy")
    assert not np.array_equal(a, b)  # the adapter scale matters


def test_seeds_make_videos_independent_of_batch_size(world):
    first = np.load(world / "samples/with_adapter_s0/scale_0.0/videos.npy")
    # scale 0.0 alone: the run's RQ2 sweep (0.5, 1.0) is not compared here
    assert run_stage(world, "sample", "--run", "with_adapter_s0", "--set", "sample.batch_size=3",
                     "--set", "sample.out_dir=samples_b3", "--set", "sample.adapter_scales_by_run={}") == 0
    again = np.load(world / "samples_b3/with_adapter_s0/scale_0.0/videos.npy")
    assert np.abs(first.astype(int) - again.astype(int)).max() <= 1


def test_sample_with_motion_lora(world):
    assert run_stage(world, "train_motion_lora", "--run", "2") == 0
    assert run_stage(world, "sample", "--run", "lora_n2") == 0
    out = world / "samples/lora_n2"
    videos = np.load(out / "scale_0.0/videos.npy")
    assert videos.shape == (3, 8, 32, 32, 3)
    assert sorted(d.name for d in out.glob("scale_*")) == ["scale_0.0"]  # the sweep was for another run
    # RQ3: LoRA prompts ask for the LoRA's motion, so direction accuracy scores the zoom
    prompts = json.loads((out / "scale_0.0/prompts.json").read_text())
    assert all(p["motion"] == "zoom_in" and p["prompt"].endswith("camera zooming in") for p in prompts)
    assert prompts[0]["prompt"].startswith("a red circle")


def test_unknown_run_is_a_params_error(world):
    assert run_stage(world, "sample", "--run", "lora_n7") == 2


def test_written_mp4_and_gif_decode_to_the_sampled_frames(tmp_path):
    from PIL import Image, ImageSequence

    from animatelab.data.video_io import open_reader, read_frames
    from animatelab.sampling import write_videos

    # a yellow square moving 4 px/frame over a smooth gradient: a frame out of order costs ~10 grey levels
    y, x = np.mgrid[0:32, 0:32]
    videos = np.zeros((2, 6, 32, 32, 3), np.uint8)
    for v in range(2):
        for f in range(6):
            videos[v, f] = np.stack([x * 4, y * 4, np.full_like(x, 60 + 60 * v)], -1)
            videos[v, f, 8:16, 4 * f : 4 * f + 8] = (250, 250, 40)
    write_videos(tmp_path, videos, [{"prompt": "p"}] * 2, fps=8)
    assert np.array_equal(np.load(tmp_path / "videos.npy"), videos)
    for i, video in enumerate(videos):
        mp4 = read_frames(open_reader(tmp_path / "mp4" / f"{i:03d}.mp4"), list(range(6)))
        assert mp4.shape == video.shape
        assert np.abs(mp4.astype(int) - video).mean() < 4  # crf 12: ~2.3, mostly chroma subsampling
        gif = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(Image.open(tmp_path / "gif" / f"{i:03d}.gif"))]
        assert len(gif) == 6 and np.abs(np.stack(gif).astype(int) - video).mean() < 4  # palette: ~1.2


def _pipeline_setup(world, monkeypatch, scales: list[float] | None = None):
    from animatelab.config import load_params
    from animatelab.sampling import heldout_prompts
    from animatelab.stages.sample import sample_spec

    monkeypatch.chdir(world)
    params = load_params("params.yaml")
    s = params.sample
    prompts = [p["prompt"] for p in heldout_prompts(s.heldout_dir, s.ground_truth, s.num_videos)]
    return params, sample_spec(params, "with_adapter_s0"), prompts


def _build(params, spec, scale: float):
    """``sampling.build_pipeline`` on what the sample stage passes it."""
    from animatelab.sampling import build_pipeline
    from animatelab.stages.sample import study_models

    return build_pipeline(study_models(params), params.sample, params.train_motion.out_dir, spec, scale)


def test_latents_are_saved_and_decode_to_the_written_videos(world, monkeypatch):
    import torch

    from animatelab.sampling import decode

    params, spec, _ = _pipeline_setup(world, monkeypatch)
    for scale in (0.0, 1.0):
        out = world / "samples/with_adapter_s0" / f"scale_{scale}"
        latents = np.load(out / "latents.npy")
        assert latents.dtype == np.float16 and latents.shape == (3, 8, 4, 8, 8)  # (N, F, C, h, w)
        videos = np.load(out / "videos.npy")
        pipe = _build(params, spec, scale)
        again = decode(pipe, torch.from_numpy(latents).float().permute(0, 2, 1, 3, 4))
        diff = np.abs(again.astype(int) - videos.astype(int))
        # float16 latents: rounding only
        assert diff.max() <= 2 and diff.mean() < 0.1, (diff.max(), diff.mean())


def test_latent_output_then_decode_equals_the_np_output(world, monkeypatch):
    """The stage's path (latents, then the pipeline's own decode) gives today's pixels."""
    import torch

    from animatelab.sampling import generate

    params, spec, prompts = _pipeline_setup(world, monkeypatch)
    s = params.sample
    pipe = _build(params, spec, 1.0)
    videos, latents = generate(pipe, prompts, s, s.seed)
    expected = []
    for i in range(0, len(prompts), s.batch_size):
        batch = prompts[i : i + s.batch_size]
        gens = [torch.Generator().manual_seed(s.seed + i + j) for j in range(len(batch))]
        frames = pipe(prompt=batch, num_frames=s.frames, height=32, width=32, guidance_scale=s.guidance_scale,
                      num_inference_steps=s.num_inference_steps, generator=gens, output_type="np").frames
        expected.append(np.clip(np.rint(np.asarray(frames) * 255), 0, 255).astype(np.uint8))
    expected = np.concatenate(expected)
    assert videos.shape == expected.shape == (3, 8, 32, 32, 3) and latents.shape == (3, 8, 4, 8, 8)
    assert np.abs(videos.astype(int) - expected.astype(int)).max() <= 1
    assert (videos == expected).mean() > 0.999
    stage = np.load(world / "samples/with_adapter_s0/scale_1.0/videos.npy")
    assert np.array_equal(stage, videos)  # the stage's one-base path, same seeds: the same videos


@pytest.mark.parametrize("targets", [["attention"], ["attention", "resnet_conv"]])
def test_one_loaded_base_serves_every_scale(world, monkeypatch, tmp_path, targets):
    """Re-merging the adapter on the one loaded base gives, scale by scale, the UNet of a fresh load,
    also for an adapter on the ResNet convs (the restore reads the modules from the adapter file)."""
    import shutil

    import torch

    from animatelab.sampling import pipelines
    from animatelab.stages.sample import study_models

    from animatelab.config import LoraParams
    from animatelab.models.base import load_base
    from animatelab.train.adapter import add_domain_adapter, save_domain_adapter

    copy = tmp_path / "world"  # the world's adapter is on the default targets; this one on the case's
    shutil.copytree(world, copy)
    unet = add_domain_adapter(load_base(copy / "models/base").unet, LoraParams(rank=2), targets=targets)
    with torch.no_grad():
        for n, p in unet.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.02)
    shutil.rmtree(copy / "models/domain_adapter")
    save_domain_adapter(unet, copy / "models/domain_adapter")
    world = copy
    params, spec, _ = _pipeline_setup(world, monkeypatch)
    for scale, pipe in pipelines(study_models(params), params.sample, params.train_motion.out_dir, spec,
                                 [1.0, 0.0, 0.5]):
        fresh = _build(params, spec, scale).unet.state_dict()
        shared = pipe.unet.state_dict()
        assert shared.keys() == fresh.keys()
        assert all(torch.equal(shared[k], fresh[k]) for k in fresh), scale
