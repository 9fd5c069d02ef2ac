"""Tiny SD-format base: CLIP-consistent tokenizer, pipeline-folder round trip, pretrain stage."""

from __future__ import annotations

import json
from types import SimpleNamespace

import torch

from animatelab.config import load_params
from animatelab.models.base import encode_prompts, load_base
from tests.tiny_fixtures import make_fake_synth, micro_pretrain_params, save_tiny_base


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
    params = load_params("params.yaml")
    pretrain_base.run(params, SimpleNamespace(run=None, shard_index=None, num_shards=None))
    quality = json.loads((workdir / "models/base/quality.json").read_text())
    assert set(quality["quality"]) == {"colour", "shape", "background", "all"}
    assert quality["reader_accuracy_on_training_images"]["colour"] == 1.0
    base = load_base(workdir / "models/base")
    assert base.vae.config.scaling_factor != 0.18215  # set from the trained VAE's latent std
    assert (workdir / "models/base/unet_loss.csv").read_text().count("\n") == 1 + micro_pretrain_params().unet.steps
