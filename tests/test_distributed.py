"""Multi-process behaviour on CPU: per-rank data splits and DDP equivalence (gloo, 2 processes)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from animatelab import parallel
from animatelab.cli import main as cli
from tests.conftest import REPO


# --------------------------------------------------------------------------- helpers
def test_rank_slices_partition_the_global_batch():
    items = list(range(11))
    for world in (1, 2, 3, 4):
        parts = [list(parallel.rank_slice(items, r, world)) for r in range(world)]
        assert sum(parts, []) == items
        assert max(map(len, parts)) - min(map(len, parts)) <= 1
    with pytest.raises(ValueError):
        parallel.rank_slice(items, 2, 2)


def test_shard_of_prefers_cli_then_launcher_env(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ns = argparse.Namespace
    assert parallel.shard_of(ns(shard_index=None, num_shards=None)) == (None, None)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert parallel.shard_of(ns(shard_index=None, num_shards=None)) == (1, 4)
    assert parallel.shard_of(ns(shard_index=0, num_shards=2)) == (0, 2)
    assert parallel.main_process_only(lambda: "exported")() is None
    monkeypatch.setenv("RANK", "0")
    assert parallel.main_process_only(lambda: "exported")() == "exported"


# --------------------------------------------------------------------------- prepare across hosts
def _clips(folder: Path, pattern: str) -> dict[str, bytes]:
    from animatelab.data.shards import load_shard

    out: dict[str, bytes] = {}
    for shard in sorted(folder.glob(pattern)):
        frames, meta = load_shard(shard)
        for clip, m in zip(frames, meta):
            assert m["videoid"] not in out
            out[m["videoid"]] = np.ascontiguousarray(clip).tobytes()
    return out


@pytest.mark.skipif(importlib.util.find_spec("animatelab.stages.prepare") is None, reason="prepare not written yet")
def test_prepare_shards_are_disjoint_and_cover_one_run(workdir):
    assert cli(["synth_data"]) == 0
    one = ["prepare", "--set", "prepare.out_dir=data/one"]
    assert cli(one) == 0
    for k in (0, 1):
        assert cli(["prepare", "--set", "prepare.out_dir=data/two", "--shard-index", str(k), "--num-shards", "2"]) == 0
    for name in ("train", "heldout", "motion_lora"):
        single = _clips(workdir / "data/one" / name, "shard-*.safetensors")
        host0 = _clips(workdir / "data/two" / name, "shard-h000-*.safetensors")
        host1 = _clips(workdir / "data/two" / name, "shard-h001-*.safetensors")
        assert host0 and host1 and not set(host0) & set(host1)
        assert {**host0, **host1} == single  # same clips, byte for byte
    merged = json.loads((workdir / "data/two/summary.json").read_text())
    alone = json.loads((workdir / "data/one/summary.json").read_text())
    assert merged["complete"] and merged["kept"] == alone["kept"] and merged["skipped"] == alone["skipped"]
