"""Stages split over local processes (``parallel.launch_local``): the same outputs, written once.

``train_motion.processes: 2`` trains one module with two DDP processes of half the batch each;
``probe.processes: 2`` probes half of the runs in each process and merges their files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from tests.motion_fixtures import make_world, run_stage
from tests.probe_fixtures import write_domain_adapter, write_world


def _set(root: Path, group: str, **values) -> None:
    import yaml

    path = root / "params.yaml"
    data = yaml.safe_load(path.read_text())
    for key, value in values.items():
        node = data[group]
        *parents, leaf = key.split(".")
        for k in parents:
            node = node[k]
        node[leaf] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _runs_named(uri: str, name: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("animatelab")
    return [r for r in client.search_runs([exp.experiment_id]) if r.info.run_name == name]


def test_ddp_training_equals_one_process_with_the_whole_batch(tmp_path_factory):
    from safetensors.torch import load_file

    one = make_world(tmp_path_factory.mktemp("one"))
    two = make_world(tmp_path_factory.mktemp("two"))
    _set(two, "train_motion", processes=2, threads=1, **{"loop.batch_size": 1})  # 2 x 1 = the 1 x 2 batch
    assert run_stage(one, "train_motion", "--run", "with_adapter_s0") == 0
    assert run_stage(two, "train_motion", "--run", "with_adapter_s0") == 0
    name = "diffusion_pytorch_model.safetensors"
    a, b = (load_file(str(r / "models/motion/with_adapter_s0" / name)) for r in (one, two))
    assert a.keys() == b.keys()
    moved = [k for k in a if "proj_out" in k]
    # training moved the zero-initialised outputs by the same steps: Adam's first steps are ~lr * sign(grad),
    # so near-zero gradients may flip with the all-reduce's float order; the update as a whole agrees
    update = sum(a[k].pow(2).sum() for k in moved).sqrt()
    gap = sum((a[k] - b[k]).pow(2).sum() for k in a).sqrt()
    assert update > 0 and gap < 0.02 * update, (float(gap), float(update))
    rows = [(r / "models/motion/with_adapter_s0/loss.csv").read_text().splitlines() for r in (one, two)]
    assert len(rows[0]) == len(rows[1]) == 1 + 4  # the logged loss is the global batch's, once per step
    for x, y in zip(rows[0][1:], rows[1][1:]):
        assert float(x.split(",")[1]) == pytest.approx(float(y.split(",")[1]), rel=1e-4)
    runs = _runs_named(os.environ["MLFLOW_TRACKING_URI"], "train_motion@with_adapter_s0")
    assert len(runs) == 2 and all("train/loss" in r.data.metrics for r in runs)  # one per stage, not per rank


def test_a_failing_rank_fails_the_stage_without_hanging(tmp_path_factory):
    world = make_world(tmp_path_factory.mktemp("fail"))
    _set(world, "train_motion", processes=2, threads=1)
    (world / "data/encoded/train").rename(world / "data/encoded/gone")  # every rank fails to load its data
    with pytest.raises(RuntimeError, match="local processes exited"):
        run_stage(world, "train_motion", "--run", "with_adapter_s0")
    assert not (world / "models/motion/with_adapter_s0/train_summary.json").exists()


def test_probe_split_over_processes_writes_the_same_files(workdir, micro_params_dict):
    from tests.conftest import write_params

    write_world(workdir, {"with_adapter_s0": 0}, frames=8)
    write_domain_adapter(workdir)  # the adapter's gap is measured by one process: the merge keeps it
    micro_params_dict["probe"]["runs"] = ["with_adapter_s0", "no_adapter_s0"]  # no_adapter_s0 not trained
    write_params(workdir, micro_params_dict)
    from animatelab.cli import main

    assert main(["probe"]) == 0
    out = workdir / "metrics/probes"
    single = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert {"adapter_gap.json", "domain_signal.json"} <= set(single)
    assert "no_adapter_s0" in json.loads(single["missing.json"])
    micro_params_dict["probe"]["processes"] = 2
    write_params(workdir, micro_params_dict)
    for p in out.iterdir():
        p.unlink()
    assert main(["probe"]) == 0
    split = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    assert split == single
    assert not list(workdir.glob("metrics/.probes-shard-*"))  # the shards' folders are gone
    assert len(_runs_named(os.environ["MLFLOW_TRACKING_URI"], "probe")) == 2  # the shards log nothing
