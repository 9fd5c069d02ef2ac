"""MotionLoRA training: the trained motion module frozen, a LoRA on its temporal attention learns a
new camera motion from the first N clips of the camera-motion set."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from animatelab.config import Params


def lora_dir(params: "Params", n: int) -> Path:
    return Path(params.train_motion_lora.out_dir) / f"n{n}"


def train_motion_lora(params: "Params", n: int) -> dict[str, Any]:
    """Train the MotionLoRA on the first ``n`` clips and write ``{out_dir}/n{n}`` (CONTRACTS.md)."""
    from animatelab.data.latents import EncodedClips
    from animatelab.models.motion import load_motion_unet
    from animatelab.models.motion_lora import add_motion_lora, save_motion_lora
    from animatelab.train.checkpoint import params_fingerprint
    from animatelab.train.loop import fit
    from animatelab.train.motion import load_frozen_unet2d, motion_fingerprint, video_loss_fn
    from animatelab.utils import write_json

    p, tm = params.train_motion_lora, params.train_motion
    if p.motion_run not in tm.runs:
        raise KeyError(f"train_motion_lora.motion_run {p.motion_run!r} is not a train_motion run")
    torch.set_num_threads(p.threads)
    motion_cfg = tm.runs[p.motion_run]
    folder = Path(params.encode.out_dir) / p.dataset
    full = EncodedClips(folder, frames=tm.frames)
    if n > len(full):
        raise ValueError(f"train_motion_lora: {n} videos requested, {folder} holds {len(full)}")
    dataset = EncodedClips(folder, frames=tm.frames, indices=list(range(n)))
    unet2d = load_frozen_unet2d(params, motion_cfg.with_adapter)
    unet = load_motion_unet(unet2d, Path(tm.out_dir) / p.motion_run)
    add_motion_lora(unet, p.lora)
    stray = [k for k, v in unet.named_parameters() if v.requires_grad and ("lora_" not in k or "motion_modules." not in k)]
    if stray:
        raise AssertionError(f"MotionLoRA would train non-LoRA or spatial parameters: {stray[:5]}")
    out = lora_dir(params, n)
    fingerprint = params_fingerprint(p.lora, p.loop, p.noise, p.dataset, n, motion_fingerprint(params, p.motion_run))
    result = fit(trainable=unet, compute_loss=video_loss_fn(unet, p.noise, dataset.empty_text, p.loop.cfg_dropout),
                 dataset=dataset, loop=p.loop, checkpoint_dir=Path(p.checkpoint_dir) / f"n{n}",
                 fingerprint=fingerprint, run_name=f"train_motion_lora@{n}", loss_csv=out / "loss.csv")
    save_motion_lora(unet, out)
    summary = {"n_videos": n, "motion_run": p.motion_run, "rank": p.lora.rank, "steps": result.steps,
               "seconds": round(result.seconds, 2),
               "final_loss": sum(result.losses[-20:]) / max(1, len(result.losses[-20:])) if result.losses else None,
               "videoids": [m.get("videoid") for m in dataset.meta]}
    write_json(out / "train_summary.json", summary)
    return summary
