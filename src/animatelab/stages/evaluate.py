"""Stage ``evaluate@run``: score every ``samples/{run}/scale_*`` and write ``metrics/{run}.json``.

Layout: ``{"scale_0.0": {metric: {mean, ci_low, ci_high, n}}, ..., "real_heldout": {...}}``;
``real_heldout`` scores the held-out real clips the same way (what 'real' reads on each metric);
a MotionLoRA's file (``lora_n{N}``) also holds ``real_motion_lora``, its camera-motion clips scored so.
``watermark_leakage_latent`` is scored where ``scale_*/latents.npy`` (the sampler's final latents)
exists, and on the encode cache's held-out latents for ``real_heldout``.
Backbones, references and notes go to ``metrics/{run}.meta.json`` and MLflow tags.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from animatelab.config import EvaluateParams, Params, ParamsError, check_paths
from animatelab.runs import SCALE_GLOB, RunId
from animatelab.tracking import stage_run

if TYPE_CHECKING:
    import numpy as np


def scale_dirs(samples_dir: str | Path, run: str) -> list[Path]:
    root = Path(samples_dir) / run
    dirs = sorted(d for d in root.glob(SCALE_GLOB) if (d / "videos.npy").is_file())
    if not dirs:
        raise ParamsError(f"evaluate: no samples/{run}/{SCALE_GLOB}/videos.npy under {Path(samples_dir).resolve()}")
    return dirs


def load_latents(folder: Path, p: EvaluateParams) -> np.ndarray | None:
    """``latents.npy`` beside ``videos.npy``, or None (with a message) when it cannot be scored."""
    import numpy as np

    if not (p.synthetic_ground_truth and p.latent_signature):
        return None
    path = folder / "latents.npy"
    if not path.is_file():
        print(f"evaluate: no {path}: watermark_leakage_latent not scored for {folder.name} (the sampler did not save latents)")
        return None
    return np.load(path).astype(np.float32)


def real_heldout_latents(p: EvaluateParams, count: int) -> np.ndarray | None:
    """The encode cache's latents of the held-out clips (same order as their shards), if scored."""
    if not (p.latent_signature and p.heldout_latents and Path(p.heldout_latents).is_dir()):
        return None
    from animatelab.data.latents import load_encoded

    return load_encoded(p.heldout_latents)[0][:count].numpy()


def run(params: Params, args) -> None:
    import mlflow
    import numpy as np

    from animatelab.eval.publish import REAL_MOTION_LORA, publish_scores
    from animatelab.eval.suite import build_reference, real_clip_set, real_heldout_set, score_videos

    if not args.run:
        raise ParamsError("evaluate needs --run <name> (one of train_motion.runs)")
    check_paths(params, "evaluate")
    p = params.evaluate
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
            results[d.name] = score_videos(ref, videos, prompts, p, timings[d.name], load_latents(d, p))
        if p.synthetic_ground_truth:
            clips, prompts = real_heldout_set(p, frames)
            latents = real_heldout_latents(p, len(clips))
            if latents is not None and len(latents) != len(clips):
                print(f"evaluate: {p.heldout_latents} holds {len(latents)} clips, not {len(clips)}: real_heldout latent leakage not scored")
                latents = None
            results["real_heldout"] = score_videos(ref, clips, prompts, p, latents=latents)
            if RunId.parse(args.run).kind == "motion_lora":
                # RQ3 reads a MotionLoRA against the camera-motion clips it learns from, not the held-out mix
                folder = Path(params.prepare.out_dir) / params.train_motion_lora.dataset
                clips, prompts = real_clip_set(folder, p.synth_dir, frames)
                results[REAL_MOTION_LORA] = score_videos(ref, clips, prompts, p)
        out = Path(p.out_dir) / f"{args.run}.json"
        meta = {**ref.meta, "run": args.run, "scales": [d.name for d in dirs], "frames": frames,
                "bootstrap": p.bootstrap, "seed": p.seed, "timings_s": timings,
                "seconds": round(time.perf_counter() - start, 2)}
        mlflow.set_tags({f"eval.{k}": str(v)[:250] for k, v in ref.meta.items()})
        publish_scores(out, results, meta)
    print(f"evaluate@{args.run}: {len(dirs)} scale(s) in {meta['seconds']:.1f}s -> {out}")
