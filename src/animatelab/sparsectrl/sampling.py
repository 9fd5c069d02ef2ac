"""Sampling with ``AnimateDiffSparseControlNetPipeline``, used as diffusers ships it.

Video i: the i-th held-out prompt of ``sample`` (same prompts, steps, guidance, frames and seed
``sample.seed + i``), conditioned on k evenly spaced frames of its own held-out real clip. The
pipeline takes one set of keyframes per call, so each call renders one video. It VAE-encodes RGB
keyframes by drawing from the posterior with the global torch generator: that generator is seeded
with the video's seed before each call, so a video does not depend on what ran before it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from animatelab.config import Params

KEYFRAMES_FILE = "keyframes.json"


def build_sparse_pipeline(params: "Params", variant: str):
    """Base + domain adapter at ``sample_sparsectrl.adapter_scale`` + motion module + encoder ``variant``."""
    from diffusers import AnimateDiffSparseControlNetPipeline

    from animatelab.models.assemble import motion_unet, pipeline
    from animatelab.models.base import load_base
    from animatelab.sparsectrl.model import load_encoder
    from animatelab.sampling import inference_scheduler

    base = load_base(params.base.path)
    unet = motion_unet(base.unet, Path(params.train_motion.out_dir) / params.train_sparsectrl.motion_run,
                       params.train_adapter.out_dir, params.sample_sparsectrl.adapter_scale)
    encoder, info = load_encoder(Path(params.train_sparsectrl.out_dir) / variant)
    pipe = pipeline(base, unet, inference_scheduler(params), AnimateDiffSparseControlNetPipeline,
                    controlnet=encoder)
    return pipe, info


def heldout_keyframe_clips(params: "Params", count: int) -> tuple[np.ndarray, list[dict]]:
    """uint8 clips (count, F, H, W, 3) in held-out prompt order (cycled), with their metadata."""
    from animatelab.eval.suite import load_clips

    clips, meta = load_clips(params.sample_sparsectrl.heldout_dir)
    take = [i % len(clips) for i in range(count)]
    return clips[take, : params.sample.frames], [meta[i] for i in take]


def generate_keyframed(pipe, prompts: list[str], clips: np.ndarray, indices: list[int], modality: str,
                       params: "Params", thresholds: tuple[int, int], drawn: np.ndarray | None = None) -> np.ndarray:
    """uint8 videos (N, F, H, W, 3): video i from prompt i and ``clips[i]`` at ``indices`` (sketch
    encoders: the sketches ``drawn[i]`` (F, H, W, 3) of the clip when given, else its Canny edges)."""
    from tqdm.auto import tqdm

    from animatelab.sparsectrl.model import condition_images

    s = params.sample
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    videos = []
    for i, prompt in enumerate(tqdm(prompts, desc=f"sparsectrl k={len(indices)}")):
        torch.manual_seed(s.seed + i)  # the pipeline's posterior draw of RGB keyframes
        out = pipe(prompt=[prompt], num_frames=s.frames, height=size, width=size,
                   num_inference_steps=s.num_inference_steps, guidance_scale=s.guidance_scale,
                   conditioning_frames=condition_images(clips[i, indices], modality, thresholds,
                                                        None if drawn is None else drawn[i, indices]),
                   controlnet_frame_indices=indices,
                   controlnet_conditioning_scale=float(params.sample_sparsectrl.conditioning_scale),
                   generator=[torch.Generator().manual_seed(s.seed + i)], output_type="np").frames
        videos.append(np.clip(np.rint(np.asarray(out) * 255), 0, 255).astype(np.uint8))
    return np.concatenate(videos)


def sample_variant(params: "Params", variant: str) -> dict[str, Any]:
    """``samples/sparsectrl_{variant}/k{K}/`` for every keyframe count; returns ``{kK: {dir, seconds}}``."""
    from animatelab.runs import keyframes_name, sparsectrl_name
    from animatelab.sparsectrl.model import keyframe_indices
    from animatelab.sampling import heldout_prompts, write_videos

    ss = params.sample_sparsectrl
    prompts = heldout_prompts(params)[: ss.num_videos]
    clips, meta = heldout_keyframe_clips(params, len(prompts))
    if [p.get("videoid") for p in prompts] != [m.get("videoid") for m in meta]:
        raise ValueError(f"{ss.heldout_dir}: its clips are not the held-out prompts' ({params.sample.heldout_dir})")
    pipe, info = build_sparse_pipeline(params, variant)
    drawn = None
    if info["variant"]["modality"] == "sketch":
        from animatelab.sparsectrl.model import clip_sketches

        drawn = clip_sketches(clips, meta, info["variant"].get("sketch_source", "frames"), tuple(info["canny_thresholds"]),
                              info.get("synth_dir", params.train_sparsectrl.synth_dir), params.synth_data.resolution)
    results = {}
    for k in ss.keyframes_for(variant):
        t0 = time.perf_counter()
        indices = keyframe_indices(params.sample.frames, k)
        videos = generate_keyframed(pipe, [p["prompt"] for p in prompts], clips, indices, info["variant"]["modality"],
                                    params, tuple(info["canny_thresholds"]), drawn)
        out = Path(ss.out_dir) / sparsectrl_name(variant) / keyframes_name(k)
        write_videos(out, videos, prompts, params.sample.fps)
        (out / KEYFRAMES_FILE).write_text(json.dumps({
            "indices": indices, "clips": [m.get("videoid") for m in meta], "modality": info["variant"]["modality"],
            "conditioning_scale": ss.conditioning_scale, "adapter_scale": ss.adapter_scale}, indent=1))
        results[keyframes_name(k)] = {"dir": str(out), "seconds": round(time.perf_counter() - t0, 2), "videos": len(videos)}
    return results
