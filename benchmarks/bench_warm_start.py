"""Stage start-up inside ``dvc repro``: every stage its own cold process vs forks of a warm server.

``make repro`` runs ``python -m animatelab.warm -- dvc repro``: one server imports torch, diffusers and
MLflow once and each ``animatelab <stage>`` runs as a fork of it (``animatelab.warm``). This runs the
first five stages of the DAG (synth_data, prepare, pretrain_base, encode, train_adapter) on micro params
in a copy of the repo, ``dvc repro -f`` both ways, alternating (cold, warm, cold, warm, ...), each with its
own MLflow store, and reads the stages' MLflow spans as ``benchmarks/pipeline_times.py`` does. The gap
between one stage's end and the next one's start is what a stage costs before and after its compute
(process start, imports, tracking store, exit, DVC's own bookkeeping). The warm total includes starting
the server.

    .venv/bin/python benchmarks/bench_warm_start.py [--repeats 2]

Writes reports/bench/warm_start.json (median gap and wall per variant, ratios cold/warm).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
TARGET = "train_adapter"


def repo_copy(dst: Path) -> Path:
    import yaml

    from animatelab.config import parse_params

    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        if (REPO / rel).is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dst / rel)
    from tests.micro import micro_params

    micro = micro_params()
    (dst / "params.yaml").write_text(yaml.safe_dump(parse_params(micro).model_dump(mode="json"), sort_keys=False))
    (dst / "dvc.lock").unlink(missing_ok=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b"}
    for git in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "micro"]):
        subprocess.run(["git", *git], cwd=dst, env=env, check=True)
    return dst


def one_repro(root: Path, variant: str, store: Path) -> dict:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(root / "src"),
           "DVC_NO_ANALYTICS": "1", "MLFLOW_TRACKING_URI": f"sqlite:///{store}"}
    dvc = [str(bin_dir / "dvc"), "repro", "-f", TARGET]
    cmd = [sys.executable, "-m", "animatelab.warm", "--", *dvc] if variant == "warm" else dvc
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0 or "running cold" in proc.stderr + proc.stdout:
        raise RuntimeError(f"{variant}: rc {proc.returncode}\n{(proc.stdout + proc.stderr)[-3000:]}")
    from pipeline_times import stage_spans, startup_gaps

    spans = stage_spans(f"sqlite:///{store}")
    return {"wall_s": round(wall, 2), "stages": len(spans), "gaps_s": [round(g, 2) for g in startup_gaps(spans, 120)],
            "stage_s": round(sum(e - s for s, e in spans.values()), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "reports/bench/warm_start.json"))
    args = ap.parse_args()
    results: dict[str, list[dict]] = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory(prefix="bench-warm-") as tmp:
        root = repo_copy(Path(tmp) / "repo")
        for i in range(args.repeats):
            for variant in ("cold", "warm"):
                store = Path(tmp) / f"{variant}{i}.db"
                results[variant].append(one_repro(root, variant, store))
                print(variant, i, results[variant][-1], flush=True)
    gap = {v: median(g for r in rs for g in r["gaps_s"]) for v, rs in results.items()}
    wall = {v: median(r["wall_s"] for r in rs) for v, rs in results.items()}
    stage = {v: median(r["stage_s"] for r in rs) for v, rs in results.items()}
    out = {"status": "ok", "target": TARGET, "repeats": args.repeats,
           "gap_median_s": gap, "gap_ratio": round(gap["cold"] / gap["warm"], 2),
           "wall_median_s": wall, "wall_ratio": round(wall["cold"] / wall["warm"], 3),
           "stage_compute_median_s": stage, "runs": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: out[k] for k in ("status", "gap_median_s", "gap_ratio", "wall_median_s", "wall_ratio")}))


if __name__ == "__main__":
    main()
