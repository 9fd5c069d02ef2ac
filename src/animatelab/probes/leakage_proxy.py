"""RQ1 dose–response: how much watermark a motion module puts into *clean* clips, along training.

Sampling every saved step of every run would cost minutes each; a one-step x0 prediction does
not. Clean held-out clips of the synthetic world (rendered without WebVid's defects) are noised
to one timestep, the motion UNet predicts the noise, and the implied clean clip
``x0 = (x_t - sqrt(1 - a) eps) / sqrt(a)`` is decoded and scored with the evaluation's own
watermark measure, as a fraction of the watermarked real frames' score. A module that learned to
add the watermark adds it here; the image base alone (motion bypassed) gives the step-0 value.
The sampled leakage of the final weights (``evaluate``) is the check that the proxy tracks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from animatelab.probes.hooks import bypass_motion
from animatelab.probes.inputs import predict

if TYPE_CHECKING:
    from animatelab.schema.data import SynthDataParams


@dataclass
class CleanClips:
    """Held-out clips as the UNet sees them, clean and as written with the world's defects, and the
    reference score of the written frames."""

    latents: torch.Tensor  # (N, C, F, h, w), scaled: the clean clips
    degraded: torch.Tensor  # the same clips with the defects (blur, watermark, codec), as ``latents``
    text: torch.Tensor  # (N, L, D)
    real_score: float  # mean watermark score of the degraded clips' frames (pixels)


def clean_clips(sp: "SynthDataParams", base, num_clips: int, frames: int) -> CleanClips:
    """Held-out clips of the synthetic world without and with its defects (same specs), both encoded;
    ``sp``: the world's own ``synth_data`` group. Both twins are the frames a reader decodes from the
    synth stage's files (``data.synth.written_frames``): the clean one with every defect off."""
    from animatelab.models.encode import encode_frames
    from animatelab.data.synth import caption_for, clip_specs, watermark_template, written_frames
    from animatelab.eval.watermark import Watermark, watermark_scores
    from animatelab.models.base import encode_prompts

    specs = clip_specs(sp, "heldout", min(num_clips, sp.num_heldout_videos))
    clean = np.stack([written_frames(s, sp, watermark_alpha=0, blur_sigma=0, codec="lossless")[:frames]
                      for s in specs])
    coded = np.stack([written_frames(s, sp)[:frames] for s in specs])
    template, _ = watermark_template(sp.resolution)
    wm = Watermark(template, sp.watermark_alpha, np.ones(3, np.float32))
    both = encode_frames(base, np.concatenate([clean, coded]), batch_size=64).permute(0, 2, 1, 3, 4).contiguous()
    text = encode_prompts(base, [caption_for(s.shape, s.colour, s.background, s.motion) for s in specs])
    return CleanClips(both[: len(clean)], both[len(clean):], text, float(watermark_scores(coded, wm).mean()))


@torch.no_grad()
def one_step_x0(unet, clips: CleanClips, scheduler, timestep: int, batch_size: int, seed: int) -> torch.Tensor:
    """x0 implied by one noise prediction at ``timestep`` (fixed noise per clip), (N, C, F, h, w)."""
    g = torch.Generator().manual_seed(seed)
    a = scheduler.alphas_cumprod[timestep].float()
    out = []
    for i in range(0, len(clips.latents), batch_size):
        lat, text = clips.latents[i : i + batch_size], clips.text[i : i + batch_size]
        eps = torch.randn(lat.shape, generator=g)
        t = torch.full((len(lat),), timestep, dtype=torch.long)
        x_t = scheduler.add_noise(lat, eps, t)
        pred = predict(unet, x_t, t, text)
        out.append((x_t - (1 - a).sqrt() * pred) / a.sqrt())
    return torch.cat(out)


def decode_videos(vae, latents: torch.Tensor) -> np.ndarray:
    """(N, C, F, h, w) scaled latents -> uint8 (N, F, H, W, 3), through the evaluation's one VAE decode."""
    from animatelab.eval.vae_reference import decode

    return decode(vae, latents.permute(0, 2, 1, 3, 4).numpy())


def leakage(unet, vae, clips: CleanClips, watermark, scheduler, timestep: int, batch_size: int, seed: int,
            bypass: bool = False) -> np.ndarray:
    """Per-clip proxy leakage (fraction of the watermarked real frames' score)."""
    from animatelab.eval.watermark import watermark_scores

    if bypass:
        with bypass_motion(unet):
            x0 = one_step_x0(unet, clips, scheduler, timestep, batch_size, seed)
    else:
        x0 = one_step_x0(unet, clips, scheduler, timestep, batch_size, seed)
    return watermark_scores(decode_videos(vae, x0), watermark) / clips.real_score


def over_training(load_unet, snapshots: list[tuple[int, object]], vae, clips: CleanClips, watermark, scheduler,
                  timestep: int, batch_size: int, seed: int) -> dict[str, list[float]]:
    """Mean proxy leakage (and its per-clip bootstrap-free spread) at step 0 and every snapshot."""
    curve: dict[str, list[float]] = {"step": [], "leakage_proxy": [], "leakage_proxy_sd": []}
    points = [(0, None)] + list(snapshots)
    unet = None
    for step, path in points:
        unet = load_unet(path) if path is not None or unet is None else unet
        values = leakage(unet, vae, clips, watermark, scheduler, timestep, batch_size, seed, bypass=path is None)
        curve["step"].append(int(step))
        curve["leakage_proxy"].append(float(values.mean()))
        curve["leakage_proxy_sd"].append(float(values.std(ddof=1)) if len(values) > 1 else 0.0)
    return curve
