"""The pipelines' top-level plots (the core's dvc.yaml and each study's): every training stage's loss.csv is declared (inside its stage's outs),
and ``dvc plots show`` / ``dvc plots diff`` render every declared plot from files at those paths."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import REPO, STUDIES

VENV_BIN = Path(sys.executable).parent


def _pipeline() -> tuple[dict, dict]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text()), yaml.safe_load((REPO / "params.yaml").read_text())


def _plots(dvc: dict) -> dict[str, dict | None]:
    """Plot id -> definition (None for a bare file path such as an image)."""
    out: dict[str, dict | None] = {}
    for entry in dvc["plots"]:
        out.update(entry if isinstance(entry, dict) else {entry: None})
    return out


def _data_files(dvc: dict) -> dict[str, list[str]]:
    """Plot id -> the data files it overlays (images: the file itself)."""
    files = {}
    for pid, d in _plots(dvc).items():
        y = (d or {}).get("y")
        files[pid] = list(y) if isinstance(y, dict) else [pid]
    return files


def _stage_outs(dvc: dict, params: dict) -> list[str]:
    """Every stage output path, foreach stages expanded over their params."""
    outs = []
    for stage in dvc["stages"].values():
        body = stage.get("do", stage)
        names = [o if isinstance(o, str) else next(iter(o)) for o in body.get("outs", [])]
        if "foreach" not in stage:
            outs += names
            continue
        path = re.fullmatch(r"\$\{([\w.]+)\}", stage["foreach"]).group(1).split(".")
        local = {k: v for entry in dvc.get("vars", []) if isinstance(entry, dict) for k, v in entry.items()}
        source = local if path[0] in local else params  # a dvc.yaml var, or a params group
        if path[0] not in source:  # a study's foreach over a core group
            continue
        items = source[path[0]] if len(path) == 1 else source[path[0]][path[1]]
        for item in (items if isinstance(items, list) else list(items)):
            outs += [n.replace("${key}", str(item)).replace("${item}", str(item)) for n in names]
    return outs


def _study(study: str) -> tuple[dict, dict]:
    """A study's dvc.yaml (plot paths made repo-relative) and its own params file."""
    d = REPO / "experiments" / study
    dvc = yaml.safe_load((d / "dvc.yaml").read_text())
    dvc["plots"] = [{pid: {**spec, "y": {k.removeprefix("../../"): v for k, v in spec["y"].items()}}}
                    if isinstance(entry, dict) else entry.removeprefix("../../")
                    for entry in dvc["plots"] for pid, spec in (entry.items() if isinstance(entry, dict) else [(entry, None)])]
    return dvc, yaml.safe_load((d / "params.yaml").read_text())


def test_every_training_run_has_its_loss_curve_declared_inside_its_outs():
    dvc, params = _pipeline()
    studies = {s: _study(s) for s in STUDIES}
    declared = {f for d in [dvc, *(d for d, _ in studies.values())] for files in _data_files(d).values()
                for f in files if f.endswith(".csv")}
    expected = {"models/base/vae_loss.csv", "models/base/unet_loss.csv", "models/domain_adapter/loss.csv"}
    # a run kept at initialisation (steps: 0, RQ1's floor) has no loss curve
    runs = {**params["train_motion"]["runs"]}
    for _, study_params in studies.values():  # every study's own motion runs
        runs |= study_params.get("train_motion", {}).get("runs", {})
    expected |= {f"models/motion/{r}/loss.csv" for r, cfg in runs.items() if cfg.get("steps") != 0}
    expected |= {f"models/motion_lora/n{n}/loss.csv" for n in studies["motionlora"][1]["train_motion_lora"]["n_videos"]}
    expected |= {f"models/direction_lora/{d}/loss.csv"
                 for d in studies["prompt-motion"][1]["train_direction_lora"]["directions"]}
    moon = studies["moonshot"][1]
    expected |= {f"{moon[g]['out_dir']}/loss.csv" for g in ("train_moonshot_image", "train_moonshot_video",
                                                            "train_controlnet_image")}
    assert declared == expected
    outs = _stage_outs(dvc, params) + [o for d, p in studies.values() for o in _stage_outs(d, p)]
    for f in declared:
        assert any(f.startswith(o.rstrip("/") + "/") for o in outs), f"{f} is in no stage's outs"
    rq1 = _data_files(dvc)["loss_rq1_motion"]  # the arms and seeds of RQ1 overlay in one plot
    assert rq1 == [f"models/motion/{r}/loss.csv" for r in params["train_motion"]["runs"]
                   if r.startswith(("with_adapter_", "no_adapter_"))] and len(rq1) >= 6
    # each study's own figures: images inside its reports folder
    for study, (d, _) in studies.items():
        assert all(pid.startswith(f"reports/{study}/figures/") for pid in _plots(d) if pid.endswith(".png")), study


def _fabricate(root: Path, dvc: dict, scale: float) -> None:
    """A loss.csv at every declared path (and a PNG at every image path)."""
    from PIL import Image

    for i, f in enumerate(sorted({f for files in _data_files(dvc).values() for f in files})):
        path = root / f
        path.parent.mkdir(parents=True, exist_ok=True)
        if f.endswith(".png"):
            Image.fromarray(np.full((8, 8, 3), 40 * i % 256, np.uint8)).save(path)
        else:
            rows = "".join(f"{s},{scale * (1 + i) / s:.4f}\n" for s in range(1, 6))
            path.write_text("step,loss\n" + rows)


def _run(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    run = subprocess.run(list(args), cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return run


@pytest.fixture
def plots_repo(tmp_path) -> Path:
    """A git + DVC repo holding the real dvc.yaml and params.yaml and fabricated plot files (committed)."""
    dvc, _ = _pipeline()
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("dvc.yaml", "params.yaml"):
        (root / name).write_text((REPO / name).read_text())
    _fabricate(root, dvc, scale=1.0)
    _run(root, "git", "init", "-q")
    _run(root, str(VENV_BIN / "dvc"), "init", "-q")
    _run(root, "git", "add", "-A")
    _run(root, "git", "commit", "-qm", "baseline")
    return root


def test_plots_show_renders_every_declared_plot(plots_repo):
    dvc, _ = _pipeline()
    ids = list(_plots(dvc))
    shown = _run(plots_repo, str(VENV_BIN / "dvc"), "plots", "show", "--json")
    data = json.loads(shown.stdout)["data"]
    assert sorted(data) == sorted(ids)
    for pid, files in _data_files(dvc).items():
        if pid.endswith(".png"):
            continue
        values = data[pid][0]["content"]["data"]["values"]
        assert len(values) == 5 * len(files), pid  # every row of every declared file
        if len(files) > 1:  # overlaid: one line per file, named by its distinguishing tail
            names = {v["filename"] for v in values}
            assert len(names) == len(files) and all(any(f.endswith(n) for f in files) for n in names), pid
    _run(plots_repo, str(VENV_BIN / "dvc"), "plots", "show", "-o", "html")
    html = (plots_repo / "html/index.html").read_text()
    assert all(pid in html for pid in ids), [pid for pid in ids if pid not in html]


def test_plots_diff_compares_two_revisions(plots_repo):
    dvc, _ = _pipeline()
    _fabricate(plots_repo, dvc, scale=0.5)  # "another experiment": every curve halved
    diff = _run(plots_repo, str(VENV_BIN / "dvc"), "plots", "diff", "HEAD", "--json")
    data = json.loads(diff.stdout)["data"]
    values = data["loss_rq1_motion"][0]["content"]["data"]["values"]
    revs = {v["rev"] for v in values}
    assert revs == {"HEAD", "workspace"}
    first = {v["rev"]: float(v["loss"]) for v in values
             if "with_adapter_s0/loss.csv".endswith(v["filename"]) and str(v["step"]) == "1"}
    assert first["workspace"] == pytest.approx(first["HEAD"] / 2, rel=1e-3)


def test_offline_page_holds_every_declared_plot_and_loads_nothing(plots_repo):
    """`make plots`: the page DVC writes loads its libraries from a CDN (blank offline); this one is SVG and
    embedded images only, one section per declared plot, one legend entry (colour) per run."""
    import re as _re

    dvc, _ = _pipeline()
    env_path = f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"
    run = subprocess.run([sys.executable, "-m", "animatelab.plots_page", "-o", "page.html"], cwd=plots_repo,
                         env={**os.environ, "PATH": env_path}, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    page = (plots_repo / "page.html").read_text()
    # nothing fetched: no src/href pointing at a network address (SVG namespace URIs are names, not loads)
    assert not _re.findall(r'(?:src|href)="(?:https?:)?//', page)
    assert "<script" not in page
    sections = _re.findall(r'<section id="([^"]+)">', page)
    assert sections == list(_plots(dvc))
    rq1 = page.split('<section id="loss_rq1_motion">')[1].split("</section>")[0]
    runs = [f.split("/")[-2] for f in _data_files(dvc)["loss_rq1_motion"]]
    assert all(f">{r}<" in rq1 for r in runs)  # each run named in the legend, i.e. its own colour
    assert page.count("data:image/png;base64,") == sum(pid.endswith(".png") for pid in _plots(dvc))
