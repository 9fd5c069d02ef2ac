"""Video sampling with the image ControlNet applied to every frame, with no video training (RQ7).

Video i: the i-th held-out prompt of ``sample`` (the first ``sample_controlnet.num_videos``), with
``sample``'s frames, DDIM steps, guidance and seed ``sample.seed + i`` (the initial noise of the
uncontrolled baseline's video i); the condition of every frame f: the Canny edges of frame f of the
prompt's own held-out clip (the clip ``sample_moonshot`` takes frame 0 of).

* ``animatediff``: diffusers' ``AnimateDiffControlNetPipeline`` as shipped, on the base + the motion
  module of ``motion_run``. It takes one list of conditioning frames per call (a batch of prompts
  would share one clip's edges), so each call renders one video.
* ``moonshot``: MoonShot's own DDIM loop (``moonshot.sampling.sample_moonshot``) over
  :class:`~animatelab.controlnet.model.ControlledUNet`, which adds the ControlNet's per-frame
  residuals to the MVB UNet's down/mid blocks (the 4 noisy channels go to the ControlNet; the
  first-frame latent and mask channels of the 9-channel input stay the MVB UNet's). Batches of
  ``sample.batch_size`` prompts, as ``sample_moonshot`` renders the baseline.

Both write the sample stage's layout (``evaluate`` scores it unchanged) plus ``edges.npz`` (the
condition) and ``control.json`` (settings, seeds, the baseline folder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from animatelab.controlnet.layout import CONTROL_FILE, EDGES_FILE, samples_folder
from animatelab.controlnet import model as cn

if TYPE_CHECKING:
    from animatelab.controlnet.schema import SampleControlNetParams
    from animatelab.moonshot.sampling import MoonShotWeights
    from animatelab.moonshot.schema import SampleMoonShotParams
    from animatelab.sampling import StudyModels
    from animatelab.schema.evaluate import SampleParams


def heldout_clips(folder: str | Path, videoids: list[Any], frames: int, size: int) -> np.ndarray:
    """uint8 (N, frames, size, size, 3): the first ``frames`` frames of each named held-out clip, in
    ``videoids`` order (repeats allowed)."""
    from animatelab.data.shards import list_shards, load_shard

    wanted, found = set(videoids), {}
    for shard in list_shards(folder):
        clips, meta = load_shard(shard)
        found.update({m.get("videoid"): clips[i] for i, m in enumerate(meta) if m.get("videoid") in wanted})
        if wanted <= found.keys():
            break
    missing = [v for v in videoids if v not in found]
    if missing:
        raise FileNotFoundError(f"{folder}: no prepared clip for held-out prompts {missing[:3]} (sample_controlnet.heldout_dir)")
    out = np.stack([found[v][:frames] for v in videoids])
    if out.shape[1] != frames or out.shape[2:4] != (size, size):
        raise ValueError(f"{folder}: clips {out.shape[1:4]} do not cover {frames} frames at {size}x{size}")
    return out


def condition_edges(prompts: list[dict], size: int, *, controlnet_dir: str | Path, heldout_dir: str | Path,
                    frames: int) -> np.ndarray:
    """uint8 Canny edges (N, F, H, W) of the first ``frames`` frames of each prompt's own held-out clip (in
    ``heldout_dir``, ``sample_controlnet.heldout_dir``), at the thresholds the ControlNet of
    ``controlnet_dir`` trained on."""
    from animatelab.controlnet.model import INFO_FILE

    info = json.loads((Path(controlnet_dir) / INFO_FILE).read_text())
    clips = heldout_clips(heldout_dir, [p["videoid"] for p in prompts], frames, size)
    return cn.edge_maps(clips, tuple(info["canny_thresholds"]))


def video_condition(edges: np.ndarray) -> torch.Tensor:
    """float (B, F, 3, H, W) in [0, 1] of uint8 edges (B, F, H, W)."""
    b, f = edges.shape[:2]
    return cn.edge_condition(edges.reshape(b * f, *edges.shape[2:])).view(b, f, 3, *edges.shape[2:])


# --------------------------------------------------------------------------- AnimateDiff
def build_animatediff(models: "StudyModels", s: "SampleParams", motion_dir: str | Path, adapter_scale: float,
                      controlnet_dir: str | Path):
    """``AnimateDiffControlNetPipeline``: base (+ domain adapter at ``adapter_scale``) + the motion module of
    ``motion_dir`` (the target's run folder) + the ControlNet of ``controlnet_dir``, on ``s.sampler``."""
    from diffusers import AnimateDiffControlNetPipeline

    from animatelab.models.assemble import motion_unet, pipeline
    from animatelab.models.base import load_base
    from animatelab.sampling import inference_scheduler

    base = load_base(models.base_path)
    unet = motion_unet(base.unet, Path(motion_dir), models.adapter_dir, adapter_scale)
    controlnet, _ = cn.load_controlnet(controlnet_dir)
    return pipeline(base, unet, inference_scheduler(models.schedule, s), AnimateDiffControlNetPipeline,
                    controlnet=controlnet)


def edge_images(edges: np.ndarray) -> list:
    """PIL RGB images (white edges on black) of uint8 edges (F, H, W): the pipeline's conditioning frames."""
    from PIL import Image

    return [Image.fromarray(np.repeat(e[..., None], 3, axis=-1)) for e in edges]


def denoise_animatediff(pipe, prompts: list[str], edges: np.ndarray, s: "SampleParams",
                        conditioning_scale: float) -> list[torch.Tensor]:
    """Final latents (1, C, F, h, w) per video; video i from seed ``sample.seed + i`` (``s``: the ``sample``
    group) and ``edges[i]``, the ControlNet's residuals at ``conditioning_scale``."""
    from tqdm.auto import tqdm

    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    out = []
    for i, prompt in enumerate(tqdm(prompts, desc="controlnet animatediff")):
        with torch.inference_mode():
            out.append(pipe(prompt=[prompt], num_frames=s.frames, height=size, width=size,
                            num_inference_steps=s.num_inference_steps, guidance_scale=s.guidance_scale,
                            conditioning_frames=edge_images(edges[i]),
                            controlnet_conditioning_scale=float(conditioning_scale),
                            generator=[torch.Generator().manual_seed(s.seed + i)], output_type="latent").frames)
    return out


# --------------------------------------------------------------------------- MoonShot
def denoise_moonshot(unet: cn.ControlledUNet, scheduler, base, prompts: list[dict], first: torch.Tensor,
                     image: torch.Tensor, edges: np.ndarray, mode, s: "SampleParams",
                     conditioning_scale: float) -> list[torch.Tensor]:
    """``moonshot.sampling.denoise_batches`` (``s``: the ``sample`` group) with the ControlNet's residuals,
    at ``conditioning_scale``, from each batch's edges."""
    from animatelab.moonshot import model as ms
    from animatelab.moonshot.sampling import denoise_batches

    def condition(batch: slice) -> None:
        unet.set_condition(video_condition(edges[batch]), conditioning_scale)

    ms.set_image_scale(unet.unet, mode.image_scale)
    try:
        return denoise_batches(unet, scheduler, base, prompts, first, image, mode, s, condition,
                               desc="controlnet moonshot")
    finally:
        unet.set_condition(None)


def build_moonshot_controlled(models: "StudyModels", s: "SampleParams", weights: "MoonShotWeights",
                              adapter_scale: float, controlnet_dir: str | Path, controlnet=None):
    """``(pipe, base, image_dim, ControlledUNet)``: ``moonshot.sampling.build_moonshot`` with the domain adapter
    at ``adapter_scale`` (``sample_controlnet``'s; the pipeline only decodes) and its MVB UNet wrapped with the
    trained ControlNet of ``controlnet_dir`` (or ``controlnet``)."""
    from animatelab.moonshot.sampling import build_moonshot

    pipe, base, image_dim = build_moonshot(models, s, weights, adapter_scale)
    if controlnet is None:
        controlnet, _ = cn.load_controlnet(controlnet_dir)
    return pipe, base, image_dim, cn.ControlledUNet(pipe.unet, controlnet).eval()


# --------------------------------------------------------------------------- the stage's work
def sample_target(sc: "SampleControlNetParams", target: str, *, s: "SampleParams", models: "StudyModels",
                  motion_dir: str | Path, controlnet_dir: str, moonshot: "SampleMoonShotParams",
                  weights: "MoonShotWeights", baseline: Path) -> dict[str, Any]:
    """Render ``target`` of ``sc`` (the ``sample_controlnet`` group) into
    ``{out_dir}/{target}/scale_{adapter_scale}/`` on the prompts, frames and seeds of ``s`` (the ``sample``
    group), with the ControlNet of ``controlnet_dir`` on an AnimateDiff run (under ``motion_dir``,
    ``train_motion.out_dir``) or a MoonShot mode of ``moonshot`` (the ``sample_moonshot`` group, loaded from
    ``weights``). ``baseline``: the uncontrolled samples' folder (``controlnet.layout.baseline_folder``),
    recorded in ``control.json``. Returns ``{dir, videos, load/unet/decode/write seconds}``."""
    from animatelab.sampling import clock, decode, heldout_prompts, latents_array, write_videos

    spec = sc.targets[target]
    prompts = heldout_prompts(s.heldout_dir, s.ground_truth, s.num_videos)[: sc.num_videos]
    times: dict[str, float] = {}
    with clock(times, "load"):
        if spec.model == "animatediff":
            pipe = build_animatediff(models, s, Path(motion_dir) / spec.motion_run, sc.adapter_scale, controlnet_dir)
        else:
            from animatelab.moonshot.sampling import conditions

            mode = moonshot.modes[spec.moonshot_mode]
            pipe, base, image_dim, unet = build_moonshot_controlled(models, s, weights, sc.adapter_scale,
                                                                    controlnet_dir)
            _, first, image, _ = conditions(pipe, base, prompts, image_dim, mode, heldout_dir=moonshot.heldout_dir,
                                            batch_size=s.batch_size, image_encoder=weights.image_encoder)
        size = pipe.unet.config.sample_size * pipe.vae_scale_factor
        edges = condition_edges(prompts, size, controlnet_dir=controlnet_dir, heldout_dir=sc.heldout_dir,
                                frames=s.frames)
    with clock(times, "unet"):
        if spec.model == "animatediff":
            latents = denoise_animatediff(pipe, [p["prompt"] for p in prompts], edges, s, sc.conditioning_scale)
        else:
            latents = denoise_moonshot(unet, pipe.scheduler, base, prompts, first, image, edges, mode, s,
                                       sc.conditioning_scale)
    with clock(times, "decode"):
        videos = np.concatenate([decode(pipe, lat) for lat in latents])
    out = samples_folder(sc.out_dir, target, sc.adapter_scale)
    with clock(times, "write"):
        write_videos(out, videos, prompts, s.fps, latents_array(latents))
        np.savez(out / EDGES_FILE, edges=edges, videoids=np.asarray([str(p["videoid"]) for p in prompts]))
        (out / CONTROL_FILE).write_text(json.dumps({
            "target": target, **spec.model_dump(mode="json"), "conditioning_scale": sc.conditioning_scale,
            "adapter_scale": sc.adapter_scale, "seeds": [s.seed + i for i in range(len(prompts))],
            "baseline": str(baseline), "controlnet": controlnet_dir}, indent=1))
    return {"dir": str(out), "videos": len(videos), **{f"{k}_seconds": round(v, 2) for k, v in times.items()}}
