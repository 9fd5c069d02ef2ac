"""Seconds per sampled video: DDIM at the default's old 15 steps against DPM-Solver++ 2M at fewer steps,
in one process, same pipeline, prompts and seeds; and how far each lands from DDIM at 50 steps (the
trajectory both approximate), in latent RMS.

The committed models are used when present (``models/base``, ``models/domain_adapter``,
``models/motion/with_adapter_s0``), else a random-weight world of the default's shapes. Whether the
metrics hold at fewer steps is a paired check on the trained models (same prompts and noise): sample and
evaluate a run at each setting (``animatelab sample/evaluate --set sample.sampler=... --set ...out_dir=DIR``)
and pass ``--metrics LABEL=DIR``; each run's headline metrics land beside the timings.

    .venv/bin/python benchmarks/bench_sampler.py [--videos 8] [--configs ddim:15 dpmpp_2m:10 dpmpp_2m:8]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN = "with_adapter_s0"


def main() -> None:
    import sys

    import torch

    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_sampling import build_world, world_params

    from animatelab.config import load_params
    from animatelab.sampling import build_pipeline, denoise, heldout_prompts
    from animatelab.stages.sample import sample_spec, study_models

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--configs", nargs="+", default=["ddim:15", "dpmpp_2m:10", "dpmpp_2m:8"])
    ap.add_argument("--reference", default="ddim:50")
    ap.add_argument("--out", default="reports/bench/sampler.json")
    ap.add_argument("--metrics", nargs="*", default=[], help="LABEL=DIR of an evaluate out_dir")
    ap.add_argument("--keys", nargs="+", default=["watermark_leakage", "domain_video_frac", "fvd_synth",
                                                  "clip_synth_text", "gt_persistent_object", "warp_error"])
    args = ap.parse_args()
    torch.set_num_threads(2)
    trained = all((REPO / p).exists() for p in ("models/base/unet", "models/domain_adapter", f"models/motion/{RUN}"))
    with tempfile.TemporaryDirectory() as tmp:
        if trained:
            base = load_params(REPO / "params.yaml", [f"sample.num_videos={args.videos}"])
        else:
            ns = argparse.Namespace(videos=args.videos, scales=[0.0], frames=None, steps=None, batch=None)
            base = world_params(Path(tmp), ns)
            build_world(Path(tmp), base)
        s = base.sample
        prompts = [p["prompt"] for p in heldout_prompts(s.heldout_dir, s.ground_truth, s.num_videos)][: args.videos]
        results, latents = {}, {}
        for cfg in [args.reference, *args.configs]:
            sampler, steps = cfg.split(":")
            sample = base.sample.model_copy(update={"sampler": sampler, "num_inference_steps": int(steps)})
            params = base.model_copy(update={"sample": sample})
            pipe = build_pipeline(study_models(params), sample, params.train_motion.out_dir,
                                  sample_spec(params, RUN), 0.0)
            denoise(pipe, prompts[:1], sample, 0)  # warm-up call
            t0 = time.perf_counter()
            latents[cfg] = torch.cat(denoise(pipe, prompts, sample, sample.seed))
            results[cfg] = {"seconds_per_video": round((time.perf_counter() - t0) / len(prompts), 4)}
            print(cfg, results[cfg], flush=True)
    ref, base_cfg = latents[args.reference], args.configs[0]
    for cfg in args.configs:
        r = results[cfg]
        r["speedup_vs_" + base_cfg] = round(results[base_cfg]["seconds_per_video"] / r["seconds_per_video"], 3)
        r["latent_rms_to_" + args.reference] = round(float((latents[cfg] - ref).pow(2).mean().sqrt()), 4)
    report = {"status": "ok", "models": "trained" if trained else "random", "videos": len(prompts),
              "threads": 2, "torch": torch.__version__, "reference": args.reference, "results": results,
              "latent_rms_of_reference": round(float(ref.pow(2).mean().sqrt()), 4)}
    report["metrics"] = {label: headline(Path(d), args.keys) for label, d in (m.split("=", 1) for m in args.metrics)}
    out = REPO / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"status": "ok", **{k: v["seconds_per_video"] for k, v in results.items()}}))


def headline(metrics_dir: Path, keys: list[str]) -> dict:
    """``{run: {key: [mean, ci_low, ci_high]}}`` at adapter scale 0 from an evaluate out_dir."""
    out = {}
    for path in sorted(metrics_dir.glob("*.json")):
        scale = json.loads(path.read_text()).get("scale_0.0", {})
        out[path.stem] = {k: [round(scale[k][f], 4) for f in ("mean", "ci_low", "ci_high")]
                          for k in keys if isinstance(scale.get(k), dict)}
    return out


if __name__ == "__main__":
    main()
