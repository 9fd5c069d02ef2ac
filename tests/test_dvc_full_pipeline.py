"""The whole default DAG, every stage of ``dvc.yaml``, through ``dvc repro`` on micro params.

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

from tests.conftest import micro_params
from tests.test_dvc_pipeline import _dvc, repo_copy  # noqa: F401  (fixture)


@pytest.mark.slow
def test_dvc_repro_runs_every_stage_and_then_nothing(repo_copy):  # noqa: F811
    from animatelab.config import parse_params
    from animatelab.readme_splice import FINDINGS_START

    # every key a stage declares must be in the file: write the micro params with schema defaults filled in
    full = parse_params(micro_params()).model_dump(mode="json")
    # one item per foreach keeps it to ~24 stages (the stage-level tests cover the variants)
    full["train_motion"]["runs"] = {"with_adapter_s0": full["train_motion"]["runs"]["with_adapter_s0"]}
    full["train_motion_lora"]["n_videos"] = full["train_motion_lora"]["n_videos"][:1]
    full["train_direction_lora"]["directions"] = {"left": "moving left"}
    full["probe"]["runs"] = ["with_adapter_s0"]
    full["train_sparsectrl"]["variants"] = {"rgb": full["train_sparsectrl"]["variants"]["rgb"]}
    full["sample_moonshot"]["modes"] = {"animate": full["sample_moonshot"]["modes"]["animate"]}
    for target in full["sample_controlnet"]["targets"].values():  # the ControlNet's MoonShot baseline: that mode
        target["moonshot_mode"] = "animate"
    (repo_copy / "params.yaml").write_text(yaml.safe_dump(full, sort_keys=False))
    (repo_copy / "dvc.lock").unlink(missing_ok=True)
    _git(repo_copy, "init", "-q")
    _git(repo_copy, "add", "-A")
    _git(repo_copy, "commit", "-qm", "micro baseline")
    run = _dvc(repo_copy, "repro", timeout=900, warm=True)  # as `make repro` runs it: stages forked warm
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "running cold" not in run.stdout + run.stderr, (run.stdout + run.stderr)[-3000:]

    stages = set(yaml.safe_load((repo_copy / "dvc.lock").read_text())["stages"])
    runs, loras, dirs = full["train_motion"]["runs"], full["train_motion_lora"]["n_videos"], full["train_direction_lora"]["directions"]
    ctrl = full["train_sparsectrl"]["variants"]
    modes = full["sample_moonshot"]["modes"]
    expected = {"synth_data", "prepare", "pretrain_base", "encode", "train_adapter", "train_eval_models", "probe", "figures",
                *(f"{s}@{r}" for s in ("train_motion", "sample", "evaluate") for r in runs),
                *(f"{s}@{n}" for s in ("train_motion_lora", "sample_lora", "evaluate_lora") for n in loras),
                *(f"{s}@{d}" for s in ("train_direction_lora", "sample_direction_lora", "evaluate_direction_lora") for d in dirs),
                *(f"{s}@{v}" for s in ("train_sparsectrl", "sample_sparsectrl", "evaluate_sparsectrl") for v in ctrl),
                "train_moonshot_image", "train_moonshot_video",
                *(f"{s}@{m}" for s in ("sample_moonshot", "evaluate_moonshot") for m in modes),
                "train_controlnet_image",
                *(f"{s}@{t}" for s in ("sample_controlnet", "evaluate_controlnet") for t in full["sample_controlnet"]["targets"])}
    assert stages == expected
    # what makes two runs' locks differ although they computed the same: durations in an output
    timed = _outputs_with_wall_clock(repo_copy)
    assert not timed, f"DVC outputs that record durations (their hash changes every run): {timed[:10]}"
    metrics = json.loads((repo_copy / "metrics/with_adapter_s0.json").read_text())
    assert {"watermark_leakage", "fvd_synth", "gt_direction_acc"} <= set(metrics["scale_0.0"])
    assert json.loads((repo_copy / "metrics/dir_left.json").read_text())["scale_0.0"]["gt_direction_acc"]["n"] > 0
    animate = json.loads((repo_copy / "metrics/moonshot/animate.json").read_text())["scale_0.0"]
    assert {"fvd_synth", "watermark_leakage_latent", "first_frame_psnr", "identity_frame_acc"} <= set(animate)
    control = json.loads((repo_copy / "metrics/controlnet/moonshot.json").read_text())
    assert {"edge_f1", "fvd_synth"} <= set(control["scale_0.0"]) and "edge_f1" in control["controlled_minus_uncontrolled"]
    before = (repo_copy / "README.md").read_text()
    assert "with_adapter" in (repo_copy / "reports/findings.md").read_text()
    # make repro's last step: the README's findings block from reports/findings.md (no DVC stage writes README.md)
    subprocess.run([sys.executable, "-m", "animatelab.readme_splice"], cwd=repo_copy, check=True, capture_output=True)
    readme = (repo_copy / "README.md").read_text()
    assert FINDINGS_START in readme and "with_adapter" in readme.split(FINDINGS_START)[1] and readme != before
    assert (repo_copy / "reports/figures/rq1_adapter_ablation.png").is_file()

    again = _dvc(repo_copy, "repro")
    assert again.returncode == 0 and "Running stage" not in again.stdout, again.stdout[-2000:]

    # a one-off variant as a DVC experiment: only the stage whose params changed runs again
    _git(repo_copy, "add", "-A")
    _git(repo_copy, "commit", "-qm", "micro results")
    exp = _dvc(repo_copy, "exp", "run", "figures", "-S", "figures.dpi=72", "-n", "low-dpi")
    assert exp.returncode == 0, exp.stdout[-2000:] + exp.stderr[-2000:]
    assert exp.stdout.count("Running stage") == 1 and "'figures'" in exp.stdout
    shown = _dvc(repo_copy, "exp", "show", "--json")
    assert shown.returncode == 0 and "low-dpi" in shown.stdout and re.search(r'"dpi":\s*72\b', shown.stdout)


def _outputs_with_wall_clock(repo) -> list[str]:
    """``file: key`` for every JSON file among ``dvc.lock``'s outputs holding a duration key."""
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
    for stage in yaml.safe_load((repo / "dvc.lock").read_text())["stages"].values():
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
