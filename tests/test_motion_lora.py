"""train_motion_lora: LoRA on temporal attention only, loadable with AnimateDiffPipeline.load_lora_weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.motion_fixtures import make_world, run_stage


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = make_world(tmp_path_factory.mktemp("lora_world"))
    assert run_stage(root, "train_motion", "--run", "with_adapter_s0") == 0
    assert run_stage(root, "train_motion_lora", "--run", "2") == 0
    return root


def test_lora_targets_temporal_attention_only(world):
    from safetensors.torch import load_file

    state = load_file(str(world / "models/motion_lora/n2/pytorch_lora_weights.safetensors"))
    assert state and all(".motion_modules." in k for k in state)
    assert any("attn1" in k for k in state) and any("attn2" in k for k in state)
    assert any(float(v.abs().max()) > 0 for k, v in state.items() if "lora_B" in k or "lora.up" in k)


def test_pipeline_load_lora_weights_changes_the_unet(world):
    from diffusers import AnimateDiffPipeline

    from animatelab.models.base import load_base
    from animatelab.models.motion import load_motion_unet

    base = load_base(world / "models/base")
    unet = load_motion_unet(base.unet, world / "models/motion/with_adapter_s0")
    pipe = AnimateDiffPipeline(vae=base.vae, text_encoder=base.text_encoder, tokenizer=base.tokenizer, unet=unet,
                               motion_adapter=None, scheduler=base.scheduler)
    g = torch.Generator().manual_seed(0)
    x, text = torch.randn(1, 4, 8, 8, 8, generator=g), torch.randn(8, 8, 32, generator=g)
    with torch.no_grad():
        before = pipe.unet(x, torch.tensor([300]), encoder_hidden_states=text).sample
        pipe.load_lora_weights(str(world / "models/motion_lora/n2"), adapter_name="motion_lora")
        after = pipe.unet(x, torch.tensor([300]), encoder_hidden_states=text).sample
    assert "motion_lora" in pipe.get_active_adapters()
    assert (before - after).abs().max() > 0


def test_n_beyond_dataset_or_params_fails(world):
    assert run_stage(world, "train_motion_lora", "--run", "3") == 2  # not in n_videos


def test_clips_with_phrase_selects_by_caption():
    from animatelab.train.motion_lora import clips_with_phrase

    meta = [{"caption": "a red circle Moving Left on a blue background"}, {"caption": "a square moving right"},
            {"caption": "a circle moving left"}, {}]
    assert clips_with_phrase(meta, "moving left", 5) == [0, 2]
    assert clips_with_phrase(meta, "moving left", 1) == [0]


def test_direction_lora_trains_on_its_direction_and_samples_ask_for_it(world):
    """RQ5: the LoRA of "left" sees only clips captioned "moving left"; its samples ask for "left"."""
    import json

    assert run_stage(world, "train_direction_lora", "--run", "left") == 0
    summary = json.loads((world / "models/direction_lora/left/train_summary.json").read_text())
    truth = json.loads((world / "data/synth/ground_truth.json").read_text())
    assert summary["n_videos"] == 3 and all(truth[v]["motion"] == "left" for v in summary["videoids"])
    assert (world / "models/direction_lora/left/pytorch_lora_weights.safetensors").is_file()
    assert run_stage(world, "sample_direction_lora", "--run", "left") == 0
    prompts = json.loads((world / "samples/dir_left/scale_0.0/prompts.json").read_text())
    assert all(p["motion"] == "left" and "moving left" in p["prompt"] for p in prompts)


def test_direction_without_clips_or_unknown_is_an_error(world):
    with pytest.raises(ValueError, match="no caption"):
        run_stage(world, "train_direction_lora", "--run", "right")  # the micro world only moves left
    assert run_stage(world, "train_direction_lora", "--run", "sideways") == 2
