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
    from animatelab.stages import pretrain_base

    make_fake_synth(workdir / "data" / "synth")
    make_fake_prepared(workdir / "data/prepared/train", shards=2, clips=3, frames=4)
    params = load_params("params.yaml")
    pretrain_base.run(params, SimpleNamespace(run=None, shard_index=None, num_shards=None))
    quality = json.loads((workdir / "models/base/quality.json").read_text())
    # the VAE saw the clean images plus every frame of vae_video_clips prepared clips; the UNet images only
    assert quality["vae_video_frames"] == params.pretrain_base.vae_video_clips * 4
    assert quality["vae_images"] == 16
    assert {"colour", "shape", "background", "all"} <= set(quality["quality"])
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
