"""The core pipeline through ``dvc repro`` (``make repro``), then every study pipeline (``make repro-all``), on micro params.

The same commands, deps and params declarations as ``make repro``, in a temporary copy of the
repo; it catches what per-stage tests cannot (a declared param missing from the file, a stage
reading an output no stage declares, a foreach key that does not resolve).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO, STUDIES, micro_files, micro_params
from tests.test_dvc_pipeline import _dvc, repo_copy  # noqa: F401  (fixture)


def _write_micro_pipelines(repo) -> dict[str, dict]:
    """Every pipeline's params file at micro size with schema defaults filled in (a stage's declared key must
    be in its file); the core keeps every run its figures read, each study one item per foreach."""
    from animatelab.config import parse_params

    # the core's runs at two seeds per arm (the figures' intervals over seeds need two) and the untrained floor
    files = micro_files(core_runs=list(parse_params(micro_params()).figures.grid_runs)
                        + ["with_adapter_s1", "no_adapter_s1", "untrained"])
    core = files["params.yaml"]
    core["figures"]["grid_runs"] = ["with_adapter_s0", "no_adapter_s0"]
    core["probe"]["runs"] = ["with_adapter_s0"]
    full = parse_params(core).model_dump(mode="json")
    for key in list(full):  # the core's file holds the core's groups only, as in the repo
        if key not in core:
            del full[key]
    files["params.yaml"] = full
    study = {f"experiments/{s}/params.yaml": files[f"experiments/{s}/params.yaml"] for s in STUDIES}
    first = lambda d: dict([next(iter(d.items()))])  # noqa: E731
    md, pm = study["experiments/motion-design/params.yaml"], study["experiments/prompt-motion/params.yaml"]
    md["train_motion"]["runs"] = first(md["train_motion"]["runs"])
    pm["train_direction_lora"]["directions"] = {"left": "moving left"}
    ml = study["experiments/motionlora/params.yaml"]
    ml["train_motion_lora"]["n_videos"] = ml["train_motion_lora"]["n_videos"][:1]
    sc = study["experiments/sparsectrl/params.yaml"]
    sc["train_sparsectrl"]["variants"] = first(sc["train_sparsectrl"]["variants"])
    sc["figures"]["rq6_variants"] = list(sc["train_sparsectrl"]["variants"])
    ms = study["experiments/moonshot/params.yaml"]
    ms["sample_moonshot"]["modes"] = {"animate": parse_params(micro_params()).sample_moonshot.modes["animate"].model_dump(mode="json")}
    ms["figures"]["rq7_modes"] = ["animate"]
    # the ControlNet on AnimateDiff only: its baseline is the core's samples (a study reading the core's outputs)
    ms["sample_controlnet"]["targets"] = {"animatediff": {**ms["sample_controlnet"]["targets"]["animatediff"],
                                                          "moonshot_mode": "animate"}}
    # RQ8: one run of each lever study (its probe on it); the FreeInit lever samples the core's with_adapter_s0/s1
    for s in ("motion-world", "motion-learning"):
        own = study[f"experiments/{s}/params.yaml"]
        own["train_motion"]["runs"] = first(own["train_motion"]["runs"])
        own["probe"]["runs"] = list(own["train_motion"]["runs"])
    # and one sampling lever on one core module: the matrix's lists are the study's dvc.yaml vars
    dvc_file = repo / "experiments/motion-learning/dvc.yaml"
    pipeline = yaml.safe_load(dvc_file.read_text())  # (and the figures' deps on the others' metrics dropped)
    for entry in pipeline["vars"]:
        if isinstance(entry, dict) and "sampling_levers" in entry:
            variants, entry["sampling_levers"] = entry["sampling_levers"], entry["sampling_levers"][:1]
        if isinstance(entry, dict) and "lever_runs" in entry:
            runs, entry["lever_runs"] = entry["lever_runs"], entry["lever_runs"][:1]
    unsampled = {f"metrics/{v}/{r}.json" for v in variants for r in runs} - {f"metrics/{variants[0]}/{runs[0]}.json"}
    figures = pipeline["stages"]["figures"]
    figures["deps"] = [d for d in figures["deps"] if d not in unsampled]
    dvc_file.write_text(yaml.safe_dump(pipeline, sort_keys=False))
    for rel, data in files.items():
        (repo / rel).write_text(yaml.safe_dump(data, sort_keys=False))
        (repo / rel).with_name("dvc.lock").unlink(missing_ok=True)
    kept = {r for data in files.values() for r in data.get("train_motion", {}).get("runs", {})}
    full = {r for rel in files for r in yaml.safe_load((REPO / rel).read_text()).get("train_motion", {}).get("runs", {})}
    _drop_deps_on(repo, full - kept)
    return files


def _drop_deps_on(repo, runs: set[str]) -> None:
    """Remove the deps that name a run the micro pipelines leave out (a probe's motion folders, a figures
    stage's metrics files): DVC fails a stage whose dep is missing. Foreach and matrix stages name theirs
    by ``${...}``."""
    from pathlib import PurePosixPath

    for dvc_file in [repo / "dvc.yaml", *(repo / "experiments" / s / "dvc.yaml" for s in STUDIES)]:
        pipeline = yaml.safe_load(dvc_file.read_text())
        for stage in pipeline["stages"].values():
            if "deps" in stage:
                names = lambda d: {PurePosixPath(d).name, PurePosixPath(d).stem}  # noqa: E731
                stage["deps"] = [d for d in stage["deps"] if not names(d if isinstance(d, str) else next(iter(d))) & runs]
        dvc_file.write_text(yaml.safe_dump(pipeline, sort_keys=False))


def _ran(run) -> set[str]:
    """Stage names a ``dvc repro`` ran, as its lock files name them (``file:stage`` for a study's)."""
    return {m.group(1) for m in re.finditer(r"Running stage '([^']+)'", run.stdout)}


@pytest.mark.slow
def test_dvc_repro_runs_the_core_then_every_study_and_then_nothing(repo_copy):  # noqa: F811
    from animatelab.readme_splice import FINDINGS_START

    files = _write_micro_pipelines(repo_copy)
    _git(repo_copy, "init", "-q")
    _git(repo_copy, "add", "-A")
    _git(repo_copy, "commit", "-qm", "micro baseline")

    # make repro: the core, and nothing of any study
    run = _dvc(repo_copy, "repro", timeout=900, warm=True)  # as `make repro` runs it: stages forked warm
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "running cold" not in run.stdout + run.stderr, (run.stdout + run.stderr)[-3000:]
    runs = files["params.yaml"]["train_motion"]["runs"]
    core = {"synth_data", "prepare", "pretrain_base", "encode", "train_adapter", "train_eval_models", "probe", "figures",
            *(f"{s}@{r}" for s in ("train_motion", "sample", "evaluate") for r in runs)}
    assert set(yaml.safe_load((repo_copy / "dvc.lock").read_text())["stages"]) == core
    assert _ran(run) == core
    assert not any((repo_copy / "experiments" / s / "dvc.lock").exists() for s in STUDIES)
    assert "with_adapter" in (repo_copy / "reports/findings.md").read_text()
    assert (repo_copy / "reports/figures/rq1_adapter_ablation.png").is_file()
    assert not (repo_copy / "reports/figures/rq4_design.png").exists()  # a study's figure is its pipeline's

    # make repro-all: every study, each stage once, on the core's outputs
    targets = ["dvc.yaml", *(f"experiments/{s}/dvc.yaml" for s in STUDIES)]
    run = _dvc(repo_copy, "repro", *targets, timeout=900, warm=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert not (_ran(run) & core), "the studies re-ran core stages"
    per_study = {s: set(yaml.safe_load((repo_copy / "experiments" / s / "dvc.lock").read_text())["stages"]) for s in STUDIES}
    f = {s: files[f"experiments/{s}/params.yaml"] for s in STUDIES}
    first = lambda d: next(iter(d))  # noqa: E731
    design, n, d = first(f["motion-design"]["train_motion"]["runs"]), f["motionlora"]["train_motion_lora"]["n_videos"][0], "left"
    xattn = first(f["prompt-motion"]["train_motion"]["runs"])
    ctrl, targets_cn = first(f["sparsectrl"]["train_sparsectrl"]["variants"]), f["moonshot"]["sample_controlnet"]["targets"]
    fast, lever = first(f["motion-world"]["train_motion"]["runs"]), first(f["motion-learning"]["train_motion"]["runs"])
    assert per_study == {
        "motion-design": {"figures", *(f"{s}@{design}" for s in ("train_motion", "sample", "evaluate"))},
        "motionlora": {"figures", *(f"{s}@{n}" for s in ("train_motion_lora", "sample_lora", "evaluate_lora"))},
        "prompt-motion": {"figures", *(f"{s}@{xattn}" for s in ("train_motion", "sample", "evaluate")),
                          *(f"{s}@{d}" for s in ("train_direction_lora", "sample_direction_lora", "evaluate_direction_lora"))},
        "sparsectrl": {"figures", *(f"{s}@{ctrl}" for s in ("train_sparsectrl", "sample_sparsectrl", "evaluate_sparsectrl"))},
        "moonshot": {"train_moonshot_image", "train_moonshot_video", "train_controlnet_image", "figures",
                     *(f"{s}@animate" for s in ("sample_moonshot", "evaluate_moonshot")),
                     *(f"{s}@{t}" for s in ("sample_controlnet", "evaluate_controlnet") for t in targets_cn)},
        "motion-world": {"synth_data", "prepare", "encode", "probe", "figures",
                         *(f"{s}@{fast}" for s in ("train_motion", "sample", "evaluate"))},
        "motion-learning": {"probe", "figures", "sample_ceiling", "evaluate_ceiling",
                            *(f"{s}@{lever}" for s in ("train_motion", "sample", "evaluate")),
                            *(f"{s}@free_init-with_adapter_s0" for s in ("sample_lever", "evaluate_lever"))},
    }
    # what makes two runs' locks differ although they computed the same: durations in an output
    timed = _outputs_with_wall_clock(repo_copy, ["dvc.lock", *(f"experiments/{s}/dvc.lock" for s in STUDIES)])
    assert not timed, f"DVC outputs that record durations (their hash changes every run): {timed[:10]}"
    metrics = json.loads((repo_copy / "metrics/with_adapter_s0.json").read_text())
    assert {"watermark_leakage", "fvd_synth", "gt_direction_acc"} <= set(metrics["scale_0.0"])
    assert json.loads((repo_copy / "metrics/dir_left.json").read_text())["scale_0.0"]["gt_direction_acc"]["n"] > 0
    animate = json.loads((repo_copy / "metrics/moonshot/animate.json").read_text())["scale_0.0"]
    assert {"fvd_synth", "watermark_leakage_latent", "first_frame_psnr", "identity_frame_acc"} <= set(animate)
    control = json.loads((repo_copy / "metrics/controlnet/animatediff.json").read_text())
    assert {"edge_f1", "fvd_synth"} <= set(control["scale_0.0"]) and "edge_f1" in control["controlled_minus_uncontrolled"]
    for s, fig in (("motion-design", "rq4_design"), ("prompt-motion", "rq5_prompt_motion"), ("motionlora", "rq3_motion_lora"),
                   ("sparsectrl", "rq6_propagation"), ("moonshot", "rq7_moonshot_vs_animatediff"),
                   ("motion-world", "rq8_levers"), ("motion-learning", "rq8_levers")):
        assert (repo_copy / "reports" / s / "figures" / f"{fig}.png").is_file(), s
        assert (repo_copy / "reports" / s / "README.md").is_file(), s
    before = (repo_copy / "README.md").read_text()
    # make repro's last step: the README's findings block from reports/findings.md (no DVC stage writes README.md)
    subprocess.run([sys.executable, "-m", "animatelab.readme_splice"], cwd=repo_copy, check=True, capture_output=True)
    readme = (repo_copy / "README.md").read_text()
    assert FINDINGS_START in readme and "with_adapter" in readme.split(FINDINGS_START)[1] and readme != before

    # the views across pipelines: each summary as DVC metrics, each study's plots resolved from its folder
    shown = _dvc(repo_copy, "metrics", "show", "--json")
    assert shown.returncode == 0, shown.stderr[-2000:]
    found = {path for rev in json.loads(shown.stdout).values() for path in rev["data"]}
    assert found == {"metrics/summary/core.json", *(f"metrics/summary/{s}.json" for s in STUDIES)}
    plots = _dvc(repo_copy, "plots", "show", "--json")  # every pipeline's plots, paths from each dvc.yaml's folder
    assert plots.returncode == 0, plots.stderr[-2000:]
    rows = json.loads(plots.stdout)["data"]["loss_rq7_moonshot"][0]["content"]["data"]["values"]
    assert {r["filename"] for r in rows} == {"image/loss.csv", "video/loss.csv"}, plots.stdout[-2000:]

    again = _dvc(repo_copy, "repro", *targets)
    assert again.returncode == 0 and "Running stage" not in again.stdout, again.stdout[-2000:]
    status = _dvc(repo_copy, "status", *targets)
    assert status.returncode == 0 and "up to date" in status.stdout, status.stdout[-2000:]

    # a one-off variant as a DVC experiment: only the stage whose params changed runs again
    _git(repo_copy, "add", "-A")
    _git(repo_copy, "commit", "-qm", "micro results")
    exp = _dvc(repo_copy, "exp", "run", "figures", "-S", "figures.dpi=72", "-n", "low-dpi")
    assert exp.returncode == 0, exp.stdout[-2000:] + exp.stderr[-2000:]
    assert exp.stdout.count("Running stage") == 1 and "'figures'" in exp.stdout
    shown = _dvc(repo_copy, "exp", "show", "--json")
    assert shown.returncode == 0 and "low-dpi" in shown.stdout and re.search(r'"dpi":\s*72\b', shown.stdout)
    # and in a study: its params file named in -S, its stage by path
    exp = _dvc(repo_copy, "exp", "run", "experiments/motion-design/dvc.yaml:figures",
               "-S", "experiments/motion-design/params.yaml:+figures.dpi=72", "-n", "rq4-low-dpi")
    assert exp.returncode == 0, exp.stdout[-2000:] + exp.stderr[-2000:]
    assert exp.stdout.count("Running stage") == 1, exp.stdout[-2000:]


def _outputs_with_wall_clock(repo, locks: list[str]) -> list[str]:
    """``file: key`` for every JSON file among the lock files' outputs holding a duration key."""
    from animatelab.outputs import is_wall_clock

    def keys(record):
        if isinstance(record, dict):
            for k, v in record.items():
                yield str(k)
                yield from keys(v)
        elif isinstance(record, list):
            for v in record:
                yield from keys(v)

    found = []
    stages = [st for lock in locks for st in yaml.safe_load((repo / lock).read_text())["stages"].values()]
    for stage in stages:
        for out in stage.get("outs", []):
            path = repo / out["path"]
            for f in ([path] if path.is_file() else sorted(path.rglob("*.json"))):
                if f.suffix == ".json":
                    found += [f"{f.relative_to(repo)}: {k}" for k in keys(json.loads(f.read_text())) if is_wall_clock(k)]
    return found


def _git(repo, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
