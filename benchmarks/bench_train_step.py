"""Motion-module training step: ours (cached VAE latents and text embeddings in) vs. an
official-style step (pixel clips in: VAE encode and text encode every step, as the official
AnimateDiff trainer does), same models, batch and loss, in one process. Reports clips/s of each,
their ratio, and peak memory (CUDA: max_memory_allocated; CPU: peak RSS growth above the
process's RSS before the step loop, sampled every 5 ms).

    .venv/bin/python benchmarks/bench_train_step.py [--config tiny|sd15] [--steps 6] [--batch 4] [--frames 16]

``tiny``: the default tiny base (random weights), CPU. ``sd15``: SD1.5-sized UNet + v3 motion
module + SD VAE + CLIP-L-sized text encoder, random weights, for a GPU. Writes
reports/bench/train_step_{config}.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import threading
import time
from pathlib import Path

import torch

from animatelab.config import MotionModuleParams, load_params
from animatelab.models.scheduler import scheduler_config
from animatelab.train.motion import video_loss_fn
from animatelab.train.randomness import StepRandom


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


class PeakMemory:
    """Peak memory of a block: CUDA allocator peak, or sampled RSS growth on CPU."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.peak, self._stop = device, 0, threading.Event()

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
        else:
            self.start = _rss()
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss() - self.start)
            time.sleep(0.005)

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.start
        else:
            self._stop.set()
            self.thread.join()


def build(config: str, device: torch.device):
    """(vae, text_encoder, tokenizer, motion unet, resolution) with random weights."""
    from animatelab.models.motion import build_motion_unet

    if config == "tiny":
        from animatelab.models.tiny_base import build_tiny_base

        base = build_tiny_base(load_params().pretrain_base)
        unet = build_motion_unet(base.unet, MotionModuleParams(), seed=0)
        return base.vae, base.text_encoder, base.tokenizer, unet, 32
    from diffusers import AutoencoderKL
    from transformers import CLIPTextConfig, CLIPTextModel

    from animatelab.models.sd15 import sd15_motion_unet
    from animatelab.models.tiny_base import CLIP_VOCAB_SIZE, build_tokenizer

    with torch.device(device):
        unet = sd15_motion_unet("v3", meta=False)
        vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4,
                            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                            block_out_channels=(128, 256, 512, 512), layers_per_block=2, sample_size=256)
        text = CLIPTextModel(CLIPTextConfig(vocab_size=CLIP_VOCAB_SIZE, hidden_size=768, intermediate_size=3072,
                                            num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77))
    unet.freeze_unet2d_params()
    return vae, text, build_tokenizer(77), unet, 256


def time_steps(step, steps: int, device: torch.device) -> tuple[float, int]:
    step(0)  # warm-up
    with PeakMemory(device) as mem:
        t0 = time.perf_counter()
        for i in range(1, steps + 1):
            step(i)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    return seconds, mem.peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=["tiny", "sd15"], default="tiny")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="reports/bench")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.config == "sd15" and torch.cuda.is_available() else "cpu")
    vae, text_encoder, tokenizer, unet, res = build(args.config, device)
    for m in (vae, text_encoder):
        m.to(device).requires_grad_(False).eval()
    unet.to(device).train()
    scale = vae.config.scaling_factor
    g = torch.Generator().manual_seed(0)
    pixels = (torch.rand(args.batch, args.frames, 3, res, res, generator=g) * 2 - 1).to(device)
    captions = [f"a red circle moving left on a black background {i}" for i in range(args.batch)]
    ids = tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids.to(device)
    empty_ids = tokenizer([""], padding="max_length", max_length=tokenizer.model_max_length,
                          return_tensors="pt").input_ids.to(device)
    with torch.no_grad():  # the cache our encode stage writes once
        latents = vae.encode(pixels.flatten(0, 1)).latent_dist.mean.mul(scale).unflatten(0, (args.batch, args.frames))
        text = text_encoder(ids)[0]
        empty = text_encoder(empty_ids)[0][0]
    loss_fn = video_loss_fn(unet, scheduler_config(load_params().pretrain_base.noise), empty, 0.1)
    params = [p for p in unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)

    def update(batch: dict, i: int) -> None:
        loss = loss_fn(batch, StepRandom(i, args.batch, device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    def ours(i: int) -> None:
        update({"latents": latents, "text": text}, i)

    def official(i: int) -> None:
        with torch.no_grad():
            lat = vae.encode(pixels.flatten(0, 1)).latent_dist.sample().mul(scale).unflatten(0, (args.batch, args.frames))
            tok = tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                            return_tensors="pt").input_ids.to(device)
            txt = text_encoder(tok)[0]
        update({"latents": lat, "text": txt}, i)

    results = {}
    for name, fn in (("official_style", official), ("ours", ours)):
        seconds, peak = time_steps(fn, args.steps, device)
        results[name] = {"seconds_per_step": round(seconds / args.steps, 4),
                         "clips_per_s": round(args.steps * args.batch / seconds, 3), "peak_memory_bytes": int(peak)}
        print(name, results[name])
    report = {
        "config": args.config, "device": str(device), "batch": args.batch, "frames": args.frames,
        "resolution": res, "steps": args.steps, "threads": args.threads, "results": results,
        "speedup_clips_per_s": round(results["ours"]["clips_per_s"] / results["official_style"]["clips_per_s"], 3),
        "memory_ratio_official_over_ours": round(results["official_style"]["peak_memory_bytes"]
                                                 / max(1, results["ours"]["peak_memory_bytes"]), 3),
        "trainable_parameters": sum(p.numel() for p in params), "torch": torch.__version__,
        "machine": platform.machine(), "memory_measure": "cuda max_memory_allocated" if device.type == "cuda"
        else "peak RSS growth (sampled)",
    }
    out = Path(args.out) / f"train_step_{args.config}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"speed-up {report['speedup_clips_per_s']}x -> {out}")


if __name__ == "__main__":
    main()
