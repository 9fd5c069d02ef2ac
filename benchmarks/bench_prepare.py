"""Preprocessing throughput: our ``prepare`` (probe, decode with resize at decode, crop, shard write,
summary; ``workers`` processes) vs. the baseline, decord's raw decode of the same frames in one
process (``VideoReader(width, height).get_batch``, nothing else). Reported as clips/s and a ratio,
both measured in this one run.

    .venv/bin/python benchmarks/bench_prepare.py [--params params.yaml] [--repeats 2]

Needs the videos of ``prepare.datasets`` (run ``animatelab synth_data`` first for the default).
Writes reports/bench/prepare.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import decord

from animatelab.config import load_params
from animatelab.data.prepare import prepare
from animatelab.data.shards import list_shards
from animatelab.data.video_io import probe, resized_size
from animatelab.data.webvid import find_video, read_webvid_csv


def baseline(p) -> tuple[int, float]:
    """decord alone, one process: each video opened resized at decode, the clip's frames read.
    Sizes are probed before the clock starts, so only decord's own work is timed."""
    jobs = []
    for ds in p.datasets:
        for row in read_webvid_csv(ds.csv):
            path = find_video(ds.video_dir, row)
            info = probe(path)
            size = resized_size(info.width, info.height, p.resolution)
            jobs.append((str(path), (-1, -1) if size == (info.width, info.height) else size))
    indices = list(range(0, (p.frames - 1) * p.stride + 1, p.stride))
    start = time.perf_counter()
    for path, (width, height) in jobs:
        decord.VideoReader(path, width=width, height=height, num_threads=1).get_batch(indices).asnumpy()
    return len(jobs), time.perf_counter() - start


def ours(p, workers: int) -> tuple[int, float, dict]:
    out = Path(tempfile.mkdtemp(prefix="bench_prepare_"))
    try:
        q = p.model_copy(update={"out_dir": str(out), "workers": workers})
        start = time.perf_counter()
        summary = prepare(q, progress=False)
        seconds = time.perf_counter() - start
        sizes = {ds.name: [s.stat().st_size for s in list_shards(out / ds.name)] for ds in p.datasets}
        return summary["kept"], seconds, sizes
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--repeats", type=int, default=2, help="best of N runs of each side")
    parser.add_argument("--out", default="reports/bench/prepare.json")
    args = parser.parse_args()
    p = load_params(args.params).prepare

    base_runs = [baseline(p) for _ in range(args.repeats)]
    our_runs = [ours(p, p.workers) for _ in range(args.repeats)]
    one_runs = [ours(p, 1) for _ in range(args.repeats)]
    n_base, t_base = min(base_runs, key=lambda r: r[1])
    n_ours, t_ours, sizes = min(our_runs, key=lambda r: r[1])
    n_one, t_one, _ = min(one_runs, key=lambda r: r[1])
    base_cps, our_cps, one_cps = n_base / t_base, n_ours / t_ours, n_one / t_one
    result = {
        "clips": n_ours,
        "frames": p.frames, "stride": p.stride, "resolution": p.resolution, "workers": p.workers,
        "baseline_decord_raw_clips_per_s": round(base_cps, 2),
        "prepare_clips_per_s": round(our_cps, 2),
        "ratio_prepare_over_baseline": round(our_cps / base_cps, 3),
        "prepare_1_worker_clips_per_s": round(one_cps, 2),
        "ratio_prepare_1_worker_over_baseline": round(one_cps / base_cps, 3),
        "baseline_seconds": round(t_base, 3), "prepare_seconds": round(t_ours, 3),
        "prepare_1_worker_seconds": round(t_one, 3),
        "shard_bytes": sizes,
        "repeats": args.repeats, "machine": platform.processor() or platform.machine(),
    }
    print(f"{'method':<34}{'clips':>7}{'seconds':>10}{'clips/s':>10}")
    print(f"{'decord raw decode (1 process)':<34}{n_base:>7}{t_base:>10.2f}{base_cps:>10.1f}")
    print(f"{f'animatelab prepare ({p.workers} workers)':<34}{n_ours:>7}{t_ours:>10.2f}{our_cps:>10.1f}")
    print(f"{'animatelab prepare (1 worker)':<34}{n_one:>7}{t_one:>10.2f}{one_cps:>10.1f}")
    print(f"ratio prepare / baseline: {our_cps / base_cps:.2f}x ({p.workers} workers), "
          f"{one_cps / base_cps:.2f}x (1 worker)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
