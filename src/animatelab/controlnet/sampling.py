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

from animatelab.controlnet.layout import CONTROL_FILE, EDGES_FILE, baseline_folder, samples_folder
from animatelab.controlnet import model as cn

if TYPE_CHECKING:
    from animatelab.config import ControlTarget, Params


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


def condition_edges(params: "Params", prompts: list[dict], size: int) -> np.ndarray:
    """uint8 Canny edges (N, F, H, W) of every frame of each prompt's own held-out clip."""
    from animatelab.controlnet.model import INFO_FILE

    info = json.loads((Path(params.train_controlnet_image.out_dir) / INFO_FILE).read_text())
    clips = heldout_clips(params.sample_controlnet.heldout_dir, [p["videoid"] for p in prompts],
                          params.sample.frames, size)
    return cn.edge_maps(clips, tuple(info["canny_thresholds"]))


def video_condition(edges: np.ndarray) -> torch.Tensor:
    """float (B, F, 3, H, W) in [0, 1] of uint8 edges (B, F, H, W)."""
    b, f = edges.shape[:2]
    return cn.edge_condition(edges.reshape(b * f, *edges.shape[2:])).view(b, f, 3, *edges.shape[2:])


# --------------------------------------------------------------------------- AnimateDiff
def build_animatediff(params: "Params", target: "ControlTarget"):
    """``AnimateDiffControlNetPipeline``: base (+ domain adapter at ``adapter_scale``) + motion module + ControlNet."""
    from diffusers import AnimateDiffControlNetPipeline

    from animatelab.models.assemble import motion_unet, pipeline
    from animatelab.models.base import load_base
    from animatelab.sampling import inference_scheduler

    base = load_base(params.base.path)
    unet = motion_unet(base.unet, Path(params.train_motion.out_dir) / target.motion_run,
                       params.train_adapter.out_dir, params.sample_controlnet.adapter_scale)
    controlnet, _ = cn.load_controlnet(params.train_controlnet_image.out_dir)
    return pipeline(base, unet, inference_scheduler(params), AnimateDiffControlNetPipeline,
                    controlnet=controlnet)


def edge_images(edges: np.ndarray) -> list:
    """PIL RGB images (white edges on black) of uint8 edges (F, H, W): the pipeline's conditioning frames."""
    from PIL import Image

    return [Image.fromarray(np.repeat(e[..., None], 3, axis=-1)) for e in edges]


def denoise_animatediff(pipe, prompts: list[str], edges: np.ndarray, params: "Params") -> list[torch.Tensor]:
    """Final latents (1, C, F, h, w) per video; video i from seed ``sample.seed + i`` and ``edges[i]``."""
    from tqdm.auto import tqdm

    s = params.sample
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    out = []
    for i, prompt in enumerate(tqdm(prompts, desc="controlnet animatediff")):
        with torch.inference_mode():
            out.append(pipe(prompt=[prompt], num_frames=s.frames, height=size, width=size,
                            num_inference_steps=s.num_inference_steps, guidance_scale=s.guidance_scale,
                            conditioning_frames=edge_images(edges[i]),
                            controlnet_conditioning_scale=float(params.sample_controlnet.conditioning_scale),
                            generator=[torch.Generator().manual_seed(s.seed + i)], output_type="latent").frames)
    return out


# --------------------------------------------------------------------------- MoonShot
def moonshot_params(params: "Params") -> "Params":
    """``params`` with ``sample_moonshot.adapter_scale`` set to ``sample_controlnet.adapter_scale``."""
    sm = params.sample_moonshot.model_copy(update={"adapter_scale": params.sample_controlnet.adapter_scale})
    return params.model_copy(update={"sample_moonshot": sm})


def denoise_moonshot(unet: cn.ControlledUNet, scheduler, base, prompts: list[dict], first: torch.Tensor,
                     image: torch.Tensor, edges: np.ndarray, mode, params: "Params") -> list[torch.Tensor]:
    """``moonshot.sampling.denoise_batches`` with the ControlNet's residuals from each batch's edges."""
    from animatelab.moonshot import model as ms
    from animatelab.moonshot.sampling import denoise_batches

    def condition(batch: slice) -> None:
        unet.set_condition(video_condition(edges[batch]), params.sample_controlnet.conditioning_scale)

    ms.set_image_scale(unet.unet, mode.image_scale)
    try:
        return denoise_batches(unet, scheduler, base, prompts, first, image, mode, params, condition,
                               desc="controlnet moonshot")
    finally:
        unet.set_condition(None)


def build_moonshot_controlled(params: "Params", controlnet=None):
    """``(pipe, base, image_dim, ControlledUNet)``: ``moonshot.sampling.build_moonshot`` (the pipeline
    only decodes) and its MVB UNet wrapped with the trained ControlNet (or ``controlnet``)."""
    from animatelab.moonshot.sampling import build_moonshot

    pipe, base, image_dim = build_moonshot(moonshot_params(params))
    if controlnet is None:
        controlnet, _ = cn.load_controlnet(params.train_controlnet_image.out_dir)
    return pipe, base, image_dim, cn.ControlledUNet(pipe.unet, controlnet).eval()


# --------------------------------------------------------------------------- the stage's work
def sample_target(params: "Params", target: str) -> dict[str, Any]:
    """Render ``target`` into ``{out_dir}/{target}/scale_{adapter_scale}/``; returns ``{dir, videos,
    load/unet/decode/write seconds}``."""
    from animatelab.sampling import clock, decode, heldout_prompts, latents_array, write_videos

    sc, s = params.sample_controlnet, params.sample
    spec = sc.targets[target]
    prompts = heldout_prompts(params)[: sc.num_videos]
    times: dict[str, float] = {}
    with clock(times, "load"):
        if spec.model == "animatediff":
            pipe = build_animatediff(params, spec)
        else:
            from animatelab.moonshot.sampling import conditions

            mp = moonshot_params(params)
            mode = mp.sample_moonshot.modes[spec.moonshot_mode]
            pipe, base, image_dim, unet = build_moonshot_controlled(params)
            _, first, image, _ = conditions(mp, pipe, base, prompts, image_dim, mode)
        size = pipe.unet.config.sample_size * pipe.vae_scale_factor
        edges = condition_edges(params, prompts, size)
    with clock(times, "unet"):
        if spec.model == "animatediff":
            latents = denoise_animatediff(pipe, [p["prompt"] for p in prompts], edges, params)
        else:
            latents = denoise_moonshot(unet, pipe.scheduler, base, prompts, first, image, edges, mode, mp)
    with clock(times, "decode"):
        videos = np.concatenate([decode(pipe, lat) for lat in latents])
    out = samples_folder(params, target)
    with clock(times, "write"):
        write_videos(out, videos, prompts, s.fps, latents_array(latents))
        np.savez(out / EDGES_FILE, edges=edges, videoids=np.asarray([str(p["videoid"]) for p in prompts]))
        (out / CONTROL_FILE).write_text(json.dumps({
            "target": target, **spec.model_dump(mode="json"), "conditioning_scale": sc.conditioning_scale,
            "adapter_scale": sc.adapter_scale, "seeds": [s.seed + i for i in range(len(prompts))],
            "baseline": str(baseline_folder(params, target)),
            "controlnet": params.train_controlnet_image.out_dir}, indent=1))
    return {"dir": str(out), "videos": len(videos), **{f"{k}_seconds": round(v, 2) for k, v in times.items()}}
