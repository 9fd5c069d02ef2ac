"""Seconds per sampled video, today's sampling path vs the new one, split load / UNet / decode / write.

One run builds a world of the default's shapes with random weights (tiny base of params.yaml's
``pretrain_base``, the ``with_adapter_s0`` motion design, a non-zero domain adapter) in a temp dir,
then samples it once per variant, each in its own process (the allocator setting is per process):

- ``baseline``: the code before this change, kept below (``baseline_generate``): the base loaded
  again for every adapter scale, ``output_type="np"``, videos written without latents, default
  glibc allocator. Its decode time is the pipeline's own ``decode_latents`` + post-processing.
- ``new``: ``animatelab.sampling.sample_run`` as the ``sample`` stage runs it after
  ``animatelab.cli.tune_allocator``: one base for all scales, latents returned then decoded,
  ``latents.npy`` written too.
- ``new_default_malloc``: ``new`` without the allocator setting, to tell the two changes apart.

All use params.yaml's sampling settings unless overridden; the baseline's and new videos are compared
(same seeds, so they should match). Writes reports/bench/sampling.json.

    .venv/bin/python benchmarks/bench_sampling.py [--videos 8] [--repeats 1] [--scales 0.0 1.0]
                                                   [--frames F --steps S --batch B]

Defaults: 8 videos (one batch) at params.yaml's frames / DDIM steps / batch, scale 0.0 (17 of the
default's 18 sampling passes); add ``--scales 0.0 0.5 1.0`` for the one RQ2 sweep run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RUN = "with_adapter_s0"
VARIANTS = ("baseline", "new", "new_default_malloc")


def world_params(world: Path, args: argparse.Namespace, variant: str = "baseline"):
    """params.yaml with every path of the sample stage in ``world`` and the chosen sizes."""
    from animatelab.config import load_params

    sets = [f"sample.out_dir={world}/out_{variant}", f"base.path={world}/base",
            f"train_adapter.out_dir={world}/adapter",
            f"train_motion.out_dir={world}/motion", f"sample.heldout_dir={world}/heldout",
            f"sample.ground_truth={world}/none.json", f"sample.num_videos={args.videos}",
            f"sample.adapter_scales={list(args.scales)}", "sample.adapter_scales_by_run={}"]
    sets += [f"sample.{k}={v}" for k, v in (("frames", args.frames), ("num_inference_steps", args.steps),
                                            ("batch_size", args.batch)) if v is not None]
    return load_params(REPO / "params.yaml", sets)


def build_world(world: Path, params) -> None:
    """Random-weight base, domain adapter and motion module saved as the stages save them."""
    import torch

    from animatelab.models.motion import build_motion_unet, save_motion
    from animatelab.models.tiny_base import build_tiny_base, save_base
    from animatelab.train.adapter import add_domain_adapter, save_domain_adapter

    torch.manual_seed(0)
    base = build_tiny_base(params.pretrain_base)
    save_base(base, world / "base")
    design = params.train_motion.runs[RUN].module
    motion = build_motion_unet(base.unet, design, seed=0)
    with torch.no_grad():  # a motion module that is not the identity
        for name, p in motion.named_parameters():
            if "proj_out" in name:
                p.normal_(0, 0.02)
    save_motion(motion, design, world / "motion" / RUN, official=False)
    unet = add_domain_adapter(base.unet, params.train_adapter.lora)
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    save_domain_adapter(unet, world / "adapter")
    (world / "heldout").mkdir(parents=True, exist_ok=True)
    colours, shapes, moves = ["red", "green", "blue", "yellow"] * 2, ["circle", "square"] * 4, ["left", "up"] * 4
    captions = [f"a {c} {s} moving {m} on a black background" for c, s, m in zip(colours, shapes, moves)]
    (world / "heldout/shard-00000.jsonl").write_text(
        "".join(json.dumps({"videoid": f"v{i}", "caption": c}) + "\n" for i, c in enumerate(captions)))


def baseline_generate(pipe, prompts: list[str], params, first_seed: int) -> np.ndarray:
    """The baseline: ``animatelab.sampling.generate`` as of commit cd4f130: ``output_type="np"``."""
    import torch

    s = params.sample
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    videos = []
    for i in range(0, len(prompts), s.batch_size):
        batch = prompts[i : i + s.batch_size]
        gens = [torch.Generator().manual_seed(first_seed + i + j) for j in range(len(batch))]
        out = pipe(prompt=batch, num_frames=s.frames, height=size, width=size,
                   num_inference_steps=s.num_inference_steps, guidance_scale=s.guidance_scale,
                   generator=gens, output_type="np").frames
        videos.append(np.clip(np.rint(np.asarray(out) * 255), 0, 255).astype(np.uint8))
    return np.concatenate(videos)


def timed_method(obj, name: str, times: dict[str, float], key: str) -> None:
    """Wrap ``obj.name`` so its wall seconds add up in ``times[key]`` (the work is unchanged)."""
    fn = getattr(obj, name)

    def wrapper(*a, **k):
        t0 = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            times[key] = times.get(key, 0.0) + time.perf_counter() - t0

    setattr(obj, name, wrapper)


def baseline_sample_run(params, run: str) -> dict:
    """The old ``sample_run``: a fresh base and pipeline per scale, decode inside the pipeline call."""
    import torch

    from animatelab.runs import scale_folder, scale_name
    from animatelab.sampling import build_pipeline, heldout_prompts, write_videos
    from animatelab.stages.sample import sample_spec, study_models

    s = params.sample
    torch.set_num_threads(s.threads)
    spec = sample_spec(params, run)
    prompts = heldout_prompts(s.heldout_dir, s.ground_truth, s.num_videos, spec.lora_motion)
    results = {}
    for scale in s.scales_for(run):
        times: dict[str, float] = {}
        t0 = time.perf_counter()
        pipe = build_pipeline(study_models(params), s, params.train_motion.out_dir, spec, scale)  # base=None: loads the base, as the old code did
        times["load"] = time.perf_counter() - t0
        timed_method(pipe, "decode_latents", times, "decode")
        timed_method(pipe.video_processor, "postprocess_video", times, "decode")
        t0 = time.perf_counter()
        videos = baseline_generate(pipe, [p["prompt"] for p in prompts], params, s.seed)
        times["unet"] = time.perf_counter() - t0 - times["decode"]
        out = scale_folder(s.out_dir, run, scale)
        t0 = time.perf_counter()
        write_videos(out, videos, prompts, s.fps)
        times["write"] = time.perf_counter() - t0
        results[scale_name(scale)] = {"dir": str(out), "videos": len(videos),
                                      **{f"{k}_seconds": round(v, 3) for k, v in times.items()}}
    return results


def child(variant: str, world: Path, args: argparse.Namespace) -> None:
    from animatelab.cli import set_stage_threads, tune_allocator
    from animatelab.sampling import sample_run
    from animatelab.stages.sample import sample_spec, study_models

    def new_sample_run(params, run: str) -> dict:
        return sample_run(params.sample, sample_spec(params, run), study_models(params), params.train_motion.out_dir)

    params = world_params(world, args, variant)
    if variant == "new":
        tune_allocator()
        set_stage_threads(params, "sample")  # as the CLI sets them before the sample stage
    results = (baseline_sample_run if variant == "baseline" else new_sample_run)(params, RUN)
    print(json.dumps(results))


def summarise(results: dict) -> dict:
    """Seconds per video of each part, summed over scales."""
    videos = sum(r["videos"] for r in results.values())
    parts = {k: sum(r.get(f"{k}_seconds", 0.0) for r in results.values())
             for k in ("load", "unet", "decode", "write")}
    return {"videos": videos, **{f"{k}_s_per_video": round(v / videos, 4) for k, v in parts.items()},
            "total_s_per_video": round(sum(parts.values()) / videos, 4)}


def compare(world: Path) -> dict:
    """Largest pixel difference between the two variants' videos, and the latents' shape."""
    diffs, shapes = [], []
    for new in sorted((world / "out_new").rglob("videos.npy")):
        old = world / "out_baseline" / new.relative_to(world / "out_new")
        diffs.append(int(np.abs(np.load(new).astype(int) - np.load(old).astype(int)).max()))
        shapes.append(list(np.load(new.with_name("latents.npy")).shape))
    return {"videos_max_abs_diff": max(diffs), "latents_shape": shapes[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--scales", type=float, nargs="+", default=[0.0])
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=1, help="processes per variant (medians reported)")
    ap.add_argument("--child", choices=VARIANTS)
    ap.add_argument("--world", default=None)
    ap.add_argument("--out", default=str(REPO / "reports/bench/sampling.json"))
    args = ap.parse_args()
    if args.child:
        return child(args.child, Path(args.world), args)
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp)
        params = world_params(world, args)
        build_world(world, params)
        passed = [a for a in sys.argv[1:] if a not in ("--out", args.out)]
        runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
        for r in range(args.repeats):  # alternating order, so no variant always runs on a warm cache
            for variant in VARIANTS if r % 2 == 0 else VARIANTS[::-1]:
                cmd = [sys.executable, __file__, *passed, "--child", variant, "--world", tmp]
                proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True)
                runs[variant].append(summarise(json.loads(proc.stdout.strip().splitlines()[-1])))
        summary = {v: {k: median(x[k] for x in rs) for k in rs[0]} for v, rs in runs.items()}
        check = compare(world)
    s = params.sample
    report = {
        "status": "ok",
        "ratio": round(summary["baseline"]["total_s_per_video"] / summary["new"]["total_s_per_video"], 3),
        "unet_ratio": round(summary["baseline"]["unet_s_per_video"] / summary["new"]["unet_s_per_video"], 3),
        "allocator_unet_ratio": round(summary["new_default_malloc"]["unet_s_per_video"]
                                      / summary["new"]["unet_s_per_video"], 3),
        **check, "repeats": args.repeats,
        "settings": {"videos": s.num_videos, "frames": s.frames, "steps": s.num_inference_steps,
                              "batch_size": s.batch_size, "scales": list(args.scales), "threads": s.threads},
        **summary,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if not isinstance(v, dict)}))


if __name__ == "__main__":
    main()
