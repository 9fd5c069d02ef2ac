"""Stage start-up: lazy imports, the cheap MLflow set-up keeps its tags, the schema check skip is safe."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "mlflow", "diffusers", "transformers", "accelerate", "peft", "cv2", "matplotlib")


def test_cli_and_stage_modules_import_nothing_heavy():
    code = ("import sys, animatelab.cli as c, importlib\n"
            "c.build_parser()\n"
            "[importlib.import_module(f'animatelab.stages.{s}')\n"
            " for s in c.STAGES if s not in c.RUN_ALIASES]\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_cli_sets_each_stage_groups_torch_threads():
    """Torch's threads are set in one place, the CLI, from the stage group's ``threads``: every stage
    that computes with torch has one (evaluate_moonshot uses evaluate's), the others leave torch alone."""
    from animatelab.cli import RUN_ALIASES, STAGES, stage_threads
    from animatelab.config import load_params
    from tests.conftest import REPO

    params = load_params(REPO / "params.yaml")
    stages = [s for s in STAGES if s not in RUN_ALIASES]
    assert {s for s in stages if stage_threads(params, s) is None} == {"synth_data", "prepare", "figures"}
    assert stage_threads(params, "evaluate_moonshot") == params.evaluate.threads
    assert all(stage_threads(params, s) == getattr(params, s).threads
               for s in stages if s not in {"synth_data", "prepare", "figures", "evaluate_moonshot"})


def _runs(uri: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("animatelab")
    return client.search_runs([exp.experiment_id])


def test_stage_run_logs_one_tagged_finished_run(tmp_path, monkeypatch):
    import mlflow

    from animatelab.tracking import git_commit, stage_run

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("DVC_STAGE", "sample@x")
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("another")  # a fluent experiment set earlier in the process does not matter
    with stage_run("sample", {"sample": {"frames": 8, "nested": {"a": 1}}}, "x"):
        mlflow.log_metric("m", 2.0)
    with stage_run("figures"):
        pass
    runs = {r.info.run_name: r for r in _runs(uri)}
    assert set(runs) == {"sample@x", "figures"}
    run = runs["sample@x"]
    assert run.info.status == "FINISHED" and run.data.metrics == {"m": 2.0}
    assert run.data.params == {"sample.frames": "8", "sample.nested.a": "1"}
    tags = run.data.tags
    assert tags["animatelab.stage"] == "sample" and tags["animatelab.run"] == "x"
    assert tags["dvc_stage"] == "sample@x"
    assert tags["git_commit"] == tags["mlflow.source.git.commit"] == git_commit() != ""
    assert tags["mlflow.runName"] == "sample@x" and tags["mlflow.source.type"] == "LOCAL"
    assert "animatelab.run" not in runs["figures"].data.tags


def test_schema_check_is_skipped_only_at_the_known_head(tmp_path, monkeypatch):
    import mlflow.store.db.utils as db_utils

    from animatelab import tracking

    monkeypatch.setattr(tracking, "HEAD_CACHE", tmp_path / "cache")
    calls = []
    real = db_utils._verify_schema
    monkeypatch.setattr(db_utils, "_verify_schema", lambda engine: calls.append(1) or real(engine))
    counting = db_utils._verify_schema
    first = tmp_path / "a.db"
    tracking.open_client(f"sqlite:///{first}")  # new db: migrations + full check, head cached
    head = tracking._head_file().read_text().strip()
    assert calls == [1] and head == tracking.sqlite_revision(f"sqlite:///{first}")
    shutil.copy(first, tmp_path / "b.db")  # a new URI, so mlflow opens a new store
    tracking.open_client(f"sqlite:///{tmp_path / 'b.db'}")
    assert calls == [1]  # at the head: skipped
    assert db_utils._verify_schema is counting  # restored after the store opened
    old = tmp_path / "c.db"
    shutil.copy(first, old)
    with sqlite3.connect(old) as db:
        db.execute("UPDATE alembic_version SET version_num = 'an_old_revision'")
    with pytest.raises(Exception, match="(?i)schema|revision"):
        tracking.open_client(f"sqlite:///{old}")
    assert calls == [1, 1]


def test_git_is_asked_once(monkeypatch):
    from animatelab import tracking

    tracking._git.cache_clear()
    calls = []
    real = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a) or real(*a, **k))
    root, commit = tracking.repo_root(), tracking.git_commit()
    assert tracking.repo_root() == root and tracking.git_commit() == commit and len(calls) == 1
    assert (root / ".git").exists() and len(commit) == 40
    tracking._git.cache_clear()


def test_allocator_tuning_applies_on_glibc(monkeypatch):
    from animatelab.cli import tune_allocator

    if not Path("/lib/x86_64-linux-gnu/libc.so.6").exists() and not Path("/usr/lib64/libc.so.6").exists():
        pytest.skip("not glibc")
    assert tune_allocator() is True
    monkeypatch.setenv("ANIMATELAB_MALLOPT", "0")
    assert tune_allocator() is False


def test_only_a_stage_process_freezes_the_collector_at_exit(workdir, monkeypatch):
    import gc
    import importlib
    from types import SimpleNamespace

    from animatelab import cli

    ran = []
    real_import = importlib.import_module
    def fake_import(name: str):
        if name.startswith("animatelab.stages."):
            return SimpleNamespace(run=lambda params, args: ran.append(name))
        return real_import(name)

    monkeypatch.setattr(importlib, "import_module", fake_import)
    gc.unfreeze()
    assert cli.main(["figures"]) == 0 and gc.get_freeze_count() == 0  # a caller (tests, notebooks): no freeze
    monkeypatch.setattr(sys, "argv", ["animatelab", "figures"])
    try:
        assert cli.main() == 0 and gc.get_freeze_count() > 0  # the command line: frozen before shutdown
    finally:
        gc.unfreeze()
    assert ran == ["animatelab.stages.figures"] * 2
