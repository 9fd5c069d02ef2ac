"""MLflow set-up shared by every stage: one run per stage execution, tagged for provenance.

The default tracking URI is an absolute ``sqlite:///<repo>/mlflow.db`` so that DVC queued
experiments (which run in temporary copies) still log to the one database.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def repo_root() -> Path:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True
        )
        return Path(out.stdout.strip())
    except (subprocess.CalledProcessError, FileNotFoundError):
        return Path.cwd()


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root() / 'mlflow.db'}"


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{key}."))
        else:
            out[key] = v
    return out


@contextlib.contextmanager
def stage_run(stage: str, params: Mapping[str, Any] | None = None, run: str | None = None) -> Iterator[Any]:
    """An MLflow run for one stage execution, tagged with git commit, DVC stage and experiment."""
    import logging

    import mlflow

    for noisy in ("alembic", "mlflow.store.db.utils"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_experiment("animatelab")
    name = stage if run is None else f"{stage}@{run}"
    tags = {
        "animatelab.stage": stage,
        "git_commit": git_commit(),
        "dvc_stage": os.environ.get("DVC_STAGE", name),
    }
    if run is not None:
        tags["animatelab.run"] = run
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_exp_name"] = os.environ["DVC_EXP_NAME"]
    with mlflow.start_run(run_name=name, tags=tags) as active:
        if params:
            flat = {k: str(v)[:500] for k, v in flatten(params).items()}
            items = list(flat.items())
            for i in range(0, len(items), 100):
                mlflow.log_params(dict(items[i : i + 100]))
        yield active
