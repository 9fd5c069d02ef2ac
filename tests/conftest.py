"""Shared fixtures: micro params (seconds, same code paths as the default) in a tmp workdir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tests.micro import REPO, STUDIES, core_group, micro_files, micro_params, micro_text  # noqa: F401  (tests import them from here)

if os.environ.get("PYTEST_XDIST_WORKER"):
    # two workers on two cores: one thread each, for this process and every stage process it starts
    # (a stage whose params name no threads keeps the library default, two, and two processes of two
    # threads on two cores spin against each other)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["ANIMATELAB_STRICT_TRACKING"] = "1"  # a failed MLflow call fails the test instead of warning


@pytest.fixture(autouse=True)
def _isolated_mlflow(tmp_path_factory, monkeypatch):
    """Every test logs to its own sqlite store, never the repo's mlflow.db."""
    db = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")


def _scheduling() -> tuple[int, int]:
    return os.sched_getscheduler(0), os.sched_getparam(0).sched_priority


_SCHEDULING_AT_START = _scheduling()


@pytest.fixture(autouse=True)
def _scheduling_unchanged():
    """A test must leave the process's CPU scheduling as it found it.

    Native libraries can change it for good (SVT-AV1's encoder raises its thread to SCHED_FIFO 99 as
    root); every later test, and the processes it starts, would then inherit it. Failing here names the
    test instead of hanging the suite.
    """
    yield
    after = _scheduling()
    if after != _SCHEDULING_AT_START:
        os.sched_setscheduler(0, _SCHEDULING_AT_START[0], os.sched_param(_SCHEDULING_AT_START[1]))
        pytest.fail(f"this test or its fixtures changed the process's scheduling policy/priority "
                    f"{_SCHEDULING_AT_START} -> {after}")


@pytest.fixture
def micro_params_dict() -> dict:
    return micro_params()


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A tmp working directory holding micro params.yaml; stages run with paths relative to it."""
    (tmp_path / "params.yaml").write_text(micro_text())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_params(workdir: Path, data: dict) -> Path:
    path = workdir / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# the longest test files, started first: under xdist (two workers, one file per worker at a time) the micro
# DAG then overlaps everything else instead of running alone at the end
FIRST = ("test_dvc_full_pipeline.py", "test_determinism.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(FIRST)))  # stable: the rest keep their order
