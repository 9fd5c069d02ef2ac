"""Evaluation throughput (videos/s per metric) on 32 videos x 16 frames x 32x32, the default's run size.

Weights are random (throughput does not depend on them). Also times the FVD bootstrap against
the baseline of rebuilding a torchmetrics FrechetInceptionDistance per resample.
Usage: python benchmarks/bench_eval.py [--videos 32] [--threads 2]  ->  reports/bench/eval.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def timed(fn, repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=int, default=32)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--out", default="reports/bench/eval.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from animatelab.eval import temporal
    from animatelab.eval.bootstrap import bootstrap_indices
    from animatelab.eval.clip_scores import ClipScorer
    from animatelab.eval.eval_models import TinyClipConfig
    from animatelab.eval.features import SynthFeatures, SynthVideoNet, SynthVideoNetConfig
    from animatelab.eval.fvd import FrechetDistance, PrecomputedFeatures, extract_features
    from animatelab.eval.toyworld import make_set, watermark_template
    from animatelab.eval.tracking_gt import analyse
    from animatelab.eval.watermark import Watermark, watermark_scores

    wm = Watermark(watermark_template(32), 0.35, np.full(3, 255.0, np.float32))
    clips = make_set(args.videos, seed=0, frames=args.frames, watermark=wm.template)
    videos = np.stack([c.video for c in clips])
    prompts = [c.prompt for c in clips]
    n = len(videos)
    torch.manual_seed(0)
    net = SynthFeatures(SynthVideoNet(SynthVideoNetConfig(heads={"motion": list("abcdefg")})))
    scorer = ClipScorer(TinyClipConfig().build().float().eval(), "synth")
    real_feats = np.random.default_rng(0).standard_normal((256, net.num_features))
    fake_feats = extract_features(net, videos)
    fd = FrechetDistance(real_feats)

    def tm_bootstrap(resamples: int) -> None:  # baseline: one torchmetrics Metric per resample
        from torchmetrics.image.fid import FrechetInceptionDistance

        rng = np.random.default_rng(0)
        for _ in range(resamples):
            m = FrechetInceptionDistance(feature=PrecomputedFeatures(net.num_features))
            m.update(torch.from_numpy(real_feats), real=True)
            m.update(torch.from_numpy(fake_feats[rng.integers(0, n, n)]), real=False)
            m.compute()

    rows = {
        "fvd_synth features": timed(lambda: extract_features(net, videos, 16)),
        f"fvd_synth bootstrap x{args.bootstrap}": timed(lambda: bootstrap_indices(n, lambda i: fd(fake_feats[i]), args.bootstrap, 0)),
        "clip scores (4 axes)": timed(lambda: scorer.score_videos(videos, prompts)),
        "flicker": timed(lambda: [temporal.flicker(v) for v in videos]),
        "warp_error (Farneback)": timed(lambda: [temporal.warping_error(v) for v in videos]),
        "tracking + ground truth": timed(lambda: [analyse(v, wm) for v in videos]),
        "watermark leakage": timed(lambda: watermark_scores(videos, wm)),
    }
    base_resamples = 50
    baseline = timed(lambda: tm_bootstrap(base_resamples)) * args.bootstrap / base_resamples
    total = sum(rows.values())
    report = {
        "videos": n, "frames": args.frames, "resolution": 32, "threads": args.threads,
        "seconds": {k: round(v, 4) for k, v in rows.items()},
        "videos_per_s": {k: round(n / v, 1) for k, v in rows.items()},
        "total_seconds": round(total, 3),
        "fvd_bootstrap_baseline_seconds (torchmetrics Metric per resample, extrapolated)": round(baseline, 2),
        "fvd_bootstrap_speedup_vs_baseline": round(baseline / rows[f"fvd_synth bootstrap x{args.bootstrap}"], 1),
    }
    print(f"{'metric':34s} {'s':>8s} {'videos/s':>10s}")
    for k, v in rows.items():
        print(f"{k:34s} {v:8.3f} {n / v:10.1f}")
    print(f"{'total':34s} {total:8.3f} {n / total:10.1f}")
    print(f"FVD bootstrap: {report['fvd_bootstrap_speedup_vs_baseline']}x faster than a torchmetrics Metric per resample "
          f"({baseline:.1f} s extrapolated from {base_resamples})")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
