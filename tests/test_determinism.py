"""Same inputs, same params, fresh process each time -> the same weight files, byte for byte.

Every training stage runs as the CLI (and DVC) runs it, ``python -m animatelab.cli <stage>``, in a
copy of one fabricated micro world: one copy in fresh processes, the other through the warm server
``make repro`` uses (``animatelab.warm``: forks of one process with torch already imported), so the same
test also shows that a warm stage writes what a cold one does. A run killed with SIGKILL after its
first checkpoint and resumed must end with the weights of an uninterrupted run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.motion_fixtures import make_world
from tests.tiny_fixtures import make_fake_prepared, make_fake_synth

pytestmark = pytest.mark.slow

# stage, --run: in pipeline order (each reads what the previous one wrote)
CHAIN = [("pretrain_base", None), ("train_adapter", None), ("train_motion", "with_adapter_s0"),
         ("train_motion_lora", "n2"), ("train_direction_lora", "left")]
# Written by models/official_format.py with two metadata keys, whose order safetensors 0.8 leaves to a
# Rust HashMap (see outputs.canonical_safetensors): compared by content until that writer
# canonicalises its file too; then this set is emptied.
HEADER_ORDER_PENDING: set[str] = set()
ADAPTER_CKPT = Path("models/checkpoints/domain_adapter/last/state.json")
ADAPTER_FILE = Path("models/domain_adapter/pytorch_lora_weights.safetensors")


def _env(root: Path) -> dict[str, str]:
    """Fixed thread counts, a random hash seed (nothing may depend on it), one MLflow store per copy."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "random",
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}


def _cmd(stage: str, run: str | None, *sets: str) -> list[str]:
    cmd = [sys.executable, "-m", "animatelab.cli", stage]
    cmd += ["--run", run] if run else []
    for s in sets:
        cmd += ["--set", s]
    return cmd


def _start(root: Path, stage: str, run: str | None = None, *sets: str, warm: str | None = None) -> subprocess.Popen:
    env = {**_env(root), **({"ANIMATELAB_WARM": warm} if warm else {})}
    return subprocess.Popen(_cmd(stage, run, *sets), cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, warm: bool = False) -> str:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, f"{proc.args}: {err[-3000:]}"
    assert not warm or "running cold" not in err, err[-2000:]  # the warm copy really ran warm
    return out


def _run(root: Path, stage: str, run: str | None = None, *sets: str) -> str:
    return _finish(_start(root, stage, run, *sets))


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """The motion world plus the inputs of pretrain_base; the base is retrained by the chain."""
    root = make_world(tmp_path_factory.mktemp("det") / "world")
    make_fake_synth(root / "data/synth")
    shutil.rmtree(root / "data/prepared/train")
    make_fake_prepared(root / "data/prepared/train", shards=2, clips=3, frames=4)
    return root


def _copy(world: Path, dst: Path) -> Path:
    return Path(shutil.copytree(world, dst, copy_function=shutil.copy2))


def _weights(root: Path) -> dict[str, bytes]:
    files = sorted((root / "models").rglob("*.safetensors"))
    return {str(f.relative_to(root)): f.read_bytes() for f in files}


def _differing_tensors(a: Path, b: Path) -> list[str]:
    """Names of the tensors (or ``__metadata__``) that differ between two safetensors files."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    ta, tb = load_file(str(a)), load_file(str(b))
    names = sorted(set(ta) ^ set(tb)) + [k for k in ta if k in tb and not ta[k].equal(tb[k])]
    same_meta = safe_open(str(a), "pt").metadata() == safe_open(str(b), "pt").metadata()
    return names + ([] if same_meta else ["__metadata__"])


def test_every_training_stage_gives_the_same_bytes_twice(world, tmp_path):
    from animatelab.warm import running_server

    runs = [_copy(world, tmp_path / name) for name in ("cold", "warm")]
    with running_server(env=_env(runs[1])) as server:
        assert server.path is not None
        for stage, run in CHAIN:  # both copies at once: a fresh process and a fork of the warm server
            cold, warm = _start(runs[0], stage, run), _start(runs[1], stage, run, warm=server.path)
            _finish(cold)
            _finish(warm, warm=True)
    first, second = (_weights(r) for r in runs)
    assert first.keys() == second.keys()
    for stage_dir in ("models/base/unet", "domain_adapter", "motion/with_adapter_s0", "motion_lora/n2",
                      "direction_lora/left"):
        assert any(stage_dir in k for k in first), (stage_dir, sorted(first))
    differing = {k: _differing_tensors(runs[0] / k, runs[1] / k) for k in first if first[k] != second[k]}
    pending = {k: v for k, v in differing.items() if Path(k).name in HEADER_ORDER_PENDING}
    assert not {k: v for k, v in pending.items() if v}, pending  # same tensors, same metadata
    assert not differing.keys() - pending.keys(), differing


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    end = time.monotonic() + timeout
    while not path.is_file():
        assert proc.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < end, f"no {path} after {timeout} s"
        time.sleep(0.01)


def test_sigkilled_then_resumed_run_ends_like_an_uninterrupted_one(world, tmp_path):
    sets = ("train_adapter.loop.steps=60", "train_adapter.loop.checkpoint_every=3")
    straight, killed = _copy(world, tmp_path / "straight"), _copy(world, tmp_path / "killed")
    for root in (straight, killed):  # the world's fabricated adapter: only a finished run may write one
        shutil.rmtree(root / ADAPTER_FILE.parent)
    uninterrupted = _start(straight, "train_adapter", None, *sets)
    proc = subprocess.Popen(_cmd("train_adapter", None, *sets), cwd=killed, env=_env(killed),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(killed / ADAPTER_CKPT, proc)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL and not (killed / ADAPTER_FILE).exists()
    _finish(uninterrupted)
    stdout = _run(killed, "train_adapter", None, *sets)
    resumed = int(stdout.split("resuming from checkpoint at step ")[1].split("/")[0])
    assert 0 < resumed < 60, stdout
    assert (killed / ADAPTER_FILE).read_bytes() == (straight / ADAPTER_FILE).read_bytes(), \
        _differing_tensors(killed / ADAPTER_FILE, straight / ADAPTER_FILE)
