"""The motion module's effect on a static video: one real frame repeated over the clip.

A module that only models motion should leave a still clip nearly alone; one that absorbed
appearance changes it anyway. Measured on the noise prediction (relative change against the
image base, motion modules bypassed) and on the modules' residuals (their part that varies across
frames is motion the module invents), with real clips as the reference.
"""

from __future__ import annotations

import torch

from animatelab.probes.hooks import bypass_motion, capture_residuals
from animatelab.probes.inputs import Clips, noisy, predict


def _rel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-clip ||a|| / ||b|| of (B, ...) tensors."""
    return a.flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1).clamp_min(1e-12)


def _effect(unet, x, tt, text, b: int, f: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    with capture_residuals(unet) as records:
        pred = predict(unet, x, tt, text)
    with bypass_motion(unet):
        base = predict(unet, x, tt, text)
    change = _rel(pred - base, base)
    res, temporal = [], []
    for _, h, r in records:
        r5, h5 = r.view(b, f, *r.shape[1:]), h.view(b, f, *h.shape[1:])
        res.append(_rel(r5, h5))
        temporal.append(_rel(r5 - r5.mean(1, keepdim=True), h5))
    return change, torch.stack(res).mean(0), torch.stack(temporal).mean(0)


@torch.no_grad()
def measure(unet, clips: Clips, scheduler, timesteps: list[int], batch_size: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    acc: dict[str, list[torch.Tensor]] = {}
    for lat, text in clips.batches(batch_size):
        b, f = lat.shape[0], lat.shape[2]
        still = lat[:, :, :1].expand_as(lat).contiguous()
        per_t: dict[str, list[torch.Tensor]] = {}
        for t in timesteps:
            for name, clip in (("static", still), ("real", lat)):
                x, _, tt = noisy(clip, scheduler, t, g)
                change, res, temporal = _effect(unet, x, tt, text, b, f)
                per_t.setdefault(f"{name}_prediction_change", []).append(change)
                per_t.setdefault(f"{name}_residual_rel_norm", []).append(res)
                per_t.setdefault(f"{name}_temporal_residual", []).append(temporal)
        for key, xs in per_t.items():
            acc.setdefault(key, []).append(torch.stack(xs).mean(0))
    values = {k: torch.cat(v).numpy() for k, v in acc.items()}
    values["static_vs_real_change_ratio"] = values["static_prediction_change"] / values["real_prediction_change"].clip(1e-12)
    return {"values": values, "curves": {}}
