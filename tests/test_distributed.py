"""Multi-process behaviour on CPU: per-rank data splits and DDP equivalence (gloo, 2 processes).

The training checks launch ``tests/ddp_worker.py`` (a tiny model trained by
``animatelab.train.loop.fit``) with ``torch.distributed.run --nproc_per_node 2`` (gloo) and with
one plain process, and compare the weights.
"""

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


# --------------------------------------------------------------------------- training under accelerate
WORKER = Path(__file__).with_name("ddp_worker.py")
B = 3  # per-process batch of the 2-process run


def _launch(out: Path, processes: int, batch: int, jobs: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    if processes == 1:
        cmd = [sys.executable, str(WORKER)]
    else:
        # `accelerate launch --cpu --num_processes N` starts N processes only through mpirun; torchrun
        # does it directly, and ACCELERATE_USE_CPU makes accelerate join them with gloo (MULTI_CPU).
        env["ACCELERATE_USE_CPU"] = "true"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
               str(WORKER)]
    proc = subprocess.run([*cmd, str(out), str(batch), jobs], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    if importlib.util.find_spec("animatelab.train.loop") is None:
        pytest.skip("animatelab.train.loop not written yet")
    out = tmp_path_factory.mktemp("ddp")
    # 2 processes x batch B: 4 steps; the same with the diffusion-like noisy loss; 2 steps then stop.
    _launch(out, 2, B, "two:4:plain,two_noisy:4:noisy,two_half:2:plain:handoff")
    # 1 process x batch 2B: the same jobs, and a resume of the 2-process checkpoint to step 4.
    _launch(out, 1, 2 * B, "one:4:plain,one_noisy:4:noisy,resumed:4:plain:handoff")
    return out


def _weights(out: Path, name: str) -> dict:
    from safetensors.torch import load_file

    return load_file(str(out / f"{name}.safetensors"))


def _assert_close(a: dict, b: dict) -> None:
    import torch

    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)


def test_two_processes_equal_one_process_with_double_batch(trained):
    import torch

    from tests.ddp_worker import toy_model

    one, two = _weights(trained, "one"), _weights(trained, "two")
    init = toy_model().state_dict()
    assert any(not torch.allclose(one[k], init[k]) for k in one)  # it did train
    _assert_close(two, one)


def test_resume_under_another_process_count(trained):
    """A checkpoint written by 2 processes x B resumes in 1 process x 2B: same global batches."""
    assert (trained / "resumed.resumed").read_text() == "2"
    _assert_close(_weights(trained, "resumed"), _weights(trained, "one"))


def test_noise_sampling_is_independent_of_process_count(trained):
    """With noise in the loss (as in diffusion training), 2 processes x b still equal 1 x 2b."""
    _assert_close(_weights(trained, "two_noisy"), _weights(trained, "one_noisy"))
