"""``encode.cache_dtype``: the latent/text cache stored in half precision is half the bytes, reads
back as float32, and training on it follows the float32 cache's loss curve far closer than another
seed does (the difference is below the run-to-run noise)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from animatelab.models.encode import encode_dataset
from animatelab.data.latents import EncodedClips, EncodedFrames
from animatelab.models.base import load_base
from tests.conftest import core_group
from tests.tiny_fixtures import make_fake_prepared, save_tiny_base

DTYPES = ("float32", "float16", "bfloat16")


@pytest.fixture(scope="module")
def caches(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("cache_dtype")
    base_dir = save_tiny_base(root / "base")
    base = load_base(base_dir)
    prepared = make_fake_prepared(root / "prepared" / "train", shards=2, clips=4, frames=4)
    out = {}
    for dtype in DTYPES:
        out[dtype] = root / f"enc_{dtype}"
        info = encode_dataset(base, prepared, out[dtype], core_group("encode", batch_size=8, cache_dtype=dtype))
        assert info["cache_dtype"] == dtype and info["clips"] == 8
    return base_dir, out


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.safetensors"))


def test_stored_in_the_dtype_and_read_back_as_float32(caches):
    from safetensors.torch import load_file

    _, dirs = caches
    ref = EncodedClips(dirs["float32"])
    for dtype, folder in dirs.items():
        stored = load_file(str(folder / "shard-00000.safetensors"))
        assert stored["latents"].dtype == stored["text"].dtype == getattr(torch, dtype)
        clips = EncodedClips(folder)
        for i in range(len(clips)):
            item, want = clips[i], ref[i]
            for key in ("latents", "text"):
                assert item[key].dtype == torch.float32  # exactly the float32 value rounded to dtype
                assert torch.equal(item[key], want[key].to(getattr(torch, dtype)).float()), (dtype, key)
        frame = EncodedFrames(folder)[5]
        assert frame["latents"].dtype == frame["text"].dtype == torch.float32
    for dtype in ("float16", "bfloat16"):  # headers aside, exactly half the bytes
        assert 0.49 < _bytes(dirs[dtype]) / _bytes(dirs["float32"]) < 0.52


def _losses(base_dir: Path, encoded: Path, root: Path, seed: int) -> np.ndarray:
    from animatelab.train.adapter import train_domain_adapter

    name = f"{encoded.name}_s{seed}"
    p = core_group("train_adapter", **{
        "out_dir": str(root / name), "checkpoint_dir": str(root / "ckpt" / name), "lora": {"rank": 4}, "threads": 1,
        "loop": {"steps": 8, "batch_size": 4, "lr": 1e-3, "checkpoint_every": 8, "seed": seed}})
    result, _ = train_domain_adapter(base_dir, encoded, p)
    return np.array(result.losses)


def test_training_on_a_half_cache_matches_float32_within_noise(caches, tmp_path):
    base_dir, dirs = caches
    ref = _losses(base_dir, dirs["float32"], tmp_path, seed=0)
    noise = np.abs(_losses(base_dir, dirs["float32"], tmp_path, seed=1) - ref).mean()  # another seed
    assert noise > 0
    for dtype in ("float16", "bfloat16"):
        diff = np.abs(_losses(base_dir, dirs[dtype], tmp_path, seed=0) - ref)
        assert diff.max() < 0.02 * ref.max(), (dtype, diff)  # same curve, step by step
        assert diff.mean() < 0.1 * noise, (dtype, diff.mean(), noise)  # 10x below seed-to-seed noise
