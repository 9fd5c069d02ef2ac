"""Stage start-up, today's path vs the new one, side by side in one run.

Each sample is a fresh Python process doing what a sampling or training stage does around its
compute: ``animatelab.config`` + the params file, ``import torch`` and diffusers'
``AnimateDiffPipeline``, open the stage's MLflow run, log one metric, close it, exit.
``baseline`` opens the run as the code did before (kept runnable below as ``baseline_stage_run``:
two ``git`` calls, ``mlflow.set_experiment``, ``mlflow.start_run`` with its context providers
(GitPython) and mlflow's full alembic schema check) and exits normally; ``new`` is
``animatelab.tracking.stage_run`` and ends with ``animatelab.cli.fast_exit`` as the CLI does. Processes alternate (baseline, new, baseline, ...) against one
sqlite store in a temp dir, after one unmeasured warm-up of each (creating the tables and the schema
head cache). Wall seconds are spawn-to-exit as DVC sees them; the children also report their phases.

    .venv/bin/python benchmarks/bench_startup.py [--repeats 7]

Writes reports/bench/startup.json (medians, the ratio baseline/new, per-phase medians).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("baseline", "new")


@contextlib.contextmanager
def baseline_stage_run(stage: str, params: dict | None = None, run: str | None = None):
    """``animatelab.tracking.stage_run`` as of commit cd4f130 (the baseline)."""
    import logging

    import mlflow

    from animatelab.tracking import flatten

    def repo_root() -> Path:
        try:
            out = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                                 check=True)
            return Path(out.stdout.strip())
        except (subprocess.CalledProcessError, FileNotFoundError):
            return Path.cwd()

    def git_commit() -> str:
        try:
            out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
            return out.stdout.strip()
        except (subprocess.CalledProcessError, FileNotFoundError):
            return "unknown"

    for noisy in ("alembic", "mlflow.store.db.utils"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root() / 'mlflow.db'}")
    mlflow.set_experiment("animatelab")
    name = stage if run is None else f"{stage}@{run}"
    tags = {"animatelab.stage": stage, "git_commit": git_commit(),
            "dvc_stage": os.environ.get("DVC_STAGE", name)}
    if run is not None:
        tags["animatelab.run"] = run
    with mlflow.start_run(run_name=name, tags=tags) as active:
        if params:
            items = [(k, str(v)[:500]) for k, v in flatten(params).items()]
            for i in range(0, len(items), 100):
                mlflow.log_params(dict(items[i : i + 100]))
        yield active


def child(variant: str) -> None:
    """One stage-like start-up; prints its phases as JSON."""
    marks = {"python": time.perf_counter()}
    from animatelab.config import load_params

    params = load_params(REPO / "params.yaml")
    marks["cli_params"] = time.perf_counter()
    import torch  # noqa: F401  every compute stage imports it before its run opens
    from diffusers import AnimateDiffPipeline  # noqa: F401  as sampling / motion training do

    marks["torch_diffusers"] = time.perf_counter()
    if variant == "new":
        from animatelab.tracking import stage_run
    else:
        stage_run = baseline_stage_run
    import mlflow

    marks["mlflow_import"] = time.perf_counter()
    with stage_run("sample", {"sample": params.sample.model_dump(mode="json")}, "bench"):
        marks["run_open"] = time.perf_counter()
        mlflow.log_metric("bench", 1.0)
    marks["run_closed"] = time.perf_counter()
    names = list(marks)
    print(json.dumps({b: round(marks[b] - marks[a], 4) for a, b in zip(names, names[1:])}), flush=True)
    if variant == "new":
        from animatelab.cli import fast_exit

        fast_exit()


def spawn(variant: str, env: dict) -> tuple[float, dict]:
    """(spawn-to-exit seconds, the child's phases + its exit seconds after the last phase)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", variant], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    phases = json.loads(proc.stdout.readline())
    t_printed = time.perf_counter()
    if proc.wait() != 0:
        raise RuntimeError(f"{variant} child failed ({proc.returncode})")
    end = time.perf_counter()
    return end - t0, {**phases, "exit": round(end - t_printed, 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--child", choices=VARIANTS)
    ap.add_argument("--out", default=str(REPO / "reports/bench/startup.json"))
    args = ap.parse_args()
    if args.child:
        return child(args.child)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db",
               "XDG_CACHE_HOME": f"{tmp}/cache",
               "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"), "MLFLOW_DISABLE_TELEMETRY": "true"}
        for v in VARIANTS:  # warm-up: tables, schema head cache, OS file cache
            spawn(v, env)
        walls: dict[str, list[float]] = {v: [] for v in VARIANTS}
        phases: dict[str, list[dict]] = {v: [] for v in VARIANTS}
        for _ in range(args.repeats):
            for v in VARIANTS:
                wall, ph = spawn(v, env)
                walls[v].append(wall)
                phases[v].append(ph)
    med = {v: round(median(walls[v]), 3) for v in VARIANTS}
    report = {
        "status": "ok", "repeats": args.repeats, "baseline_s": med["baseline"], "new_s": med["new"],
        "ratio": round(med["baseline"] / med["new"], 3),
        "saved_s_per_stage": round(med["baseline"] - med["new"], 3),
        "wall_seconds": walls,
        "phase_medians": {v: {k: round(median(p[k] for p in phases[v]), 3) for k in phases[v][0]}
                          for v in VARIANTS},
        "note": "process spawn to exit; excludes DVC's own bookkeeping between stages",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("status", "baseline_s", "new_s", "ratio", "saved_s_per_stage")}))


if __name__ == "__main__":
    main()
