"""Every training stage's MLflow run holds its loss and learning-rate history at the logged steps.

The stages run on micro params (a fabricated world, tests/motion_fixtures.py) with ``log_every: 2``
and a warm-up, so the history has a known number of points (``ceil(steps / log_every)``: every
``log_every`` steps and the last) and known learning rates. Under tests a failed MLflow call
raises (``ANIMATELAB_STRICT_TRACKING=1``, tests/conftest.py), so a refused metric name fails here.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from tests.motion_fixtures import make_world, run_stage
from tests.tiny_fixtures import make_fake_prepared, make_fake_synth

LOG_EVERY = 2
# run name -> (metric keys, loop group in params); steps come from the params
TRAINING_RUNS = {
    "train_adapter": ([None], "train_adapter"),
    "train_motion@with_adapter_s0": ([None], "train_motion"),
    "train_motion_lora@n2": ([None], "train_motion_lora"),
    "train_direction_lora@left": ([None], "train_direction_lora"),
    "pretrain_base": (["vae", None], "pretrain_base"),  # the UNet is the base's model; its VAE a component
}


def _loop(params: dict, group: str, component: str | None) -> dict:
    return params[group][component or "unet"] if group == "pretrain_base" else params[group]["loop"]


def _with_logging(root: Path) -> dict:
    """Micro params with log_every 2 and a 4-step warm-up on every training loop."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    for group in ("train_adapter", "train_motion", "train_motion_lora", "train_direction_lora"):
        params[group]["loop"].update(log_every=LOG_EVERY, warmup_steps=4)
    for loop in ("vae", "unet"):
        params["pretrain_base"][loop].update(log_every=LOG_EVERY, warmup_steps=4)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return params


@pytest.fixture(scope="module")
def tracked(tmp_path_factory) -> tuple[str, dict]:
    """Run every training stage once against one sqlite store; returns (tracking URI, params)."""
    from animatelab.cli import set_stage_threads
    from animatelab.config import load_params
    from animatelab.stages import pretrain_base

    root = make_world(tmp_path_factory.mktemp("tracked_world"))
    params = _with_logging(root)
    uri = f"sqlite:///{tmp_path_factory.mktemp('tracked_mlflow') / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        for argv in (["train_adapter"], ["train_motion", "--run", "with_adapter_s0"],
                     ["train_motion_lora", "--run", "2"], ["train_direction_lora", "--run", "left"]):
            assert run_stage(root, *argv) == 0, argv
        base_root = tmp_path_factory.mktemp("tracked_pretrain")
        (base_root / "params.yaml").write_text((root / "params.yaml").read_text())
        make_fake_synth(base_root / "data/synth")
        make_fake_prepared(base_root / "data/prepared/train", shards=2, clips=3, frames=4)
        mp.chdir(base_root)
        base_params = load_params("params.yaml")
        set_stage_threads(base_params, "pretrain_base")  # what the CLI does before a stage runs
        pretrain_base.run(base_params, SimpleNamespace(run=None, shard_index=None, num_shards=None))
    return uri, params


def _histories(uri: str, run_name: str) -> dict[str, list[tuple[int, float]]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("animatelab")
    runs = [r for r in client.search_runs([exp.experiment_id]) if r.info.run_name == run_name]
    assert len(runs) == 1, f"{run_name}: {len(runs)} MLflow runs"
    run = runs[0]
    return {k: sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, k))
            for k in run.data.metrics}


@pytest.mark.parametrize("run_name", list(TRAINING_RUNS))
def test_loss_and_lr_history_at_the_logged_steps(tracked, run_name):
    from animatelab.config import LoopParams
    from animatelab.train.loop import loss_key, lr_factor, lr_key

    uri, params = tracked
    history = _histories(uri, run_name)
    keys, group = TRAINING_RUNS[run_name]
    for component in keys:
        key = loss_key(component)
        loop = _loop(params, group, component)
        steps = loop["steps"]
        expected = sorted({s for s in range(LOG_EVERY, steps + 1, LOG_EVERY)} | {steps})
        assert len(expected) == math.ceil(steps / LOG_EVERY)
        assert [s for s, _ in history[key]] == expected, (key, history.get(key))
        assert all(v > 0 and math.isfinite(v) for _, v in history[key])
        lrs = dict(history[lr_key(component)])  # the lr of the last step of each window
        assert sorted(lrs) == expected
        assert lrs[2] == pytest.approx(loop["lr"] * 2 / 4, rel=1e-9)  # half-way through the 4-step warm-up
        cfg = LoopParams.model_validate(loop)
        for step, value in lrs.items():  # the schedule's own value at that (1-based) step
            assert value == pytest.approx(loop["lr"] * lr_factor(step - 1, cfg), rel=1e-9), (key, step)


def test_no_metric_named_after_the_run(tracked):
    """The old key ``{run_name}/loss`` had '@' in foreach stages, which MLflow refuses."""
    uri, _ = tracked
    for run_name in TRAINING_RUNS:
        assert not any("@" in k for k in _histories(uri, run_name))


def test_strict_tracking_raises_on_a_refused_name(tmp_path, monkeypatch):
    import mlflow

    from animatelab.train.loop import _log_mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'm.db'}")
    assert os.environ["ANIMATELAB_STRICT_TRACKING"] == "1"
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.set_experiment("strict")
    with mlflow.start_run():
        with pytest.raises(Exception, match="(?i)invalid|name"):
            _log_mlflow({"train_motion@x/loss": 1.0}, 1)
        monkeypatch.delenv("ANIMATELAB_STRICT_TRACKING")
        _log_mlflow({"train_motion@x/loss": 1.0}, 1)  # outside tests: a warning, training goes on


def test_experiment_opens_as_model_training(tmp_path):
    """MLflow 3's UI opens an untagged experiment in its GenAI traces view; ours is tagged as model training,
    at creation and, for a store created before the tag, the next time a stage opens it."""
    from animatelab.tracking import EXPERIMENT, EXPERIMENT_KIND, experiment_id, open_client

    client = open_client(f"sqlite:///{tmp_path / 'new.db'}")
    exp = client.get_experiment(experiment_id(client))
    assert exp.name == EXPERIMENT and exp.tags["mlflow.experimentKind"] == "custom_model_development"
    old = open_client(f"sqlite:///{tmp_path / 'old.db'}")
    old.create_experiment(EXPERIMENT)
    assert "mlflow.experimentKind" not in old.get_experiment_by_name(EXPERIMENT).tags
    assert old.get_experiment(experiment_id(old)).tags.items() >= EXPERIMENT_KIND.items()
