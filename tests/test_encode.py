"""Encode stage: cached latents/text equal the VAE/text encoder outputs; shards split disjointly."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from animatelab.models.encode import encode_dataset, frames_to_pixels
from animatelab.data.latents import EncodedClips, EncodedFrames
from animatelab.models.base import encode_prompts, load_base
from tests.conftest import core_group
from tests.tiny_fixtures import make_fake_prepared, save_tiny_base


def test_encode_matches_vae_mean_and_text_encoder(tmp_path):
    base = load_base(save_tiny_base(tmp_path / "base"))
    prepared = make_fake_prepared(tmp_path / "prepared" / "train")
    info = encode_dataset(base, prepared, tmp_path / "enc", core_group("encode", batch_size=5))
    assert info["clips"] == 6
    clips = EncodedClips(tmp_path / "enc")
    assert len(clips) == 6 and clips[0]["latents"].shape == (4, 4, 16, 16) and clips[0]["text"].shape == (16, 32)
    from animatelab.data.shards import load_shard

    frames, meta = load_shard(prepared / "shard-00001.safetensors")
    with torch.no_grad():
        want = base.vae.encode(frames_to_pixels(frames[0])).latent_dist.mean * base.vae.config.scaling_factor
    torch.testing.assert_close(clips[3]["latents"], want, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(clips[3]["text"], encode_prompts(base, [meta[0]["caption"]])[0])
    torch.testing.assert_close(clips.empty_text, encode_prompts(base, [""])[0])
    assert clips.meta[3]["videoid"] == "1_0"
    frames_ds = EncodedFrames(tmp_path / "enc")
    assert len(frames_ds) == 24 and torch.equal(frames_ds[5]["latents"], clips[1]["latents"][1])


def test_encode_stage_shards_are_disjoint(workdir):
    from animatelab.cli import set_stage_threads
    from animatelab.config import load_params
    from animatelab.stages import encode

    save_tiny_base(workdir / "models/base")
    for name in ("train", "heldout", "motion_lora"):
        make_fake_prepared(workdir / "data/prepared" / name, shards=3, clips=2)
    params = load_params("params.yaml")
    set_stage_threads(params, "encode")  # what the CLI does before a stage runs
    for k in (0, 1):
        encode.run(params, SimpleNamespace(run=None, shard_index=k, num_shards=2))
    out = sorted(p.name for p in (workdir / "data/encoded/train").glob("shard-*.safetensors"))
    assert out == [f"shard-{i:05d}.safetensors" for i in range(3)]
    assert len(EncodedClips(workdir / "data/encoded/train")) == 6
