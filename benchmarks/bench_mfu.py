"""Model FLOPs utilisation of the SD1.5 motion-module training step (AnimateDiff, 256x256x16).

MFU = FLOPs of one step (counted with torch.utils.flop_counter, forward + backward, no
recomputation) / measured step time / the GPU's dense bf16 peak. GPU only: on a machine
without one it prints 'skipped: no GPU'. ``--estimate`` needs no GPU: it counts the FLOPs and
the saved activations on the meta device and turns them into time/memory estimates at
assumed MFUs (the numbers in experiments/webvid-sd15/README.md).

    python benchmarks/bench_mfu.py                       # measure (GPU)
    python benchmarks/bench_mfu.py --estimate            # estimate (any machine)

The last line printed is a JSON object (benchmarks/run_all.py collects it).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from animatelab.models import sd15

# Dense bf16 tensor-core peaks (TFLOP/s) from the vendors' datasheets (no sparsity).
PEAK_TFLOPS = {"A100": 312.0, "H100 PCIe": 756.0, "H100": 989.0, "H200": 989.0, "L40S": 362.0, "A10G": 70.0, "L4": 121.0}
ASSUMED = {"A100": 312.0, "H100": 989.0}


def peak_tflops(name: str) -> float | None:
    for key in sorted(PEAK_TFLOPS, key=len, reverse=True):  # "H100 PCIe" before "H100"
        if key in name:
            return PEAK_TFLOPS[key]
    return None


def _motion_unet(args, meta: bool, device: str | None = None):
    unet = sd15.sd15_motion_unet(args.version, meta=meta, device=device)
    unet.freeze_unet2d_params()
    unet.train()
    if args.checkpointing != "none":
        unet.enable_gradient_checkpointing()
    if args.checkpointing == "full":
        sd15.checkpoint_attention_blocks(unet)
    return unet


def estimate(args) -> dict:
    """FLOPs and activation memory on meta; time per step at assumed MFUs (an estimate)."""
    flops = sd15.training_step_flops(args.version, args.batch, args.frames, args.resolution)
    acts = {}
    for mode in ("none", "diffusers", "full"):
        args_mode = argparse.Namespace(**{**vars(args), "checkpointing": mode})
        unet = _motion_unet(args_mode, meta=True).to(torch.bfloat16)
        batch = sd15.dummy_batch(args.batch, args.frames, args.resolution, dtype=torch.bfloat16)
        acts[mode] = round(sd15.saved_activation_bytes(unet, batch) / 2**30, 2)
    trainable = sd15.MOTION_ADAPTER_PARAMS[args.version]
    frozen = 859_520_964  # SD1.5 UNet
    # fp32 trainable weights + grads + AdamW (2 states); frozen UNet in bf16.
    static_gib = round((trainable * 4 * 4 + frozen * 2) / 2**30, 2)
    times = {
        gpu: {f"mfu_{m:.2f}": round(flops["step"] / (m * peak * 1e12), 3) for m in args.mfu}
        for gpu, peak in ASSUMED.items()
    }
    return {
        "benchmark": "mfu", "status": "estimate", "version": args.version, "batch": args.batch,
        "frames": args.frames, "resolution": args.resolution,
        "tflop_per_step": round(flops["step"] / 1e12, 2), "tflop_forward": round(flops["forward"] / 1e12, 2),
        "saved_activations_gib": acts, "weights_grads_adam_gib": static_gib,
        "seconds_per_step_estimate": times,
    }


def measure(args) -> dict:
    device = "cuda"
    name = torch.cuda.get_device_name()
    peak = args.peak_tflops or peak_tflops(name)
    unet = _motion_unet(args, meta=False, device=device)
    # As in the trainers: frozen base in bf16, trained motion modules in fp32 under autocast.
    for p in unet.parameters():
        if not p.requires_grad:
            p.data = p.data.to(torch.bfloat16)
    params = [p for p in unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, fused=True)
    batch = sd15.dummy_batch(args.batch, args.frames, args.resolution, device=device)
    noise = torch.randn_like(batch["sample"])

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            pred = unet(**batch).sample
        loss = torch.nn.functional.mse_loss(pred.float(), noise)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / args.steps
    hardware = counter.get_total_flops()  # includes the recomputation of checkpointed blocks
    model = sd15.training_step_flops(args.version, args.batch, args.frames, args.resolution)["step"]
    return {
        "benchmark": "mfu", "status": "ok", "device": name, "version": args.version, "batch": args.batch,
        "frames": args.frames, "resolution": args.resolution, "checkpointing": args.checkpointing,
        "tflop_per_step": round(model / 1e12, 2), "tflop_per_step_with_recompute": round(hardware / 1e12, 2),
        "seconds_per_step": round(seconds, 4), "clips_per_second": round(args.batch / seconds, 2),
        "peak_tflops": peak,
        "mfu": None if peak is None else round(model / seconds / (peak * 1e12), 4),
        "hfu": None if peak is None else round(hardware / seconds / (peak * 1e12), 4),
        "max_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimate", action="store_true", help="meta-device estimate, no GPU needed")
    parser.add_argument("--version", default="v3", choices=list(sd15.MOTION_ADAPTER_CONFIGS))
    parser.add_argument("--batch", type=int, default=4, help="clips per GPU (official: 4)")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--checkpointing", default="full", choices=["none", "diffusers", "full"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the GPU's dense bf16 peak")
    parser.add_argument("--mfu", type=float, nargs="+", default=[0.2, 0.3, 0.4], help="assumed MFUs (--estimate)")
    args = parser.parse_args(argv)
    if args.estimate:
        result = estimate(args)
    elif not torch.cuda.is_available():
        print("skipped: no GPU")
        result = {"benchmark": "mfu", "status": "skipped", "reason": "no GPU"}
    else:
        result = measure(args)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
