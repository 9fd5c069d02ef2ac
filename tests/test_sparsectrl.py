"""RQ6 SparseCtrl on micro params: the encoder, its condition, its three stages and the diffusers round trip."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tests.conftest import micro_text
from tests.motion_fixtures import run_stage

_run = run_stage  # the micro world's stages run through the CLI, in the world's folder


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """The micro synthetic world through the motion run and its no-control samples, then every
    SparseCtrl stage for the micro variants (rgb at 1/2/4 keyframes, sketch at 2)."""
    from tests.tiny_fixtures import save_tiny_base

    root = tmp_path_factory.mktemp("sparsectrl_world")
    (root / "params.yaml").write_text(micro_text())
    for argv in (["synth_data"], ["prepare"]):
        assert _run(root, *argv) == 0
    save_tiny_base(root / "models/base")
    for argv in (["encode"], ["train_adapter"], ["train_motion", "--run", "with_adapter_s0"],
                 # the baseline is scale 0 only (sample_sparsectrl.adapter_scale): no RQ2 sweep
                 ["sample", "--run", "with_adapter_s0", "--set", "sample.adapter_scales_by_run={}"]):
        assert _run(root, *argv) == 0
    for stage in ("train_sparsectrl", "sample_sparsectrl", "evaluate_sparsectrl"):
        for variant in ("rgb", "sketch"):
            assert _run(root, stage, "--run", variant) == 0
    return root


def _params(root: Path, *overrides: str):
    from animatelab.config import load_params

    return load_params(root / "params.yaml", list(overrides))


def _tiny_unet_folder(tmp_path: Path) -> Path:
    from tests.tiny_fixtures import save_tiny_base

    return save_tiny_base(tmp_path / "base")


# --------------------------------------------------------------------------- the encoder
def test_encoder_copies_the_base_like_from_unet_and_leaves_its_config_alone(tmp_path):
    from diffusers import SparseControlNetModel, UNet2DConditionModel

    from animatelab.config import SparseCtrlVariant
    from animatelab.sparsectrl.model import build_encoder

    folder = _tiny_unet_folder(tmp_path)
    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet")
    types = list(unet.config.down_block_types)
    ours = build_encoder(unet, SparseCtrlVariant(modality="rgb"), 2, 4, 32, [16, 32])
    assert list(unet.config.down_block_types) == types  # untouched
    other = UNet2DConditionModel.from_pretrained(folder, subfolder="unet")
    theirs = SparseControlNetModel.from_unet(other, conditioning_channels=4)
    assert list(other.config.down_block_types) != types  # from_unet rewrote the base's config in place
    a, b = ours.state_dict(), theirs.state_dict()
    assert a.keys() == b.keys()
    spatial = [k for k in a if "motion_modules." not in k]
    assert all(torch.equal(a[k], b[k]) for k in spatial)  # copied base weights + zero-initialised outputs
    assert ours.config.use_simplified_condition_embedding and ours.config.concat_conditioning_mask
    sketch = build_encoder(unet, SparseCtrlVariant(modality="sketch", mask=False), 2, 4, 32, [16, 32, 64])
    assert not sketch.config.use_simplified_condition_embedding and not sketch.config.concat_conditioning_mask
    assert sketch.controlnet_cond_embedding.conv_in.in_channels == 3
    assert list(sketch.config.conditioning_embedding_out_channels) == [16, 32]  # one level per VAE level


def test_noisy_latent_kept_ablation_sees_the_sample(tmp_path):
    from diffusers import UNet2DConditionModel

    from animatelab.config import SparseCtrlVariant
    from animatelab.sparsectrl.model import build_encoder

    unet = UNet2DConditionModel.from_pretrained(_tiny_unet_folder(tmp_path), subfolder="unet")
    g = torch.Generator().manual_seed(0)
    x, x2 = torch.randn(1, 4, 4, 8, 8, generator=g), torch.randn(1, 4, 4, 8, 8, generator=g)
    cond, mask = torch.randn(1, 4, 4, 8, 8, generator=g), torch.ones(1, 1, 4, 8, 8)
    text = torch.randn(4, 8, unet.config.cross_attention_dim, generator=g)
    outs = {}
    for keep in (False, True):
        enc = build_encoder(unet, SparseCtrlVariant(modality="rgb", keep_noisy_latent=keep), 2, 4, 32, [16])
        with torch.no_grad():
            enc.controlnet_mid_block.weight.normal_(generator=g)  # a non-zero output to compare
            enc.controlnet_cond_embedding.weight.normal_(0, 0.1, generator=g)
            outs[keep] = [enc(s, torch.tensor([500]), text, cond, conditioning_mask=mask, return_dict=False)[1]
                          for s in (x, x2, torch.zeros_like(x))]
    paper, kept = outs[False], outs[True]
    torch.testing.assert_close(paper[0], paper[1], rtol=0, atol=0)  # diffusers zeroes the sample
    assert not torch.allclose(kept[0], kept[1])  # the ablation sees it
    assert not torch.allclose(kept[0], kept[2])


def _conv_out_input(encoder, x: torch.Tensor) -> torch.Tensor:
    """What the condition embedding hands its zero-initialised ``conv_out``."""
    seen = []
    handle = encoder.controlnet_cond_embedding.conv_out.register_forward_pre_hook(lambda m, a: seen.append(a[0]))
    with torch.no_grad():
        encoder.controlnet_cond_embedding(x)
    handle.remove()
    return seen[0]


def test_he_init_keeps_a_sketchs_position_and_the_encoder_a_no_op(tmp_path):
    from diffusers import UNet2DConditionModel

    from animatelab.config import SparseCtrlVariant
    from animatelab.sparsectrl.model import build_encoder

    unet = UNet2DConditionModel.from_pretrained(_tiny_unet_folder(tmp_path), subfolder="unet")
    sketch = torch.zeros(1, 4, 32, 32)  # a 1-px square outline (3 channels) + the mask channel
    sketch[:, :3, 8, 8:20] = sketch[:, :3, 19, 8:20] = sketch[:, :3, 8:20, 8] = sketch[:, :3, 8:20, 19] = 1
    sketch[:, 3] = 1
    moved = sketch.roll(2, dims=-1)
    variant = SparseCtrlVariant(modality="sketch")
    change = {}
    for init in ("pytorch", "he"):
        enc = build_encoder(unet, variant, 3, 4, 32, [16, 32, 64], sketch_init=init)
        change[init] = (_conv_out_input(enc, sketch) - _conv_out_input(enc, moved)).pow(2).mean().sqrt()
        # conv_out and the output convs stay zero: whatever the init, the untrained encoder adds nothing
        down, mid = enc(torch.randn(1, 4, 2, 8, 8), torch.tensor([500]), torch.randn(2, 8, unet.config.cross_attention_dim),
                        sketch[:, :3, None].expand(-1, -1, 2, -1, -1), conditioning_mask=torch.ones(1, 1, 2, 32, 32),
                        return_dict=False)
        assert all(d.abs().max() == 0 for d in down) and mid.abs().max() == 0
    # under diffusers' default init a 2-px move of the outline all but vanishes before conv_out
    assert change["he"] > 10 * change["pytorch"], change
    rgb = [build_encoder(unet, SparseCtrlVariant(modality="rgb"), 2, 4, 32, [16], sketch_init=i).state_dict()
           for i in ("pytorch", "he")]
    assert all(torch.equal(rgb[0][k], rgb[1][k]) for k in rgb[0])  # the rgb (zero-conv) embedding is untouched
    with pytest.raises(ValueError, match="sketch_init"):
        build_encoder(unet, variant, 3, 4, 32, [16, 32, 64], sketch_init="xavier")


# --------------------------------------------------------------------------- the condition
def test_training_condition_is_the_pipelines():
    from diffusers import AnimateDiffSparseControlNetPipeline as Pipe

    from animatelab.sparsectrl.train import build_condition

    values = torch.randn(3, 4, 8, 6, 6, generator=torch.Generator().manual_seed(0))
    idx = [0, 3, 7]
    cond, mask = build_condition(values, [idx] * 3)
    ref = Pipe.prepare_sparse_control_conditioning(None, values[:, :, idx], 8, idx, "cpu", torch.float32)
    torch.testing.assert_close((cond, mask), ref, rtol=0, atol=0)
    ragged = [[0], [0, 7], [1, 2, 5, 6]]  # per-clip counts, as training draws them
    cond, mask = build_condition(values, ragged)
    for b, ix in enumerate(ragged):
        ref = Pipe.prepare_sparse_control_conditioning(None, values[b : b + 1, :, ix], 8, ix, "cpu", torch.float32)
        torch.testing.assert_close((cond[b : b + 1], mask[b : b + 1]), ref, rtol=0, atol=0)
    assert mask.sum().item() == 7 * 36 and cond[1, :, 3].abs().sum() == 0


def test_rgb_keyframes_are_encoded_as_the_pipeline_encodes(tmp_path):
    """The encode cache's VAE path (``encode_frames``) = the pipeline's ``prepare_image`` for the same
    posterior draw; the cache stores the posterior mean (``encode.latent: mean``)."""
    from diffusers import AnimateDiffSparseControlNetPipeline as Pipe
    from diffusers import AutoencoderKL
    from diffusers.image_processor import VaeImageProcessor

    from animatelab.models.encode import encode_frames
    from animatelab.sparsectrl.model import condition_images

    vae = AutoencoderKL.from_pretrained(_tiny_unet_folder(tmp_path), subfolder="vae").eval()
    frames = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    fake = SimpleNamespace(vae=vae, vae_scale_factor=factor, controlnet=SimpleNamespace(use_simplified_condition_embedding=True),
                           control_image_processor=VaeImageProcessor(vae_scale_factor=factor, do_convert_rgb=True,
                                                                     do_normalize=False))
    torch.manual_seed(3)
    with torch.no_grad():
        ref = Pipe.prepare_image(fake, condition_images(frames, "rgb", (50, 150)), 32, 32, "cpu", torch.float32)
    ours = encode_frames(SimpleNamespace(vae=vae), frames[None], 8, "sample", torch.Generator().manual_seed(3))
    torch.testing.assert_close(ours.transpose(1, 2), ref, rtol=1e-5, atol=1e-5)


def test_sketch_keyframes_reach_the_encoder_as_in_training():
    """A sketch keyframe through the pipeline's ``prepare_image`` = training's ``condition_values``."""
    from diffusers import AnimateDiffSparseControlNetPipeline as Pipe
    from diffusers.image_processor import VaeImageProcessor

    from animatelab.sparsectrl.model import condition_images, sketches
    from animatelab.sparsectrl.train import condition_values

    frames = np.zeros((2, 32, 32, 3), np.uint8)
    frames[:, 8:20, 10:22] = (220, 40, 40)  # a red square: its outline is the sketch
    fake = SimpleNamespace(vae_scale_factor=4, controlnet=SimpleNamespace(use_simplified_condition_embedding=False),
                           control_image_processor=VaeImageProcessor(vae_scale_factor=4, do_convert_rgb=True,
                                                                     do_normalize=False))
    ref = Pipe.prepare_image(fake, condition_images(frames, "sketch", (50, 150)), 32, 32, "cpu", torch.float32)
    edges = torch.from_numpy(sketches(frames, (50, 150))[..., 0].copy())
    ours = condition_values({"sketch": edges[None]}, "sketch")
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)
    assert ref[0, 0, 0, 7, 12] == 1 and ref[0, 0, 0, 14, 15] == 0  # edge along the top side, none inside


def test_ground_truth_sketches_outline_the_object_alone():
    """Known answers of the ground-truth sketch: the outline of the object at the clip's own frames
    (``start`` / ``stride``, rescaled to the prepared size), nothing of the texture or the watermark
    that Canny of the real frame picks up."""
    from animatelab.data.render import degrade, render, watermark_template
    from animatelab.sparsectrl.model import clip_sketches, object_outlines, sketches

    positions = [[8.0 + 2 * i, 12.0] for i in range(8)]  # moving right, 2 px a written frame
    truth = {"7": {"shape": "square", "colour": "red", "positions": positions, "sizes": [8.0] * 8}}
    meta = [{"videoid": 7, "start": 1, "stride": 2}]  # prepared frames = written frames 1, 3, 5, 7
    out = object_outlines(meta, truth, 4, 32, 32, (50, 150))
    assert out.shape == (1, 4, 32, 32, 3) and out.dtype == np.uint8
    for j, written in enumerate((1, 3, 5, 7)):
        ys, xs = np.nonzero(out[0, j, ..., 0])
        cx = positions[written][0]
        assert len(xs) > 0 and abs(xs.mean() - cx) < 0.6 and abs(ys.mean() - 12) < 0.6  # centred on the truth
        assert np.all(np.maximum(np.abs(xs - cx), np.abs(ys - 12)) >= 2.5)  # an outline: no edge inside
    half = object_outlines(meta, truth, 4, 16, 32, (50, 150))  # written 32 px -> prepared 16 px
    assert abs(np.nonzero(half[0, 0, ..., 0])[1].mean() - ((positions[1][0] + 0.5) / 2 - 0.5)) < 0.6

    # a checker frame with the watermark: its Canny is mostly texture and bars, the outline is not
    template, (x0, y0, x1, y1) = watermark_template(32)
    scene = render("square", "red", "checker", np.array([positions[1]]), np.array([8.0]), 32)
    frame = degrade(scene, template, 0.35, 0.0)
    real = sketches(frame[None], (50, 150))[0, 0, ..., 0]
    drawn = clip_sketches(frame[None], meta, "ground_truth", (50, 150), _write_truth(truth), 32)[0, 0, ..., 0]
    assert real[y0:y1, x0:x1].any() and not drawn[y0:y1, x0:x1].any()
    assert (real > 0).sum() > 3 * (drawn > 0).sum()
    np.testing.assert_array_equal(clip_sketches(frame[None], meta, "frames", (50, 150), "", 32)[0, 0, ..., 0], real)
    with pytest.raises(ValueError, match="sketch_source"):
        clip_sketches(frame[None], meta, "depth", (50, 150), "", 32)


def _write_truth(truth: dict) -> str:
    import tempfile

    folder = tempfile.mkdtemp()
    Path(folder, "ground_truth.json").write_text(json.dumps(truth))
    return folder


def test_condition_draws_and_keyframe_indices():
    from animatelab.config import ConditionDraw
    from animatelab.sparsectrl.scoring import nearest_keyframe_distance
    from animatelab.sparsectrl.model import keyframe_indices
    from animatelab.train.randomness import StepRandom
    from animatelab.sparsectrl.train import draw_condition_frames

    assert draw_condition_frames(StepRandom(0, 3), 3, 16, ConditionDraw(first=1, first_last=0, random=0)) == [[0]] * 3
    assert draw_condition_frames(StepRandom(0, 2), 2, 16, ConditionDraw(first=0, first_last=1, random=0)) == [[0, 15]] * 2
    draws = draw_condition_frames(StepRandom(5, 64), 64, 16, ConditionDraw(first=0, first_last=0, random=1, max_random=4))
    assert {len(d) for d in draws} == {1, 2, 3, 4} and all(d == sorted(set(d)) and max(d) < 16 for d in draws)
    assert draws == draw_condition_frames(StepRandom(5, 64), 64, 16, ConditionDraw(first=0, first_last=0, random=1))
    assert [keyframe_indices(16, k) for k in (1, 2, 4)] == [[0], [0, 15], [0, 5, 10, 15]]
    assert keyframe_indices(8, 4) == [0, 2, 5, 7]
    assert nearest_keyframe_distance(8, [0, 7]).tolist() == [0, 1, 2, 3, 3, 2, 1, 0]


# --------------------------------------------------------------------------- the stages
def test_stage_outputs(world):
    for variant, counts in (("rgb", (1, 2, 4)), ("sketch", (2,))):
        enc = world / "models/sparsectrl" / variant
        assert (enc / "config.json").is_file() and (enc / "sparsectrl.json").is_file()
        summary = json.loads((enc / "train_summary.json").read_text())
        assert summary["steps"] == 3 and set(summary["condition_sensitivity"]) == {"vs_other", "vs_none"}
        assert sorted(p.name for p in (world / "samples" / f"sparsectrl_{variant}").glob("k*")) == [f"k{k}" for k in counts]
        for k in counts:
            out = world / "samples" / f"sparsectrl_{variant}" / f"k{k}"
            assert np.load(out / "videos.npy").shape == (3, 8, 32, 32, 3)
            assert len(json.loads((out / "keyframes.json").read_text())["indices"]) == k
        metrics = json.loads((world / "metrics" / f"sparsectrl_{variant}.json").read_text())
        assert {f"k{k}" for k in counts} | {f"baseline_k{k}" for k in counts} <= set(metrics)
        assert {"psnr_cond", "ssim_cond", "pos_err_cond", "pos_err_free", "traj_err_d0"} <= set(metrics[f"k{counts[-1]}"])
    rgb = json.loads((world / "metrics/sparsectrl_rgb.json").read_text())
    assert {f"traj_err_d{d}" for d in range(8)} <= set(rgb["k1"])  # the curve: frame 0 conditioned, d = 0..7
    # the tracker on the keyframes' own clips finds the ground-truth positions (the metric's floor)
    assert rgb["real_heldout_k2"]["pos_err_cond"]["mean"] < 1.0 and rgb["real_heldout_k2"]["object_found"]["mean"] == 1.0


def test_condition_sensitivity_is_zero_for_a_blind_encoder_and_not_for_a_seeing_one(world, tmp_path):
    from diffusers import UNet2DConditionModel

    from animatelab.config import SparseCtrlVariant
    from animatelab.sparsectrl.model import build_encoder
    from animatelab.sparsectrl.train import SparseClips, condition_sensitivity

    unet = UNet2DConditionModel.from_pretrained(_tiny_unet_folder(tmp_path), subfolder="unet")
    enc = build_encoder(unet, SparseCtrlVariant(modality="rgb"), 2, 4, 32, [16])
    data = SparseClips(world / "data/encoded/train", 8)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for conv in (*enc.controlnet_down_blocks, enc.controlnet_mid_block):
            conv.weight.normal_(generator=g)  # residuals that are not zero, but blind: the embedding is still zero
    blind = condition_sensitivity(enc, data, "rgb", clips=4)
    assert blind == {"vs_other": 0.0, "vs_none": 0.0}
    with torch.no_grad():
        enc.controlnet_cond_embedding.weight.normal_(0, 0.1, generator=g)
    seeing = condition_sensitivity(enc, data, "rgb", clips=4)
    assert seeing["vs_other"] > 1e-3 and seeing["vs_none"] > 1e-3
    assert condition_sensitivity(enc, data, "rgb", clips=4) == seeing  # deterministic


def test_encoder_round_trips_through_diffusers_and_the_unchanged_pipeline(world, monkeypatch):
    from diffusers import AnimateDiffSparseControlNetPipeline, SparseControlNetModel
    from safetensors.torch import load_file

    from animatelab.models.base import load_base
    from animatelab.models.motion import load_motion_unet
    from animatelab.sparsectrl.model import condition_images, keyframe_indices
    from animatelab.models.scheduler import study_schedule
    from animatelab.sampling import inference_scheduler

    enc = SparseControlNetModel.from_pretrained(world / "models/sparsectrl/rgb").eval()
    trained = load_file(str(world / "models/checkpoints/sparsectrl/rgb/last/trainable.safetensors"))
    state = enc.state_dict()
    assert all(torch.equal(state[k.removeprefix("encoder.")], v) for k, v in trained.items() if k.startswith("encoder."))
    params = _params(world)
    base = load_base(world / "models/base")
    monkeypatch.chdir(world)  # params' paths (base.path: the scheduler's folder) are the study folder's
    pipe = AnimateDiffSparseControlNetPipeline(
        vae=base.vae, text_encoder=base.text_encoder, tokenizer=base.tokenizer, motion_adapter=None, controlnet=enc,
        unet=load_motion_unet(base.unet, world / "models/motion/with_adapter_s0"), scheduler=inference_scheduler(study_schedule(params.base), params.sample))
    out = world / "samples/sparsectrl_rgb/k2"
    info, prompts = json.loads((out / "keyframes.json").read_text()), json.loads((out / "prompts.json").read_text())
    from animatelab.eval.suite import load_clips

    clips, _ = load_clips(world / "data/prepared/heldout")
    idx = keyframe_indices(8, 2)
    torch.manual_seed(0)
    video = pipe(prompt=[prompts[0]["prompt"]], num_frames=8, height=32, width=32, num_inference_steps=2,
                 conditioning_frames=condition_images(clips[0, idx], "rgb", (50, 150)), controlnet_frame_indices=idx,
                 controlnet_conditioning_scale=info["conditioning_scale"], generator=[torch.Generator().manual_seed(0)], output_type="np").frames
    video = np.clip(np.rint(np.asarray(video) * 255), 0, 255).astype(np.uint8)[0]
    assert info["indices"] == idx
    assert np.abs(video.astype(int) - np.load(out / "videos.npy")[0]).max() <= 1


def test_control_changes_the_video_and_scale_zero_is_the_baseline(world):
    baseline = np.load(world / "samples/with_adapter_s0/scale_0.0/videos.npy")[:3]
    controlled = np.load(world / "samples/sparsectrl_rgb/k2/videos.npy")
    assert np.abs(controlled.astype(int) - baseline).max() > 1  # 3 training steps already steer it
    assert _run(world, "sample_sparsectrl", "--run", "rgb", "--set", "sample_sparsectrl.conditioning_scale=0",
                "--set", "sample_sparsectrl.out_dir=samples_off", "--set", "sample_sparsectrl.keyframes_by_variant={}") == 0
    off = np.load(world / "samples_off/sparsectrl_rgb/k2/videos.npy")
    assert np.abs(off.astype(int) - baseline).max() <= 1  # same prompts and initial noise: the pairing holds


def test_the_sampled_conditioning_scale_reaches_the_metrics_and_the_report(world, tmp_path):
    from animatelab.config import ParamsError
    from animatelab.figures.sparsectrl import conditioning_scales
    from animatelab.stages.evaluate_sparsectrl import sampled_conditioning_scale

    scale = json.loads((world / "samples/sparsectrl_rgb/k2/keyframes.json").read_text())["conditioning_scale"]
    meta = json.loads((world / "metrics/sparsectrl_rgb.meta.json").read_text())
    assert meta["conditioning_scale"] == scale == 2.0  # params.yaml's embedded default (the micro params keep it)
    assert conditioning_scales(world / "metrics", ["rgb", "sketch", "absent"]) == [2.0]
    mixed = tmp_path / "sparsectrl_rgb"
    for k, s in (("k1", 1.0), ("k2", 2.0)):
        (mixed / k).mkdir(parents=True)
        (mixed / k / "keyframes.json").write_text(json.dumps({"conditioning_scale": s}))
    with pytest.raises(ParamsError, match="conditioning scales"):
        sampled_conditioning_scale(mixed)


def test_a_short_training_lowers_the_loss_with_the_condition(world):
    """Known answer: after 10 steps the encoder's residuals lower the noise loss on clips given their
    first and last latents (fixed noise draws), against the same frozen model without them."""
    from torch.utils.data import default_collate

    from animatelab.cli import set_stage_threads
    from animatelab.sparsectrl.model import load_encoder
    from animatelab.sparsectrl import train as T
    from animatelab.train.diffusion import (
        add_noise_one_timestep_per_video,
        diffusion_loss,
    )
    from animatelab.models.scheduler import study_schedule, training_scheduler
    from animatelab.stages.train_sparsectrl import frozen_video
    from animatelab.train.randomness import StepRandom

    cwd = os.getcwd()
    os.chdir(world)
    try:
        params = _params(world, "train_sparsectrl.loop.steps=10", "train_sparsectrl.loop.lr=3e-3",
                         "train_sparsectrl.out_dir=models/sc10", "train_sparsectrl.checkpoint_dir=models/ck10")
        set_stage_threads(params, "train_sparsectrl")  # what the CLI does before the stage's code runs
        video = frozen_video(params)  # what the stage passes the trainer
        T.train_sparsectrl(params.train_sparsectrl, "rgb", video, encoded_dir=params.encode.out_dir,
                           prepared_dir=params.prepare.out_dir, synth_resolution=params.synth_data.resolution)
        enc, _ = load_encoder("models/sc10/rgb")
        model = T.SparseCtrlTrainee(enc, T.frozen_video_unet(video)[1]).eval()
        data = T.SparseClips("data/encoded/train", 8)
    finally:
        os.chdir(cwd)
    batch = default_collate([data[i] for i in range(len(data))])
    cwd = os.getcwd()
    os.chdir(world)  # base.path is relative to the study folder
    try:
        scheduler = training_scheduler(study_schedule(params.base))
    finally:
        os.chdir(cwd)
    cond, mask = T.build_condition(T.condition_values(batch, "rgb"), [[0, 7]] * len(data))
    loss = {0.0: 0.0, 1.0: 0.0}
    with torch.no_grad():
        for s in range(5):
            noisy, eps, t = add_noise_one_timestep_per_video(scheduler, batch["latents"], StepRandom(1000 + s, len(data)))
            for scale in loss:
                pred = model(noisy.transpose(1, 2), t, batch["text"], cond, mask, scale)
                loss[scale] += float(diffusion_loss(pred.transpose(1, 2), eps)) / 5
    assert loss[1.0] < 0.99 * loss[0.0], loss


def test_keep_latent_variant_trains_saves_and_loads(world):
    from diffusers import SparseControlNetModel

    from animatelab.sparsectrl.model import NoisyLatentSparseControlNet, load_encoder

    variants = "train_sparsectrl.variants={kept: {modality: rgb, keep_noisy_latent: true}}"
    assert _run(world, "train_sparsectrl", "--run", "kept", "--set", variants) == 0
    enc, info = load_encoder(world / "models/sparsectrl/kept")
    assert isinstance(enc, NoisyLatentSparseControlNet) and info["variant"]["keep_noisy_latent"]
    plain = SparseControlNetModel.from_pretrained(world / "models/sparsectrl/kept")  # same weights, plain class
    assert all(torch.equal(a, b) for a, b in zip(enc.state_dict().values(), plain.state_dict().values()))


def test_a_variants_own_steps_replace_the_groups(world):
    """``variants.NAME.steps`` trains that encoder its own length (the sketch's 1,200 beside the group's
    600 in the default); None keeps ``loop.steps``; 0 is rejected before compute."""
    variants = "train_sparsectrl.variants={short: {modality: rgb, steps: 2, seed: 1}}"
    assert _run(world, "train_sparsectrl", "--run", "short", "--set", variants) == 0
    summary = json.loads((world / "models/sparsectrl/short/train_summary.json").read_text())
    assert summary["steps"] == 2 and _params(world).train_sparsectrl.loop.steps == 3
    loss_steps = (world / "models/sparsectrl/short/loss.csv").read_text().split()[1:]
    assert [int(line.split(",")[0]) for line in loss_steps][-1] == 2
    bad = "train_sparsectrl.variants={short: {modality: rgb, steps: 0}}"
    assert _run(world, "train_sparsectrl", "--run", "short", "--set", bad) == 2


def test_rerun_resumes_and_bad_arguments_are_params_errors(world, capsys):
    assert _run(world, "train_sparsectrl", "--run", "rgb") == 0
    assert "resuming from checkpoint at step 3/3" in capsys.readouterr().out
    assert "resumed_from" not in json.loads((world / "models/sparsectrl/rgb/train_summary.json").read_text())
    assert _run(world, "train_sparsectrl", "--run", "nope") == 2
    assert _run(world, "sample_sparsectrl", "--run", "rgb", "--set", "sample_sparsectrl.num_videos=4") == 2
    assert _run(world, "train_sparsectrl", "--run", "rgb", "--set", "train_sparsectrl.motion_run=nope") == 2
