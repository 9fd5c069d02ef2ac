"""MLflow set-up shared by every stage: one run per stage execution, tagged for provenance.

The default tracking URI is an absolute ``sqlite:///<repo>/mlflow.db`` so that DVC queued
experiments (which run in temporary copies) still log to the one database.

Set-up is kept cheap because every one of the ~56 stages of a repro pays it: one ``git``
call for root and commit, the run created with our own tags (``mlflow.start_run`` would resolve
its context providers, which import GitPython and walk the repository), and the sqlite store's
alembic schema check (it parses every migration script) skipped when the database already holds
the head revision that this mlflow version was seen to expect (cached per mlflow version).
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

EXPERIMENT = "animatelab"
# MLflow 3's UI opens an experiment by its kind: untagged, it guesses and offers the GenAI traces view
# (0 traces, "Evaluation runs"); a model-training experiment opens on the runs table
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
HEAD_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "animatelab"


@functools.lru_cache(maxsize=8)
def _git(cwd: str) -> tuple[Path, str]:
    """(repo root, HEAD commit) of ``cwd`` from one ``git`` call; (cwd, "unknown") outside a repository."""
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, check=True).stdout.split()
        return Path(out[0]), out[1]
    except (subprocess.CalledProcessError, FileNotFoundError, IndexError):
        return Path(cwd), "unknown"


def repo_root() -> Path:
    return _git(os.getcwd())[0]


def git_commit() -> str:
    return _git(os.getcwd())[1]


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


def sqlite_revision(uri: str) -> str | None:
    """The alembic revision stored in a ``sqlite:///`` database, read with the stdlib (no SQLAlchemy)."""
    path = uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else None
    if not path or not Path(path).is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None
    except sqlite3.Error:
        return None


def _head_file() -> Path:
    from mlflow.version import VERSION

    return HEAD_CACHE / f"mlflow-{VERSION}-schema-head"


@contextlib.contextmanager
def _schema_check_skipped_if_current(uri: str) -> Iterator[None]:
    """Skip mlflow's schema verification while the store opens, if the db is at the cached head.

    An older db or an unknown head runs the full check (which raises on an old schema), and a
    store that opens cleanly records its revision as this mlflow version's head.
    """
    import mlflow.store.db.utils as db_utils

    current, head_file = sqlite_revision(uri), _head_file()
    known = head_file.read_text().strip() if head_file.is_file() else None
    original = db_utils._verify_schema
    if current is not None and current == known:
        db_utils._verify_schema = lambda engine: None
    try:
        yield
    finally:
        db_utils._verify_schema = original
    if known is None and (rev := sqlite_revision(uri)) is not None:
        with contextlib.suppress(OSError):
            head_file.parent.mkdir(parents=True, exist_ok=True)
            head_file.write_text(rev + "\n")


def open_client(uri: str) -> Any:
    """An ``MlflowClient`` on ``uri`` (constructing it opens the store, schema check included)."""
    from mlflow.tracking import MlflowClient

    sqlite = uri.startswith("sqlite:///")
    with _schema_check_skipped_if_current(uri) if sqlite else contextlib.nullcontext():
        return MlflowClient(uri)


def experiment_id(client: Any) -> str:
    """The ``animatelab`` experiment's id, created on first use as a model-training experiment
    (an experiment created before that is tagged the first time a stage uses it)."""
    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        return client.create_experiment(EXPERIMENT, tags=EXPERIMENT_KIND)
    for key, value in EXPERIMENT_KIND.items():
        if exp.tags.get(key) != value:
            client.set_experiment_tag(exp.experiment_id, key, value)
    return exp.experiment_id


def run_tags(stage: str, name: str, run: str | None) -> dict[str, str]:
    """Our provenance tags plus the source/user/commit tags mlflow's context providers would add."""
    tags = {
        "animatelab.stage": stage,
        "git_commit": git_commit(),
        "dvc_stage": os.environ.get("DVC_STAGE", name),
        "mlflow.source.name": sys.argv[0] or "<console>",
        "mlflow.source.type": "LOCAL",
        "mlflow.source.git.commit": git_commit(),
    }
    with contextlib.suppress(Exception):
        tags["mlflow.user"] = getpass.getuser()
    if run is not None:
        tags["animatelab.run"] = run
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_exp_name"] = os.environ["DVC_EXP_NAME"]
    return tags


@contextlib.contextmanager
def stage_run(stage: str, logged: Mapping[str, Any] | None = None, run: str | None = None) -> Iterator[Any]:
    """An MLflow run for one stage execution, tagged with git commit, DVC stage and experiment; ``logged``
    (the stage's params groups, as plain data) becomes the run's MLflow params."""
    import logging

    import mlflow

    for noisy in ("alembic", "mlflow.store.db.utils"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    client = open_client(uri)
    exp = experiment_id(client)
    mlflow.set_experiment(experiment_id=exp)  # fluent calls inside the stage log here too
    name = stage if run is None else f"{stage}@{run}"
    created = client.create_run(exp, tags=run_tags(stage, name, run), run_name=name)
    with mlflow.start_run(run_id=created.info.run_id) as active:
        if logged:
            flat = {k: str(v)[:500] for k, v in flatten(logged).items()}
            items = list(flat.items())
            for i in range(0, len(items), 100):
                mlflow.log_params(dict(items[i : i + 100]))
        yield active
