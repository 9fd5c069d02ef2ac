"""Spatial-frequency spectrum of what the motion modules add (output − input) on real clips.

A module that learnt pixel-level detail (watermark edges, codec blocks) adds high-frequency
energy; a purely temporal one should add mostly smooth, low-frequency corrections. Each module's
residual power is binned by radial frequency (1 = Nyquist), normalised to a distribution, and
averaged over modules; the input's own spectrum is the reference.
"""

from __future__ import annotations

import numpy as np
import torch

from animatelab.probes.hooks import capture_residuals
from animatelab.probes.inputs import Clips, noisy, predict


def radial_power(x: torch.Tensor, num_bins: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, num_bins) power per radial-frequency bin, summed over channels."""
    power = torch.fft.fft2(x.float()).abs().pow(2).sum(1)  # (N, H, W)
    fy = torch.fft.fftfreq(x.shape[-2])[:, None]
    fx = torch.fft.fftfreq(x.shape[-1])[None, :]
    radius = (fx**2 + fy**2).sqrt() / 0.5  # 1 = Nyquist along an axis; corners up to sqrt(2)
    index = (radius * num_bins).long().clamp(max=num_bins - 1).flatten()
    out = torch.zeros(len(x), num_bins)
    return out.index_add_(1, index, power.flatten(1))


def _distribution(p: torch.Tensor) -> torch.Tensor:
    return p / p.sum(1, keepdim=True).clamp_min(1e-20)


@torch.no_grad()
def measure(unet, clips: Clips, scheduler, timesteps: list[int], batch_size: int, seed: int, num_bins: int = 4) -> dict:
    """Per-clip residual spectra. Returns ``values`` (per-clip arrays) and ``curves``."""
    g = torch.Generator().manual_seed(seed)
    res_dist, in_dist, hf, hf_in, rel = [], [], [], [], []
    for lat, text in clips.batches(batch_size):
        b, f = lat.shape[0], lat.shape[2]
        for t in timesteps:
            x, _, tt = noisy(lat, scheduler, t, g)
            with capture_residuals(unet) as records:
                predict(unet, x, tt, text)
            r_d, i_d, r_n = [], [], []
            for _, h, r in records:
                r_d.append(_distribution(radial_power(r, num_bins)).view(b, f, -1).mean(1))
                i_d.append(_distribution(radial_power(h, num_bins)).view(b, f, -1).mean(1))
                r_n.append((r.flatten(1).norm(dim=1) / h.flatten(1).norm(dim=1).clamp_min(1e-12)).view(b, f).mean(1))
            rd, idist = torch.stack(r_d).mean(0), torch.stack(i_d).mean(0)  # (b, bins)
            res_dist.append(rd)
            in_dist.append(idist)
            hf.append(rd[:, num_bins // 2 :].sum(1))
            hf_in.append(idist[:, num_bins // 2 :].sum(1))
            rel.append(torch.stack(r_n).mean(0))
    # one value per clip: average over timesteps
    k = len(timesteps)
    per_clip = lambda xs: torch.stack([torch.cat(xs[i::k]) for i in range(k)]).mean(0).numpy()  # noqa: E731
    rd = per_clip(res_dist)
    idist = per_clip(in_dist)
    edges = np.linspace(0, 1, num_bins + 1)
    return {
        "values": {
            "residual_hf_fraction": per_clip(hf),
            "input_hf_fraction": per_clip(hf_in),
            "residual_rel_norm": per_clip(rel),
        },
        "curves": {
            "frequency": ((edges[:-1] + edges[1:]) / 2).tolist(),
            "residual_power": rd.mean(0).tolist(),
            "input_power": idist.mean(0).tolist(),
        },
    }
