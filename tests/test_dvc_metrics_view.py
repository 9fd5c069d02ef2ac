"""`dvc metrics show` as a researcher types it: each pipeline's headline numbers on one screen.

Every pipeline declares one small summary file (``figures.summary``) as its DVC metrics; the per-run scores
(thousands of values) are plain outputs, read by the figures, notebooks and tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from animatelab.config import STUDIES, load_params, study_params_files
from tests.conftest import REPO

VENV_BIN = Path(sys.executable).parent
PIPELINES = {"core": "dvc.yaml", **{s: f"experiments/{s}/dvc.yaml" for s in STUDIES}}


def _declared_metrics(dvc_file: Path) -> list[str]:
    out = []
    for stage in yaml.safe_load(dvc_file.read_text())["stages"].values():
        body = stage.get("do", stage)
        out += [m if isinstance(m, str) else next(iter(m)) for m in body.get("metrics", [])]
    return out


def _figures(pipeline: str):
    return load_params(REPO / "params.yaml" if pipeline == "core" else study_params_files(pipeline, REPO)).figures


@pytest.mark.parametrize("pipeline", list(PIPELINES))
def test_each_pipeline_declares_its_summary_and_only_it_as_metrics(pipeline):
    assert _declared_metrics(REPO / PIPELINES[pipeline]) == [_figures(pipeline).summary_file]


def test_the_real_scale_pipeline_declares_no_per_run_metrics():
    """Its per-run files are absent until a GPU run: declared as metrics, every `dvc metrics show` listed them."""
    assert _declared_metrics(REPO / "experiments/webvid-sd15/dvc.yaml") == []


@pytest.mark.parametrize("pipeline", list(PIPELINES))
def test_metrics_show_of_a_pipeline_fits_a_screen(pipeline):
    fp = _figures(pipeline)
    committed = json.loads((REPO / fp.summary_file).read_text())
    names = [e.name for e in fp.summary]
    assert list(committed) == names  # the committed file is the one these params write
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    run = subprocess.run([str(VENV_BIN / "dvc"), "metrics", "show", fp.summary_file], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.rstrip("\n").splitlines()
    assert len(lines) == 2 and max(map(len, lines)) <= 120, run.stdout
    assert all(name in lines[0] for name in names)
