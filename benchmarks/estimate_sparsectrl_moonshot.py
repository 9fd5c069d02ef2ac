"""Cost estimate of the real-scale SparseCtrl (RQ6) and MoonShot (RQ7) stages, counted on the meta device.

Builds the SD1.5-size models with this repo's own builders and the settings of
``experiments/webvid-sd15/params.yaml`` (no weights, no memory, no arithmetic), counts parameters,
the FLOPs of one training step (forward + backward, ``torch.utils.flop_counter``, no recomputation)
and of one sampling video, and the bytes autograd saves for backward. Time is then **assumed**:
FLOPs / (dense bf16 peak x an assumed MFU). Nothing here was run on a GPU.

    python benchmarks/estimate_sparsectrl_moonshot.py            # JSON on the last line

Not a ``bench_*.py``: ``make bench`` (benchmarks/run_all.py) does not run it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from animatelab.models import sd15

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "experiments" / "webvid-sd15" / "params.yaml"
PEAKS = {"A100": 312.0, "H100": 989.0}  # dense bf16 TFLOP/s (as benchmarks/bench_mfu.py)
SD15_VAE_LEVELS = 4  # SD1.5 vae/config.json block_out_channels [128, 256, 512, 512]
SD15_VAE_CONFIG = {"in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2,
                   "block_out_channels": [128, 256, 512, 512], "norm_num_groups": 32,
                   "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4}


def _flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def _step(model_call, trainable: torch.nn.Module) -> dict[str, int]:
    """Forward and backward FLOPs of ``model_call()`` (returns the prediction)."""
    out = {}
    with FlopCounterMode(display=False) as fwd:
        pred = model_call()
    with FlopCounterMode(display=False) as bwd:
        pred.float().pow(2).mean().backward()
    for p in trainable.parameters():
        p.grad = None
    out = {"forward": fwd.get_total_flops(), "backward": bwd.get_total_flops()}
    out["step"] = out["forward"] + out["backward"]
    return out


def _saved_gib(model_call) -> float:
    """GiB autograd saves in one forward (activations; weights not counted), as sd15.saved_activation_bytes."""
    total = 0

    def pack(t):
        nonlocal total
        if not (isinstance(t, torch.nn.Parameter) or isinstance(t._base, torch.nn.Parameter)):
            total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model_call()
    return round(total / 2**30, 2)


def _inputs(batch: int, frames: int, side: int, dtype) -> dict:
    return {"noisy": torch.randn(batch, 4, frames, side, side, device="meta", dtype=dtype),
            "t": torch.randint(0, 1000, (batch,), device="meta"),
            "text": torch.randn(batch, sd15.SD15_TEXT_TOKENS, sd15.SD15_TEXT_DIM, device="meta", dtype=dtype)}


def sparsectrl(params, modality: str, dtype) -> dict:
    from animatelab.config import SparseCtrlVariant
    from animatelab.sparsectrl.model import build_encoder
    from animatelab.sparsectrl.train import SparseCtrlTrainee

    ts, loop = params.train_sparsectrl, params.train_sparsectrl.loop
    unet2d = sd15.sd15_unet(meta=True)
    with sd15._context(meta=True):
        encoder = build_encoder(unet2d, SparseCtrlVariant(modality=modality), SD15_VAE_LEVELS,
                                ts.motion_num_attention_heads, max(32, ts.frames), ts.sketch_embedding_channels)
    video = sd15.sd15_motion_unet("v3", meta=True)
    model = SparseCtrlTrainee(encoder.to(dtype), video.to(dtype)).train()
    res = params.prepare.resolution
    side, batch, frames = res // sd15.SD15_VAE_SCALE, loop.batch_size, ts.frames
    x = _inputs(batch, frames, side, dtype)
    cond_side, channels = (side, 4) if modality == "rgb" else (res, 3)
    cond = torch.randn(batch, channels, frames, cond_side, cond_side, device="meta", dtype=dtype)
    mask = torch.randn(batch, 1, frames, cond_side, cond_side, device="meta", dtype=dtype)
    call = lambda: model(x["noisy"], x["t"], x["text"], cond, mask)
    flops = _step(call, encoder)
    if loop.gradient_checkpointing:
        model.enable_gradient_checkpointing()  # what train.loop.fit does (diffusers': resnets only)
    saved = _saved_gib(call)
    trainable = sd15.count_params(encoder)
    frozen = sd15.count_params(video)
    # sampling (sample_sparsectrl): the pipeline renders at unet sample_size x 8 = 512 px for SD1.5
    model.eval()
    s = params.sample
    side_s = sd15.SD15_UNET_CONFIG["sample_size"]
    xs = _inputs(2, s.frames, side_s, dtype)  # classifier-free guidance: 2 rows per video
    cond_s = torch.randn(2, channels, s.frames, *(2 * (side_s if modality == "rgb" else side_s * 8,)),
                         device="meta", dtype=dtype)
    mask_s = torch.randn(2, 1, s.frames, *cond_s.shape[-2:], device="meta", dtype=dtype)
    with torch.no_grad():
        per_step = _flops(lambda: model(xs["noisy"], xs["t"], xs["text"], cond_s, mask_s))
    return {"trainable_params": trainable, "frozen_video_unet_params": frozen, "batch_per_gpu": batch,
            "tflop_per_step": round(flops["step"] / 1e12, 2), "tflop_forward": round(flops["forward"] / 1e12, 2),
            "saved_activations_gib": saved,
            "weights_grads_adam_gib": round((trainable * 16 + frozen * 2) / 2**30, 2),
            "sample_denoise_tflop_per_video": round(per_step * s.num_inference_steps / 1e12, 1)}


def moonshot(params, dtype) -> dict:
    from animatelab.moonshot import model as ms

    p1, p2 = params.train_moonshot_image, params.train_moonshot_video
    embed_dim = 768  # CLIP ViT-L/14 image tower (the real-scale image_encoder)
    side = params.prepare.resolution // sd15.SD15_VAE_SCALE
    unet2d = sd15.sd15_unet(meta=True)
    with sd15._context(meta=True):
        ms.add_image_cross_attention(unet2d, embed_dim, p1.num_image_tokens, p1.image_scale)
    names = set(ms.train_only(unet2d, ms.IMAGE_KEYS))
    unet2d = unet2d.to(dtype).train()
    b1 = p1.loop.batch_size
    img = torch.randn(b1, 4, side, side, device="meta", dtype=dtype)
    emb1 = torch.randn(b1, embed_dim, device="meta", dtype=dtype)
    text1 = torch.randn(b1, sd15.SD15_TEXT_TOKENS, sd15.SD15_TEXT_DIM, device="meta", dtype=dtype)
    t1 = torch.randint(0, 1000, (b1,), device="meta")
    call1 = lambda: unet2d(img, t1, encoder_hidden_states=text1, added_cond_kwargs=ms.image_kwargs(emb1)).sample
    f1 = _step(call1, unet2d)
    n1 = sum(q.numel() for n, q in unet2d.named_parameters() if n in names)
    frozen1 = sd15.count_params(unet2d) - n1

    with sd15._context(meta=True):
        video = ms.build_moonshot_unet(unet2d, p2.module)
    video = video.to(dtype).train()
    b2 = p2.loop.batch_size
    x = _inputs(b2, p2.frames, side, dtype)
    emb2 = torch.randn(b2, embed_dim, device="meta", dtype=dtype)
    first = torch.randn(b2, 4, side, side, device="meta", dtype=dtype)
    call2 = lambda: ms.predict(video, x["noisy"], x["t"], x["text"], emb2, first)
    f2 = _step(call2, video)
    if p2.loop.gradient_checkpointing:
        video.enable_gradient_checkpointing()
    saved2 = _saved_gib(call2)
    n2 = sd15.count_params(video, trainable_only=True)
    frozen2 = sd15.count_params(video) - n2
    # sampling (sample_moonshot, animate mode): 512 px as the pipelines render SD1.5, 2 rows for guidance
    video.eval()
    s = params.sample
    side_s = sd15.SD15_UNET_CONFIG["sample_size"]
    xs = _inputs(2, s.frames, side_s, dtype)
    first_s = torch.randn(2, 4, side_s, side_s, device="meta", dtype=dtype)
    emb_s = torch.randn(2, embed_dim, device="meta", dtype=dtype)
    with torch.no_grad():
        per_step = _flops(lambda: ms.predict(video, xs["noisy"], xs["t"], xs["text"], emb_s, first_s))
    return {
        "image": {"trainable_params": n1, "batch_per_gpu": b1, "tflop_per_step": round(f1["step"] / 1e12, 2),
                  "weights_grads_adam_gib": round((n1 * 16 + frozen1 * 2) / 2**30, 2)},
        "video": {"trainable_params": n2, "batch_per_gpu": b2, "tflop_per_step": round(f2["step"] / 1e12, 2),
                  "saved_activations_gib": saved2,
                  "weights_grads_adam_gib": round((n2 * 16 + frozen2 * 2) / 2**30, 2),
                  "sample_denoise_tflop_per_video": round(per_step * s.num_inference_steps / 1e12, 1)},
    }


def vae_decode_tflop(frames: int) -> float:
    from diffusers import AutoencoderKL

    with sd15._context(meta=True):
        vae = AutoencoderKL(**SD15_VAE_CONFIG)
    side = sd15.SD15_UNET_CONFIG["sample_size"]
    z = torch.randn(frames, 4, side, side, device="meta")
    with torch.no_grad():
        return round(_flops(lambda: vae.decode(z).sample) / 1e12, 1)


def hours(tflop_per_step: float, steps: int, gpus: int, mfu: float, scaling: float) -> dict[str, float]:
    """Wall hours of ``steps`` optimizer steps at the per-GPU batch of params: more GPUs raise the global
    batch (processes x batch_size), not the speed per step, which loses ``scaling`` beyond one GPU."""
    eff = scaling if gpus > 1 else 1.0
    return {gpu: round(tflop_per_step * steps / (peak * mfu * eff) / 3600, 1) for gpu, peak in PEAKS.items()}


def main(argv: list[str] | None = None) -> dict:
    from animatelab.config import load_params

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(PARAMS))
    parser.add_argument("--mfu", type=float, default=0.3, help="assumed model FLOPs utilisation")
    parser.add_argument("--gpus", type=int, default=8, help="processes (global batch = gpus x batch_size)")
    parser.add_argument("--scaling", type=float, default=0.95, help="assumed multi-GPU scaling efficiency")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    params = load_params(args.params)
    dtype = torch.bfloat16
    out: dict = {"benchmark": "estimate_sparsectrl_moonshot", "status": "estimate (meta device; time assumed)",
                 "mfu_assumed": args.mfu, "gpus": args.gpus, "scaling_assumed": args.scaling}
    out["sparsectrl"] = {m: sparsectrl(params, m, dtype) for m in ("rgb", "sketch")}
    out["moonshot"] = moonshot(params, dtype)
    out["vae_decode_tflop_per_video"] = vae_decode_tflop(params.sample.frames)
    steps = {"train_sparsectrl": params.train_sparsectrl.loop.steps,
             "train_moonshot_image": params.train_moonshot_image.loop.steps,
             "train_moonshot_video": params.train_moonshot_video.loop.steps}
    per_step = {"train_sparsectrl": out["sparsectrl"]["rgb"]["tflop_per_step"],
                "train_moonshot_image": out["moonshot"]["image"]["tflop_per_step"],
                "train_moonshot_video": out["moonshot"]["video"]["tflop_per_step"]}
    out["seconds_per_step"] = {k: {gpu: round(v / (peak * args.mfu), 3) for gpu, peak in PEAKS.items()}
                               for k, v in per_step.items()}
    out["hours"] = {k: hours(per_step[k], steps[k], args.gpus, args.mfu, args.scaling) for k in steps}
    per_video = out["sparsectrl"]["rgb"]["sample_denoise_tflop_per_video"] + out["vae_decode_tflop_per_video"]
    out["sample_sparsectrl_seconds_per_video_1gpu"] = {gpu: round(per_video / (peak * args.mfu), 1)
                                                       for gpu, peak in PEAKS.items()}
    per_video = out["moonshot"]["video"]["sample_denoise_tflop_per_video"] + out["vae_decode_tflop_per_video"]
    out["sample_moonshot_seconds_per_video_1gpu"] = {gpu: round(per_video / (peak * args.mfu), 1)
                                                     for gpu, peak in PEAKS.items()}
    out["seconds_to_estimate"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
