"""Tiny SD-format base: CLIP-consistent tokenizer, pipeline-folder round trip, pretrain stage."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from animatelab.config import load_params
from animatelab.models.base import encode_prompts, load_base
from tests.tiny_fixtures import make_fake_prepared, make_fake_synth, micro_pretrain_params, save_tiny_base


def test_tokenizer_ids_match_clip_tokenize():
    import clip

    from animatelab.models.tiny_base import build_tokenizer

    caps = ["a red circle moving left on a checker background", "a white square"]
    ours = build_tokenizer(16)(caps).input_ids
    for row, ref in zip(ours, clip.tokenize(caps)):
        assert row == ref[: len(row)].tolist()


def test_base_loads_from_a_second_folder_in_sd_layout(tmp_path):
    path = save_tiny_base(tmp_path / "other_base", seed=3)
    for sub in ("vae", "text_encoder", "tokenizer", "unet", "scheduler", "model_index.json"):
        assert (path / sub).exists()
    base = load_base(path)
    sched = base.scheduler.config
    assert (sched.beta_schedule, sched.steps_offset, sched.timestep_spacing, sched.clip_sample, sched.set_alpha_to_one) \
        == ("linear", 1, "leading", False, False)
    text = encode_prompts(base, ["a red square", ""])
    assert text.shape == (2, 16, base.text_encoder.config.hidden_size)
    assert not any(p.requires_grad for p in base.unet.parameters())
    again = load_base(path)
    assert torch.equal(encode_prompts(again, ["a red square"]), text[:1])


def test_pretrain_base_stage_writes_a_loadable_base_and_quality(workdir):
    from animatelab.cli import set_stage_threads
    from animatelab.stages import pretrain_base

    make_fake_synth(workdir / "data" / "synth")
    make_fake_prepared(workdir / "data/prepared/train", shards=2, clips=3, frames=4)
    params = load_params("params.yaml")
    set_stage_threads(params, "pretrain_base")  # what the CLI does before a stage runs
    pretrain_base.run(params, SimpleNamespace(run=None, shard_index=None, num_shards=None))
    quality = json.loads((workdir / "models/base/quality.json").read_text())
    # the VAE saw the clean images plus every frame of vae_video_clips prepared clips; the UNet images only
    assert quality["vae_video_frames"] == params.pretrain_base.vae_video_clips * 4
    assert quality["vae_images"] == 16
    assert {"colour", "shape", "background", "all"} <= set(quality["quality"])
    assert {"colour", "shape", "background", "all"} <= set(quality["quality_with_motion_phrase"])
    assert quality["reader_accuracy_on_training_images"]["colour"] == 1.0
    base = load_base(workdir / "models/base")
    assert base.vae.config.scaling_factor != 0.18215  # set from the trained VAE's latent std
    assert (workdir / "models/base/unet_loss.csv").read_text().count("\n") == 1 + micro_pretrain_params().unet.steps


def test_vae_video_frames_are_a_seeded_choice_of_whole_clips(tmp_path):
    from animatelab.data.shards import list_shards, load_shard
    from animatelab.train.pretrain_base import load_video_frames

    folder = make_fake_prepared(tmp_path / "train", shards=2, clips=3, frames=4)
    clips = np.concatenate([load_shard(s)[0] for s in list_shards(folder)])
    frames = load_video_frames(folder, 4, seed=0)
    assert frames.shape == (16, *clips.shape[2:])
    assert np.array_equal(frames, load_video_frames(folder, 4, seed=0))
    chosen = [next(i for i, c in enumerate(clips) if np.array_equal(c, frames[k * 4:(k + 1) * 4])) for k in range(4)]
    assert chosen == sorted(set(chosen))  # whole clips, each once, in order
    assert load_video_frames(folder, 0, seed=0).shape[0] == 0
    with pytest.raises(ValueError, match="vae_video_clips"):
        load_video_frames(folder, 7, seed=0)


def test_caption_variants_are_the_plain_caption_then_every_motion_phrase():
    from animatelab.world import CAPTION_MOTIONS, PHRASES, caption_for, caption_variants

    variants = caption_variants("triangle", "red", "checker")
    assert variants[0] == caption_for("triangle", "red", "checker") == "a red triangle on a checker background"
    assert len(variants) == 1 + len(CAPTION_MOTIONS) == len(set(variants))
    assert "a red triangle moving left on a checker background" in variants
    assert variants[-1].endswith("camera zooming in")
    for v, m in zip(variants[1:], CAPTION_MOTIONS):
        assert "red triangle" in v and "checker background" in v
        assert PHRASES.get(m, "zooming") in v


def test_caption_variant_choice_is_seeded_and_draws_nothing_when_off():
    from animatelab.train.pretrain_base import pick_caption_variant
    from animatelab.train.randomness import StepRandom

    off = StepRandom(7, 64)
    assert pick_caption_variant(64, 9, 0.0, off).eq(0).all()
    assert torch.equal(off.randn((64, 3)), StepRandom(7, 64).randn((64, 3)))  # the stream is untouched
    always = pick_caption_variant(64, 9, 1.0, StepRandom(7, 64))
    assert always.ge(1).all() and always.le(8).all() and len(always.unique()) > 4
    half = pick_caption_variant(4096, 9, 0.5, StepRandom(7, 4096))
    assert 0.45 < half.gt(0).float().mean() < 0.55
    assert torch.equal(half, pick_caption_variant(4096, 9, 0.5, StepRandom(7, 4096)))
    assert pick_caption_variant(8, 1, 1.0, StepRandom(7, 8)).eq(0).all()  # no phrased variants to pick


def test_a_new_unet_recipe_resumes_the_finished_vae_but_not_the_unet():
    from animatelab.train.pretrain_base import phase_fingerprint

    p = micro_pretrain_params()
    same = {"checkpoint_dir": "/elsewhere", "threads": 7, "quality_samples": 9}
    unet_recipe = {"motion_phrase_prob": 0.0, "text_layers": 3, "unet": p.unet.model_copy(update={"lr": 1.0})}
    vae_recipe = {"vae_video_clips": 1, "vae": p.vae.model_copy(update={"lr": 1.0})}
    for phase in ("vae", "unet"):
        assert phase_fingerprint(p.model_copy(update=same), phase) == phase_fingerprint(p, phase)
        for k, v in vae_recipe.items():
            assert phase_fingerprint(p.model_copy(update={k: v}), phase) != phase_fingerprint(p, phase), (phase, k)
    for k, v in unet_recipe.items():
        assert phase_fingerprint(p.model_copy(update={k: v}), "vae") == phase_fingerprint(p, "vae"), k
        assert phase_fingerprint(p.model_copy(update={k: v}), "unet") != phase_fingerprint(p, "unet"), k
