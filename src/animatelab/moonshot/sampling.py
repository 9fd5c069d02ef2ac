"""MoonShot sampling: a small DDIM loop over the MVB UNet (no diffusers pipeline takes its 9-channel
first-frame input together with IP-style image embeddings), with classifier-free guidance whose
unconditional branch drops the text ("" embedding) and the image (zero embedding), as in training.

:func:`sample_mode` renders one ``sample_moonshot`` mode on exactly what AnimateDiff's ``sample``
stage uses: its held-out prompts, frames, DDIM steps, guidance, batch size and per-video seeds
(``sample.seed + i``, drawn per video as ``AnimateDiffPipeline.prepare_latents`` draws them, so video
i starts from AnimateDiff's initial noise for video i), decoded by the pipeline's own VAE decode and
written by ``sampling.write_videos``: the folder is one ``evaluate`` scores unchanged. The image to
animate is frame 0 of each prompt's own held-out clip; ``condition.npz`` beside the videos keeps it
and its VAE reconstruction (the ceiling of first-frame fidelity for a latent model).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from animatelab.moonshot.model import predict
from animatelab.moonshot.layout import CONDITION_FILE, MODE_FILE, samples_folder

if TYPE_CHECKING:
    from diffusers import DDIMScheduler, UNetMotionModel

    from animatelab.moonshot.schema import MoonShotMode, SampleMoonShotParams
    from animatelab.sampling import StudyModels
    from animatelab.schema.evaluate import SampleParams


@dataclass(frozen=True)
class MoonShotWeights:
    """What a MoonShot sampler loads beside the study's models: stage 1's folder (image attention and its
    info, ``train_moonshot_image.out_dir``), stage 2's (motion modules and conv_in,
    ``train_moonshot_video.out_dir``) and the CLIP image encoder (``train_moonshot_image.image_encoder``)."""

    image_dir: str
    video_dir: str
    image_encoder: str


@torch.no_grad()
def sample_moonshot(unet: "UNetMotionModel", scheduler: "DDIMScheduler", text: torch.Tensor,
                    empty_text: torch.Tensor, image_embeds: torch.Tensor | None, first: torch.Tensor | None,
                    frames: int, steps: int, guidance: float,
                    generator: torch.Generator | list[torch.Generator],
                    latent_shape: tuple[int, int, int] | None = None) -> torch.Tensor:
    """Latents (B, 4, F, h, w) for text (B, L, D), image embeddings (B, E) or None, and a first-frame
    latent (B, 4, h, w) to animate or None (text(-and-image)-to-video). A list of generators draws
    each video's initial noise from its own generator (diffusers' ``randn_tensor``), so a video does
    not depend on the others in its batch."""
    from diffusers.utils.torch_utils import randn_tensor

    b = text.shape[0]
    c, h, w = latent_shape or tuple(first.shape[1:])
    x = randn_tensor((b, c, frames, h, w), generator=generator).to(text) * scheduler.init_noise_sigma
    scheduler.set_timesteps(steps)
    guided = guidance != 1.0
    texts = torch.cat([empty_text.to(text).expand_as(text), text]) if guided else text
    images = None if image_embeds is None else (
        torch.cat([torch.zeros_like(image_embeds), image_embeds]) if guided else image_embeds)
    firsts = None if first is None else (torch.cat([first, first]) if guided else first)
    for t in scheduler.timesteps:
        inp = scheduler.scale_model_input(torch.cat([x, x]) if guided else x, t)
        eps = predict(unet, inp, t.expand(inp.shape[0]), texts, images, firsts)
        if guided:
            uncond, cond = eps.chunk(2)
            eps = uncond + guidance * (cond - uncond)
        x = scheduler.step(eps, t, x).prev_sample
    return x


# --------------------------------------------------------------------------- what sample_moonshot renders
def heldout_first_frames(folder: str | Path, videoids: list[Any], size: int) -> np.ndarray:
    """uint8 (N, size, size, 3): frame 0 of each named held-out clip (in ``videoids`` order, repeats
    allowed), resized (area) when the prepared clips are not at the sampling resolution."""
    import cv2

    from animatelab.data.shards import list_shards, load_shard

    wanted, found = set(videoids), {}
    for shard in list_shards(folder):
        frames, meta = load_shard(shard)
        found.update({m.get("videoid"): frames[i, 0] for i, m in enumerate(meta)
                      if m.get("videoid") in wanted})
        if wanted <= found.keys():
            break
    missing = [v for v in videoids if v not in found]
    if missing:
        raise FileNotFoundError(f"{folder}: no prepared clip for held-out prompts {missing[:3]} "
                                "(sample_moonshot.heldout_dir)")
    fit = {v: f if f.shape[:2] == (size, size) else cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA)
           for v, f in found.items()}
    return np.stack([fit[v] for v in videoids])


def build_moonshot(models: "StudyModels", s: "SampleParams", weights: MoonShotWeights, adapter_scale: float):
    """``(pipeline, base, image_embed_dim)``: an ``AnimateDiffPipeline`` holding the base's VAE, text
    encoder and tokenizer and the trained MoonShot UNet of ``weights`` (on the base with the domain adapter
    merged at ``adapter_scale``, ``sample_moonshot``'s), on ``s.sampler`` (``s``: the ``sample`` group). The
    pipeline only decodes: its own denoising loop cannot feed the 9-channel input."""
    from animatelab.moonshot import model as ms
    from animatelab.models.assemble import motion_unet, pipeline
    from animatelab.models.base import load_base
    from animatelab.sampling import inference_scheduler

    base = load_base(models.base_path)
    image_dir = Path(weights.image_dir)

    def video_unet(unet2d):
        return ms.load_moonshot_unet(unet2d, image_dir, weights.video_dir)

    unet = motion_unet(base.unet, video_unet, models.adapter_dir, adapter_scale)
    info = json.loads((image_dir / ms.INFO_FILE).read_text())
    return pipeline(base, unet, inference_scheduler(models.schedule, s)), base, int(info["image_embed_dim"])


def conditions(pipe, base, prompts: list[dict], image_dim: int, mode: "MoonShotMode", *, heldout_dir: str | Path,
               batch_size: int, image_encoder: str) -> tuple[np.ndarray, torch.Tensor, torch.Tensor, np.ndarray]:
    """``(frames, first-frame latents (N, 4, h, w), image embeddings (N, E), reconstructions)``: frame 0
    of each prompt's held-out clip (uint8 (N, H, W, 3)), its latent (posterior mean, as in the encode
    cache training read), its CLIP image embedding (zeros when ``mode`` does not use the image), and
    the latent decoded as the videos are (what a perfect first frame of a latent model looks like).
    ``heldout_dir``: the prepared held-out clips (``sample_moonshot.heldout_dir``); ``batch_size``: the VAE
    encode's (``sample.batch_size``); ``image_encoder``: the CLIP (``train_moonshot_image.image_encoder``)."""
    from animatelab.models.encode import encode_frames
    from animatelab.moonshot import model as ms
    from animatelab.sampling import decode

    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    frames = heldout_first_frames(heldout_dir, [p["videoid"] for p in prompts], size)
    latents = encode_frames(base, frames[:, None], batch_size)[:, 0]
    if mode.image:
        encode, _ = ms.clip_image_encoder(image_encoder)
        image = encode(np.ascontiguousarray(frames)).float()
    else:
        image = torch.zeros(len(frames), image_dim)
    recon = decode(pipe, latents[:, :, None])[:, 0]
    return frames, latents, image, recon


def denoise_batches(unet, scheduler, base, prompts: list[dict], latents: torch.Tensor, image: torch.Tensor,
                    mode: "MoonShotMode", s: "SampleParams", before_batch: Callable[[slice], None] | None = None,
                    desc: str = "moonshot batches") -> list[torch.Tensor]:
    """Final latents per batch of ``sample.batch_size`` prompts, each (B, 4, F, h, w); video i from
    seed ``sample.seed + i`` (``s``: the ``sample`` group, also frames, steps and guidance).
    ``before_batch(batch)`` sets per-batch state (the ControlNet's condition)."""
    from tqdm.auto import tqdm

    from animatelab.models.base import encode_prompts

    empty = encode_prompts(base, [""])[0]
    shape = (unet.config.out_channels, unet.config.sample_size, unet.config.sample_size)
    out = []
    for i in tqdm(range(0, len(prompts), s.batch_size), desc=desc):
        batch = slice(i, i + s.batch_size)
        text = encode_prompts(base, [p["prompt"] for p in prompts[batch]])
        gens = [torch.Generator().manual_seed(s.seed + j) for j in range(i, i + len(text))]
        if before_batch is not None:
            before_batch(batch)
        first = latents[batch] if mode.first_frame else None
        out.append(sample_moonshot(unet, scheduler, text, empty, image[batch], first, s.frames,
                                   s.num_inference_steps, s.guidance_scale, gens, latent_shape=shape))
    return out


def denoise_mode(pipe, base, prompts: list[dict], latents: torch.Tensor, image: torch.Tensor,
                 mode: "MoonShotMode", s: "SampleParams") -> list[torch.Tensor]:
    """``denoise_batches`` on the MoonShot pipeline, its image cross-attention at ``mode.image_scale``."""
    from animatelab.moonshot import model as ms

    ms.set_image_scale(pipe.unet, mode.image_scale)
    return denoise_batches(pipe.unet, pipe.scheduler, base, prompts, latents, image, mode, s)


def sample_mode(sm: "SampleMoonShotParams", name: str, *, s: "SampleParams", models: "StudyModels",
                weights: MoonShotWeights) -> dict[str, Any]:
    """Render mode ``name`` of ``sm`` (the ``sample_moonshot`` group) into
    ``{out_dir}/{name}/scale_{adapter_scale}/`` on the prompts, frames and seeds of ``s`` (the ``sample``
    group), with the MoonShot ``weights`` on the study's ``models``; returns ``{dir, videos,
    load/unet/decode/write seconds}``."""
    from animatelab.sampling import clock, decode, heldout_prompts, latents_array, write_videos

    mode = sm.modes[name]
    prompts = heldout_prompts(s.heldout_dir, s.ground_truth, s.num_videos)
    times: dict[str, float] = {}
    with clock(times, "load"):
        pipe, base, image_dim = build_moonshot(models, s, weights, sm.adapter_scale)
        frames, first, image, recon = conditions(pipe, base, prompts, image_dim, mode, heldout_dir=sm.heldout_dir,
                                                 batch_size=s.batch_size, image_encoder=weights.image_encoder)
    with clock(times, "unet"):
        latents = denoise_mode(pipe, base, prompts, first, image, mode, s)
    with clock(times, "decode"):
        videos = np.concatenate([decode(pipe, lat) for lat in latents])
    out = samples_folder(sm.out_dir, name, sm.adapter_scale)
    with clock(times, "write"):
        write_videos(out, videos, prompts, s.fps, latents_array(latents))
        np.savez(out / CONDITION_FILE, frames=frames, reconstruction=recon)
        (out / MODE_FILE).write_text(json.dumps({"mode": name, **mode.model_dump(mode="json"),
                                                 "adapter_scale": sm.adapter_scale}, indent=1))
    return {"dir": str(out), "videos": len(videos), **{f"{k}_seconds": round(v, 2) for k, v in times.items()}}
