"""``dvc repro prepare`` (synth_data -> prepare) on micro params, in a temporary copy of the repo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, micro_text

VENV_BIN = Path(sys.executable).parent


def _repo_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                         cwd=REPO, capture_output=True, text=True, check=True)
    return [f for f in out.stdout.split("\0") if f and (REPO / f).is_file()]


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    dst = tmp_path / "repo"
    for rel in _repo_files():
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    (dst / "params.yaml").write_text(micro_text())
    return dst


def _dvc(repo: Path, *args: str, timeout: float = 300, warm: bool = False) -> subprocess.CompletedProcess:
    """``dvc ARGS`` in ``repo``; ``warm``: beside a warm stage server, as ``make repro`` runs it."""
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": str(repo / "src"), "DVC_NO_ANALYTICS": "1"}
    prefix = [str(VENV_BIN / "python"), "-m", "animatelab.warm", "--"] if warm else []
    return subprocess.run([*prefix, str(VENV_BIN / "dvc"), *args], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_dvc_repro_prepare(repo_copy):
    if not (repo_copy / ".dvc").is_dir():
        assert _dvc(repo_copy, "init", "--no-scm", "-q").returncode == 0
    else:
        assert _dvc(repo_copy, "config", "core.no_scm", "true").returncode == 0
    run = _dvc(repo_copy, "repro", "prepare")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads((repo_copy / "data/prepared/summary.json").read_text())
    assert summary["kept"] == 16 + 8 + 6 and summary["skipped"] == {}
    assert (repo_copy / "data/synth/ground_truth.json").is_file()
    lock = (repo_copy / "dvc.lock").read_text()
    assert "synth_data:" in lock and "prepare:" in lock
    again = _dvc(repo_copy, "repro", "prepare")  # cached: nothing reruns
    assert again.returncode == 0 and "didn't change" in again.stdout + again.stderr
