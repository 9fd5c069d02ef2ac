"""Local processes against one process, on 2 cores: a motion-module training stage and the probe stage,
each run both ways in one go on the committed models, wall time of the whole stage command (start-up
included), as the pipeline pays it.

- ``train_motion``: one process of 2 threads and 4 clips a step, against 2 DDP processes of 1 thread and
  2 clips each (``train_motion.processes: 2``), ``--steps`` steps;
- ``probe``: one process of 2 threads probing ``--runs`` runs, against 2 processes of 1 thread, each
  probing half of them (``probe.processes: 2``).

    .venv/bin/python benchmarks/bench_processes.py [--steps 100] [--runs with_adapter_s0 no_adapter_s0]

Writes reports/bench/processes.json. Needs the trained core (``make repro``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "animatelab.cli", *argv], cwd=REPO, env=env,
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr[-2000:]}")
    return round(time.perf_counter() - t0, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--runs", nargs="+", default=["with_adapter_s0", "no_adapter_s0"])
    ap.add_argument("--out", default="reports/bench/processes.json")
    args = ap.parse_args()
    if not (REPO / "models/motion" / args.runs[0] / "snapshots").is_dir():
        print(json.dumps({"status": "skipped", "why": "no trained core (make repro)"}))
        return
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != "ANIMATELAB_WARM"} | {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db"}
        motion = ["train_motion", "--run", args.runs[0], "--set", f"train_motion.out_dir={tmp}/motion",
                  "--set", f"train_motion.loop.steps={args.steps}", "--set", "train_motion.snapshots=0"]
        variants = {"one_process_2_threads": ["--set", "train_motion.processes=1", "--set", "train_motion.threads=2",
                                              "--set", "train_motion.loop.batch_size=4"],
                    "two_processes_1_thread": ["--set", "train_motion.processes=2", "--set", "train_motion.threads=1",
                                               "--set", "train_motion.loop.batch_size=2"]}
        results["train_motion"] = {
            name: timed(motion + extra + ["--set", f"train_motion.checkpoint_dir={tmp}/ck_{name}"], env)
            for name, extra in variants.items()}
        probe = ["probe", "--set", f"probe.runs={json.dumps(args.runs)}"]
        results["probe"] = {
            "one_process_2_threads": timed(probe + ["--set", f"probe.out_dir={tmp}/p1", "--set", "probe.processes=1",
                                                    "--set", "probe.threads=2"], env),
            "two_processes_1_thread": timed(probe + ["--set", f"probe.out_dir={tmp}/p2", "--set", "probe.processes=2",
                                                     "--set", "probe.threads=1"], env)}
    for r in results.values():
        r["speedup"] = round(r["one_process_2_threads"] / r["two_processes_1_thread"], 3)
    report = {"status": "ok", "steps": args.steps, "probe_runs": args.runs, "seconds": results}
    out = REPO / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"status": "ok", **{k: v["speedup"] for k, v in results.items()}}))


if __name__ == "__main__":
    main()
