"""Stage ``evaluate@run``: score every ``samples/{run}/scale_*`` and write ``metrics/{run}.json``.

Layout: ``{"scale_0.0": {metric: {mean, ci_low, ci_high, n}}, ..., "real_heldout": {...}}``;
``real_heldout`` scores the held-out real clips the same way (what 'real' reads on each metric).
Backbones, references and notes go to ``metrics/{run}.meta.json`` and MLflow tags.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from animatelab.config import ParamsError, Params, check_paths
from animatelab.tracking import stage_run


def scale_dirs(samples_dir: str | Path, run: str) -> list[Path]:
    root = Path(samples_dir) / run
    dirs = sorted(d for d in root.glob("scale_*") if (d / "videos.npy").is_file())
    if not dirs:
        raise ParamsError(f"evaluate: no samples/{run}/scale_*/videos.npy under {Path(samples_dir).resolve()}")
    return dirs


def run(params: Params, args) -> None:
    import mlflow
    import numpy as np
    import torch

    from animatelab.eval.suite import build_reference, real_heldout_set, score_videos
    from animatelab.utils import write_json

    if not args.run:
        raise ParamsError("evaluate needs --run <name> (one of train_motion.runs)")
    check_paths(params, "evaluate")
    p = params.evaluate
    torch.set_num_threads(p.threads)
    dirs = scale_dirs(p.samples_dir, args.run)
    frames = int(np.load(dirs[0] / "videos.npy", mmap_mode="r").shape[1])
    with stage_run("evaluate", p.model_dump(mode="json"), args.run):
        start = time.perf_counter()
        ref = build_reference(p, frames)
        results: dict[str, dict] = {}
        timings: dict[str, dict] = {"reference_s": time.perf_counter() - start}
        for d in dirs:
            videos = np.load(d / "videos.npy")
            prompts = json.loads((d / "prompts.json").read_text())
            if len(prompts) != len(videos):
                raise ValueError(f"{d}: {len(videos)} videos but {len(prompts)} prompts")
            timings[d.name] = {}
            results[d.name] = score_videos(ref, videos, prompts, p, timings[d.name])
        if p.synthetic_ground_truth:
            clips, prompts = real_heldout_set(p, frames)
            results["real_heldout"] = score_videos(ref, clips, prompts, p)
        out = Path(p.out_dir)
        write_json(out / f"{args.run}.json", results)
        meta = {**ref.meta, "run": args.run, "scales": [d.name for d in dirs], "frames": frames,
                "bootstrap": p.bootstrap, "seed": p.seed, "timings_s": timings,
                "seconds": round(time.perf_counter() - start, 2)}
        write_json(out / f"{args.run}.meta.json", meta)
        mlflow.set_tags({f"eval.{k}": str(v)[:250] for k, v in ref.meta.items()})
        flat = {}
        for group, metrics in results.items():
            for name, m in metrics.items():
                for stat in ("mean", "ci_low", "ci_high"):
                    if np.isfinite(m[stat]):
                        flat[f"{group}/{name}/{stat}"] = float(m[stat])
        mlflow.log_metrics(flat)
        mlflow.log_metric("seconds", meta["seconds"])
        mlflow.log_artifact(str(out / f"{args.run}.json"))
        mlflow.log_artifact(str(out / f"{args.run}.meta.json"))
    print(f"evaluate@{args.run}: {len(dirs)} scale(s) in {meta['seconds']:.1f}s -> {out / f'{args.run}.json'}")
