"""Shared fixtures: micro params (seconds, same code paths as the default) in a tmp workdir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
MICRO = Path(__file__).with_name("micro_params.yaml")

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["ANIMATELAB_STRICT_TRACKING"] = "1"  # a failed MLflow call fails the test instead of warning


@pytest.fixture(autouse=True)
def _isolated_mlflow(tmp_path_factory, monkeypatch):
    """Every test logs to its own sqlite store, never the repo's mlflow.db."""
    db = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")


@pytest.fixture
def micro_params_dict() -> dict:
    return yaml.safe_load(MICRO.read_text())


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A tmp working directory holding micro params.yaml; stages run with paths relative to it."""
    (tmp_path / "params.yaml").write_text(MICRO.read_text())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_params(workdir: Path, data: dict) -> Path:
    path = workdir / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
