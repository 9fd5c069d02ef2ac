"""Motion-module training step at the default's shapes: today's eager fp32 step against the
candidate speed-ups (bf16 autocast, channels-last, ``torch.compile``), in one
process, same weights and batches. Reports seconds per step, the ratio to eager, the compile time
counted against a 300-step run, and the loss of each variant on the same steps.

    .venv/bin/python benchmarks/bench_train_step_variants.py [--steps 30] [--no-compile]

Writes reports/bench/train_step_variants.json. The base is the committed ``models/base`` when
present (the real widths), else a random tiny base of the same config.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from animatelab.config import MotionModuleParams, load_params
from animatelab.models.scheduler import scheduler_config
from animatelab.train.motion import video_loss_fn
from animatelab.train.randomness import StepRandom


def build_unet(base_path: Path):
    from animatelab.models.motion import build_motion_unet

    if (base_path / "unet").is_dir():
        from animatelab.models.base import load_base

        base = load_base(base_path)
    else:
        from animatelab.models.tiny_base import build_tiny_base

        base = build_tiny_base(load_params().pretrain_base)
    return build_motion_unet(base.unet, MotionModuleParams(), seed=0).train()


def run_variant(name: str, steps: int, batch: int, frames: int, base_path: Path) -> dict:
    torch.manual_seed(0)
    unet = build_unet(base_path)
    model = unet
    if name == "channels_last":
        unet.to(memory_format=torch.channels_last)
    if name == "compile":
        model = torch.compile(unet)
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(batch, frames, 4, 8, 8, generator=g)
    text, empty = torch.randn(batch, 16, 64, generator=g), torch.randn(16, 64, generator=g)
    loss_fn = video_loss_fn(model, scheduler_config(load_params().pretrain_base.noise), empty, 0.1)
    params = [p for p in unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    losses, first = [], 0.0
    t0 = time.perf_counter()
    for i in range(steps + 1):
        if i == 1:
            first, t0 = time.perf_counter() - t0, time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=name == "bf16_autocast"):
            loss = loss_fn({"latents": latents, "text": text}, StepRandom(i, batch, torch.device("cpu")))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss))
    per_step = (time.perf_counter() - t0) / steps
    return {"seconds_per_step": round(per_step, 4), "first_step_seconds": round(first, 2),
            "losses_first_last": [round(losses[0], 5), round(losses[-1], 5)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--base", default="models/base")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--out", default="reports/bench")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = ["eager", "bf16_autocast", "channels_last"] + ([] if args.no_compile else ["compile"])
    results = {}
    for name in names:
        results[name] = run_variant(name, args.steps, args.batch, args.frames, Path(args.base))
        print(name, results[name], flush=True)
    eager = results["eager"]["seconds_per_step"]
    for name, r in results.items():
        r["speedup_vs_eager"] = round(eager / r["seconds_per_step"], 3)
        # a default run is 300 steps: what the variant saves or costs there, compile time included
        r["run_300_steps_seconds"] = round(r["first_step_seconds"] + 299 * r["seconds_per_step"], 1)
    report = {"batch": args.batch, "frames": args.frames, "threads": args.threads, "steps": args.steps,
              "torch": torch.__version__, "results": results}
    out = Path(args.out) / "train_step_variants.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
