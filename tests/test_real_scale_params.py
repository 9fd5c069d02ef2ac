"""The real-scale pipeline (experiments/webvid-sd15) validates, checks its paths, and lists its stages.

No SD1.5 weights or WebVid videos here: external inputs are stubbed in a temp copy, so these
tests check the wiring (schema, DAG, path errors), not the compute.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from animatelab.config import ParamsError, check_paths, load_params, required_paths
from tests.conftest import REPO

EXP = REPO / "experiments" / "webvid-sd15"
DVC = [sys.executable, "-m", "dvc"]
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1"}
STAGES = ["prepare", "encode", "train_adapter", "train_motion", "train_motion_lora", "sample", "sample_lora", "evaluate",
          "evaluate_lora", "figures"]


@pytest.fixture(scope="module")
def params():
    return load_params(EXP / "params.yaml")


def test_official_settings(params):
    p, m = params.prepare, params.train_motion
    assert (p.resolution, p.frames, p.stride) == (256, 16, 4)
    assert m.frames == 16 and m.loop.lr == 1e-4 and m.loop.batch_size == 4
    assert (m.noise.beta_schedule, m.noise.beta_start, m.noise.beta_end) == ("linear", 0.00085, 0.012)
    for loop in (params.train_adapter.loop, m.loop, params.train_motion_lora.loop):
        assert loop.mixed_precision in {"bf16", "fp16"} and loop.gradient_checkpointing
    assert {r.with_adapter for r in m.runs.values()} == {True, False}
    assert params.train_motion_lora.motion_run in m.runs
    assert params.evaluate.fvd_backbone == "i3d"


def test_motion_params_give_the_published_module(params):
    """The runs' module settings on SD1.5 give the official v3 layout (417,137,600 parameters),
    through the trainer's own config builder (animatelab.models.motion.adapter_config)."""
    from diffusers import MotionAdapter

    from animatelab.models import sd15
    from animatelab.models.motion import adapter_config

    unet2d = sd15.sd15_unet(meta=True)
    for run in params.train_motion.runs.values():
        assert run.module.max_seq_length >= params.train_motion.frames
        cfg = adapter_config(unet2d, run.module)
        v3 = sd15.MOTION_ADAPTER_CONFIGS["v3"]
        assert {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()} == {k: v3[k] for k in cfg}
        with sd15._context(meta=True):
            assert sd15.count_params(MotionAdapter(**cfg)) == sd15.MOTION_ADAPTER_PARAMS["v3"]


def test_missing_input_is_an_error_naming_the_param(params, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing under external/ here
    for stage, key in [("prepare", "prepare.datasets.0.csv"), ("encode", "base.path"),
                       ("train_motion", "base.path"), ("evaluate", "evaluate.i3d_path")]:
        with pytest.raises(ParamsError, match=key.replace(".", r"\.")) as err:
            check_paths(params, stage)
        assert "\n" not in str(err.value) and "not found" in str(err.value)


def test_present_inputs_pass(params, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _stub_external(params, tmp_path)
    for stage in STAGES:
        check_paths(params, stage)
    assert set(required_paths(params, "evaluate")) == {"evaluate.i3d_path", "evaluate.clip"}


@pytest.mark.skipif(importlib.util.find_spec("animatelab.stages.prepare") is None, reason="prepare stage not written yet")
def test_stage_fails_before_compute_on_missing_path():
    proc = subprocess.run(
        [sys.executable, "-m", "animatelab.cli", "prepare"], cwd=EXP, capture_output=True, text=True, env=ENV
    )
    assert proc.returncode != 0 and "prepare.datasets.0.csv" in proc.stderr
    assert not (EXP / "data").exists()


def _stub_external(params, root: Path) -> None:
    """Empty stand-ins for every external input path the params name."""
    for stage in STAGES:
        for key, value in required_paths(params, stage).items():
            path = root / value
            if key.endswith(("video_dir", "base.path")):
                path.mkdir(parents=True, exist_ok=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory, params) -> Path:
    """A DVC repo holding this pipeline and the sources it depends on, inputs stubbed."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(REPO / ".dvc", root / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    exp = root / "experiments" / "webvid-sd15"
    shutil.copytree(EXP, exp, ignore=shutil.ignore_patterns("data", "models", "samples", "metrics", "external"))
    subprocess.run([*DVC, "config", "core.no_scm", "true"], cwd=root, check=True, env=ENV)
    _stub_external(params, exp)
    return root


def _expected_stage_names(params) -> list[str]:
    names = []
    for stage in STAGES:
        if stage in {"train_motion", "sample", "evaluate"}:
            names += [f"{stage}@{run}" for run in params.train_motion.runs]
        elif stage in {"train_motion_lora", "sample_lora", "evaluate_lora"}:
            names += [f"{stage}@{n}" for n in params.train_motion_lora.n_videos]
        else:
            names.append(stage)
    return names


def test_dvc_stage_list(repo_copy, params):
    proc = subprocess.run([*DVC, "stage", "list", "--name-only"], cwd=repo_copy / "experiments" / "webvid-sd15",
                          capture_output=True, text=True, env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == _expected_stage_names(params)


def test_dvc_repro_dry_runs_every_stage_in_order(repo_copy, params):
    """``dvc repro --dry`` stops at a missing upstream output (treeverse/dvc#9021): stub those."""
    from dvc.repo import Repo

    exp = repo_copy / "experiments" / "webvid-sd15"
    with Repo(str(repo_copy)) as repo:
        deps = [Path(d.fs_path) for s in repo.index.stages for d in s.deps]
    for dep in deps:  # upstream outputs, and modules other engineers have not written yet
        if not dep.exists():
            dep.parent.mkdir(parents=True, exist_ok=True)
            dep.touch() if dep.suffix else dep.mkdir()
    proc = subprocess.run([*DVC, "repro", "--dry"], cwd=exp, capture_output=True, text=True, env=ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    order = [line.split("'")[1] for line in proc.stdout.splitlines() if line.startswith("Running stage")]
    assert sorted(order) == sorted(_expected_stage_names(params))
    assert order.index("prepare") < order.index("encode") < order.index("train_adapter")
    assert order.index("train_motion@with_adapter_s0") < order.index("train_motion_lora@5")
    assert order.index("sample@no_adapter_s0") < order.index("evaluate@no_adapter_s0") < order.index("figures")
    assert "accelerate launch --config_file accelerate.yaml -m animatelab.cli train_motion" in proc.stdout


def test_accelerate_config_loads():
    """The training stages' launcher config is one accelerate reads (1 process by default)."""
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(EXP / "accelerate.yaml"))
    assert cfg.num_processes == 1 and cfg.num_machines == 1 and cfg.mixed_precision == "no"
