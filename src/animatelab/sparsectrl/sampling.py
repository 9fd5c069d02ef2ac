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
    from animatelab.sampling import StudyModels
    from animatelab.schema.evaluate import SampleParams
    from animatelab.sparsectrl.schema import SampleSparseCtrlParams

KEYFRAMES_FILE = "keyframes.json"


def build_sparse_pipeline(models: "StudyModels", s: "SampleParams", motion_dir: str | Path, adapter_scale: float,
                          encoder_dir: str | Path):
    """``(pipeline, encoder info)``: base + domain adapter at ``adapter_scale`` (``sample_sparsectrl``'s) +
    the motion module of ``motion_dir`` (``train_sparsectrl.motion_run``'s folder) + the encoder of
    ``encoder_dir``, on ``s.sampler`` (``s``: the ``sample`` group)."""
    from diffusers import AnimateDiffSparseControlNetPipeline

    from animatelab.models.assemble import motion_unet, pipeline
    from animatelab.models.base import load_base
    from animatelab.sparsectrl.model import load_encoder
    from animatelab.sampling import inference_scheduler

    base = load_base(models.base_path)
    unet = motion_unet(base.unet, Path(motion_dir), models.adapter_dir, adapter_scale)
    encoder, info = load_encoder(Path(encoder_dir))
    pipe = pipeline(base, unet, inference_scheduler(models.schedule, s), AnimateDiffSparseControlNetPipeline,
                    controlnet=encoder)
    return pipe, info


def heldout_keyframe_clips(heldout_dir: str | Path, count: int, frames: int) -> tuple[np.ndarray, list[dict]]:
    """uint8 clips (count, frames, H, W, 3) of ``heldout_dir`` (``sample_sparsectrl.heldout_dir``) in held-out
    prompt order (cycled), with their metadata."""
    from animatelab.eval.suite import load_clips

    clips, meta = load_clips(heldout_dir)
    take = [i % len(clips) for i in range(count)]
    return clips[take, :frames], [meta[i] for i in take]


def generate_keyframed(pipe, prompts: list[str], clips: np.ndarray, indices: list[int], modality: str,
                       s: "SampleParams", conditioning_scale: float, thresholds: tuple[int, int],
                       drawn: np.ndarray | None = None) -> np.ndarray:
    """uint8 videos (N, F, H, W, 3): video i from prompt i and ``clips[i]`` at ``indices`` (sketch
    encoders: the sketches ``drawn[i]`` (F, H, W, 3) of the clip when given, else its Canny edges), with
    the frames, steps, guidance and seeds of ``s`` (the ``sample`` group)."""
    from tqdm.auto import tqdm

    from animatelab.sparsectrl.model import condition_images

    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    videos = []
    for i, prompt in enumerate(tqdm(prompts, desc=f"sparsectrl k={len(indices)}")):
        torch.manual_seed(s.seed + i)  # the pipeline's posterior draw of RGB keyframes
        out = pipe(prompt=[prompt], num_frames=s.frames, height=size, width=size,
                   num_inference_steps=s.num_inference_steps, guidance_scale=s.guidance_scale,
                   conditioning_frames=condition_images(clips[i, indices], modality, thresholds,
                                                        None if drawn is None else drawn[i, indices]),
                   controlnet_frame_indices=indices,
                   controlnet_conditioning_scale=float(conditioning_scale),
                   generator=[torch.Generator().manual_seed(s.seed + i)], output_type="np").frames
        videos.append(np.clip(np.rint(np.asarray(out) * 255), 0, 255).astype(np.uint8))
    return np.concatenate(videos)


def sample_variant(ss: "SampleSparseCtrlParams", variant: str, *, s: "SampleParams", models: "StudyModels",
                   motion_dir: str | Path, encoder_dir: str | Path, synth_dir: str,
                   synth_resolution: int) -> dict[str, Any]:
    """``samples/sparsectrl_{variant}/k{K}/`` for every keyframe count of ``ss`` (the ``sample_sparsectrl``
    group), on the prompts, frames and seeds of ``s`` (the ``sample`` group), with the encoder of
    ``encoder_dir`` on the motion module of ``motion_dir``; returns ``{kK: {dir, seconds}}``. Sketch
    encoders that predate ``synth_dir`` in their info draw from ``synth_dir`` (``train_sparsectrl``'s), at
    ``synth_resolution`` (``synth_data.resolution``)."""
    from animatelab.runs import keyframes_name, sparsectrl_name
    from animatelab.sparsectrl.model import keyframe_indices
    from animatelab.sampling import heldout_prompts, write_videos

    prompts = heldout_prompts(s.heldout_dir, s.ground_truth, s.num_videos)[: ss.num_videos]
    clips, meta = heldout_keyframe_clips(ss.heldout_dir, len(prompts), s.frames)
    if [p.get("videoid") for p in prompts] != [m.get("videoid") for m in meta]:
        raise ValueError(f"{ss.heldout_dir}: its clips are not the held-out prompts' ({s.heldout_dir})")
    pipe, info = build_sparse_pipeline(models, s, motion_dir, ss.adapter_scale, encoder_dir)
    drawn = None
    if info["variant"]["modality"] == "sketch":
        from animatelab.sparsectrl.model import clip_sketches

        drawn = clip_sketches(clips, meta, info["variant"].get("sketch_source", "frames"), tuple(info["canny_thresholds"]),
                              info.get("synth_dir", synth_dir), synth_resolution)
    results = {}
    for k in ss.keyframes_for(variant):
        t0 = time.perf_counter()
        indices = keyframe_indices(s.frames, k)
        videos = generate_keyframed(pipe, [p["prompt"] for p in prompts], clips, indices, info["variant"]["modality"],
                                    s, ss.conditioning_scale, tuple(info["canny_thresholds"]), drawn)
        out = Path(ss.out_dir) / sparsectrl_name(variant) / keyframes_name(k)
        write_videos(out, videos, prompts, s.fps)
        (out / KEYFRAMES_FILE).write_text(json.dumps({
            "indices": indices, "clips": [m.get("videoid") for m in meta], "modality": info["variant"]["modality"],
            "conditioning_scale": ss.conditioning_scale, "adapter_scale": ss.adapter_scale}, indent=1))
        results[keyframes_name(k)] = {"dir": str(out), "seconds": round(time.perf_counter() - t0, 2), "videos": len(videos)}
    return results
