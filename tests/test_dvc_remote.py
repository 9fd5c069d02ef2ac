"""Sharing results: ``dvc push`` / ``dvc pull`` round-trip outputs through the repo's default remote
(a folder beside the checkout) and through one a user names with ``dvc remote add -d``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

VENV_BIN = Path(sys.executable).parent
STAGE = """stages:
  make:
    cmd: python -c "import pathlib; pathlib.Path('out').mkdir(exist_ok=True); \
pathlib.Path('out/data.bin').write_bytes(bytes(range(256)) * 64); pathlib.Path('out/note.txt').write_text('hi')"
    outs:
      - out
"""


def _run(cwd: Path, *cmd: str) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{cmd}: {out.stdout[-2000:]}{out.stderr[-2000:]}"
    return out.stdout


def _dvc(cwd: Path, *args: str) -> str:
    return _run(cwd, str(VENV_BIN / "dvc"), *args)


@pytest.fixture
def project(tmp_path) -> Path:
    """A one-stage DVC project with the repo's own ``.dvc/config`` (and so its default remote)."""
    root = tmp_path / "checkout"
    root.mkdir()
    _run(root, "git", "init", "-q")
    _dvc(root, "init", "-q")
    shutil.copy(REPO / ".dvc/config", root / ".dvc/config")
    (root / "dvc.yaml").write_text(STAGE)
    _dvc(root, "repro", "-q")
    return root


def _digest(folder: Path) -> dict[str, bytes]:
    return {str(f.relative_to(folder)): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()}


def _round_trip(root: Path, out: str = "out", stage: str = "make") -> dict[str, bytes]:
    """push, delete the outputs and the whole cache, pull, and get the same bytes back."""
    before = _digest(root / out)
    _dvc(root, "push", stage)
    shutil.rmtree(root / out)
    shutil.rmtree(root / ".dvc/cache")
    _dvc(root, "pull", stage)
    assert _digest(root / out) == before
    assert "Data and pipelines are up to date" in _dvc(root, "status", stage)
    return before


def test_default_remote_is_a_folder_beside_the_checkout(project):
    assert _dvc(project, "remote", "default").strip() == "local"
    assert len(_round_trip(project)["data.bin"]) == 256 * 64
    store = project.parent / "animatelab-dvc-store"
    assert store.is_dir() and any(f.is_file() for f in store.rglob("*"))


def test_a_remote_the_user_names(project, tmp_path):
    elsewhere = tmp_path / "shared" / "store"
    _dvc(project, "remote", "add", "-d", "myremote", str(elsewhere))
    _round_trip(project)
    assert any(f.is_file() for f in elsewhere.rglob("*"))
    assert not (project.parent / "animatelab-dvc-store").exists()


def test_synth_data_round_trip_on_micro_params(tmp_path):
    """The real first stage (micro params) in a copy of the repo: its outputs come back byte for byte."""
    from tests.conftest import micro_text
    from tests.test_dvc_pipeline import _repo_files

    root = tmp_path / "repo"
    for rel in _repo_files():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, root / rel)
    (root / "params.yaml").write_text(micro_text())
    _dvc(root, "config", "core.no_scm", "true")
    env_path = f"PYTHONPATH={root / 'src'}"
    _run(root, "env", env_path, str(VENV_BIN / "dvc"), "repro", "-q", "synth_data")
    files = _round_trip(root, "data/synth", "synth_data")
    assert sum(k.endswith(".mp4") for k in files) == 16 + 8 + 6
    assert (tmp_path / "animatelab-dvc-store").is_dir()
