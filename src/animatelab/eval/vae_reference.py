"""What the base's VAE makes of the video domain, computed once in ``train_eval_models``:

- the watermark's latent signature (:class:`~animatelab.eval.watermark.LatentSignature`), from the
  synthetic world's own clips rendered with and without the watermark (same content, same blur);
- VAE reconstructions of real clips: the ceiling of any pixel-space leakage of a latent model
  (the decoder must be able to draw the watermark for generated pixels to show it).

Latents are the posterior mean times ``scaling_factor``, as the ``encode`` cache and the sampler's
latents are.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from animatelab.config import SynthDataParams
from animatelab.eval.watermark import LatentSignature
from animatelab.models.encode import frames_to_pixels


def load_vae(base_path: str | Path):
    """The base pipeline folder's AutoencoderKL, frozen (local files only)."""
    from diffusers import AutoencoderKL

    path = Path(base_path)
    if not (path / "vae").is_dir():
        raise FileNotFoundError(f"base.path: no VAE at {path / 'vae'} (train_eval_models needs the base's VAE; run pretrain_base)")
    return AutoencoderKL.from_pretrained(path, subfolder="vae", local_files_only=True).eval().requires_grad_(False)


@torch.no_grad()
def encode(vae, frames: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """uint8 (..., H, W, 3) -> scaled posterior-mean latents float32 (..., C, h, w)."""
    flat = frames.reshape(-1, *frames.shape[-3:])
    out = [vae.encode(frames_to_pixels(flat[i : i + batch_size])).latent_dist.mean * vae.config.scaling_factor
           for i in range(0, len(flat), batch_size)]
    z = torch.cat(out).float().numpy()
    return z.reshape(*frames.shape[:-3], *z.shape[1:])


@torch.no_grad()
def decode(vae, latents: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Scaled latents (..., C, h, w) -> uint8 (..., H, W, 3)."""
    flat = torch.from_numpy(np.ascontiguousarray(latents, np.float32)).reshape(-1, *latents.shape[-3:])
    out = [vae.decode(flat[i : i + batch_size] / vae.config.scaling_factor).sample for i in range(0, len(flat), batch_size)]
    x = ((torch.cat(out).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return x.reshape(*latents.shape[:-3], *x.shape[1:])


def reconstruct(vae, frames: np.ndarray, batch_size: int = 64) -> np.ndarray:
    return decode(vae, encode(vae, frames, batch_size), batch_size)


def _resize(frames: np.ndarray, size: int) -> np.ndarray:
    if frames.shape[-2] == size:
        return frames
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames])


def paired_clips(p: SynthDataParams, count: int, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """(with, without) watermark uint8 (count, F, R, R, 3): the first ``count`` train-split clips,
    rendered and blurred as ``synth_data`` does, without its h264 pass, at the VAE's input size."""
    from animatelab.data import synth

    template, _ = synth.watermark_template(p.resolution)
    pairs = []
    for spec in synth.clip_specs(p, "train", count):
        clean = synth.render_clip(spec, p)
        pairs.append([_resize(synth.degrade(clean, template, a, p.blur_sigma), resolution) for a in (p.watermark_alpha, 0.0)])
    return np.stack([a for a, _ in pairs]), np.stack([b for _, b in pairs])


def latent_signature(vae, p: SynthDataParams, count: int, resolution: int, shrinkage: float) -> LatentSignature:
    with_wm, without = paired_clips(p, count, resolution)
    return LatentSignature.from_latents(encode(vae, with_wm), encode(vae, without), shrinkage)


def save_reconstructions(path: str | Path, recon: np.ndarray) -> None:
    """uint8 (N, F, H, W, 3) reconstructions of the first N real train clips."""
    np.savez_compressed(path, videos=recon)


def load_reconstructions(path: str | Path) -> np.ndarray:
    with np.load(path) as z:
        return z["videos"]
