"""RQ1 mechanism: how much of the video domain's pixel defects reaches the motion module.

Two measures on held-out clips rendered twice from the same specs, with WebVid's defects (blur, watermark
and h264, as the training videos carry them) and without (``leakage_proxy.clean_clips``):

- ``adapter_gap``: the image base alone (no motion module) denoising the degraded clips vs their clean
  twins, with the same noise and timesteps, at domain-adapter scale 0 and 1. ``domain_gap =
  loss(degraded) - loss(clean)`` is the image->video gap; the share of it the adapter removes is what
  the adapter absorbs of the defects while the module trains on top of it.
- ``domain_grad_frac``: the gradient of the training loss with respect to the motion module's
  trainable parameters on a degraded clip, ``g_d``, and on its clean twin, ``g_c`` (same noise and
  timestep), at the run's training condition; ``||g_d - g_c|| / ||g_d||`` is the share of the update
  that the defects alone drive. 0 when the two clips are the same.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from animatelab.train.diffusion import diffusion_target


def _timesteps_and_noise(shape: tuple[int, ...], scheduler, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One uniform training timestep and one noise draw per clip, the same for both twins."""
    g = torch.Generator().manual_seed(seed)
    n = shape[0]
    t = torch.randint(0, scheduler.config.num_train_timesteps, (n,), generator=g)
    return t, torch.randn(shape, generator=g)


def _motion_parameters(unet) -> list[torch.nn.Parameter]:
    return [p for name, p in unet.named_parameters() if "motion_modules." in name]


def _loss(unet, lat: torch.Tensor, text: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, scheduler) -> torch.Tensor:
    """The training loss (``train.motion.video_denoising_loss``) of (B, C, F, h, w) clips."""
    from animatelab.train.diffusion import noise_at
    from animatelab.train.motion import video_denoising_loss

    lat, eps = lat.transpose(1, 2), eps.transpose(1, 2)
    return video_denoising_loss(unet, scheduler, lat, noise_at(scheduler, lat, eps, t), eps, t, text)


def grad_fraction(unet, degraded: torch.Tensor, clean: torch.Tensor, text: torch.Tensor, scheduler,
                  seed: int) -> np.ndarray:
    """Per clip ``||g_degraded - g_clean|| / ||g_degraded||`` over the motion parameters, (N,)."""
    if degraded.shape != clean.shape:
        raise ValueError(f"degraded {tuple(degraded.shape)} and clean {tuple(clean.shape)} clips differ in shape")
    params = _motion_parameters(unet)
    if not params:
        raise ValueError("the UNet has no motion-module parameters")
    t_all, eps_all = _timesteps_and_noise(tuple(degraded.shape), scheduler, seed)
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(True)
    out = []
    try:
        for i in range(len(degraded)):
            t, eps, txt = t_all[i : i + 1], eps_all[i : i + 1], text[i : i + 1]
            grads = []
            for lat in (degraded[i : i + 1], clean[i : i + 1]):
                loss = _loss(unet, lat, txt, t, eps, scheduler)
                grads.append(torch.cat([g.flatten() for g in torch.autograd.grad(loss, params, allow_unused=True)
                                        if g is not None]).double())
            g_d, g_c = grads
            out.append(float((g_d - g_c).norm() / g_d.norm().clamp_min(1e-30)))
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)
    return np.asarray(out)


def over_training(load_unet, snapshots: list[tuple[int, object]], degraded: torch.Tensor, clean: torch.Tensor,
                  text: torch.Tensor, scheduler, seed: int, steps: list[int] | None = None,
                  known: dict[int, np.ndarray] | None = None) -> dict[str, list[float]]:
    """Mean (and spread over clips) of ``domain_grad_frac`` at each snapshot (those in ``steps``, if given);
    ``known``: ``{step: per-clip values}`` already measured, reused."""
    curve: dict[str, list[float]] = {"step": [], "domain_grad_frac": [], "domain_grad_frac_sd": []}
    for step, path in snapshots:
        if steps is not None and step not in steps:
            continue
        values = known[step] if known and step in known else grad_fraction(
            load_unet(path), degraded, clean, text, scheduler, seed)
        curve["step"].append(int(step))
        curve["domain_grad_frac"].append(float(values.mean()))
        curve["domain_grad_frac_sd"].append(float(values.std(ddof=1)) if len(values) > 1 else 0.0)
    return curve


@torch.no_grad()
def base_losses(unet2d, degraded: torch.Tensor, clean: torch.Tensor, text: torch.Tensor, scheduler,
                timesteps: list[int], batch_size: int, seed: int) -> dict[str, np.ndarray]:
    """Per clip denoising loss of an image UNet (frame by frame) on the degraded clips and on their clean
    twins, same noise, averaged over ``timesteps``: ``{loss_degraded, loss_clean, domain_gap}``."""
    g = torch.Generator().manual_seed(seed)
    acc: dict[str, list[torch.Tensor]] = {"loss_degraded": [], "loss_clean": []}
    for i in range(0, len(degraded), batch_size):
        d, c, txt = degraded[i : i + batch_size], clean[i : i + batch_size], text[i : i + batch_size]
        b, f = d.shape[0], d.shape[2]
        per: dict[str, list[torch.Tensor]] = {"loss_degraded": [], "loss_clean": []}
        for ts in timesteps:
            eps = torch.randn(d.shape, generator=g)
            t = torch.full((b,), ts, dtype=torch.long)
            for key, lat in (("loss_degraded", d), ("loss_clean", c)):
                x = scheduler.add_noise(lat, eps, t)
                frames = x.transpose(1, 2).flatten(0, 1)  # (B*F, C, h, w)
                pred = unet2d(frames, t.repeat_interleave(f), encoder_hidden_states=txt.repeat_interleave(f, 0)).sample
                target = diffusion_target(scheduler, lat.transpose(1, 2), eps.transpose(1, 2), t).flatten(0, 1)
                per[key].append((pred.float() - target.float()).pow(2).view(b, -1).mean(1))
        for key, v in per.items():
            acc[key].append(torch.stack(v).mean(0))
    out = {k: torch.cat(v).numpy().astype(np.float64) for k, v in acc.items()}
    out["domain_gap"] = out["loss_degraded"] - out["loss_clean"]
    return out


def adapter_gap(base_path: str | Path, adapter_file: str | Path, degraded: torch.Tensor, clean: torch.Tensor,
                text: torch.Tensor, scheduler, timesteps: list[int], batch_size: int, seed: int,
                bootstrap: int, scales: tuple[float, ...] = (0.0, 1.0)) -> dict:
    """``{scale_{s:.1f}: {loss_degraded, loss_clean, domain_gap}, gap_removed_frac}`` with bootstrap intervals
    over clips; ``gap_removed_frac = 1 - gap(top scale) / gap(scale 0)`` (paired resampling of the clips)."""
    from animatelab.eval.bootstrap import bootstrap_ci, bootstrap_indices
    from animatelab.models.assemble import motion_unet

    per_scale = {}
    for scale in scales:
        unet2d = motion_unet(base_path, adapter=adapter_file, adapter_scale=scale)  # no motion: the merged image UNet
        per_scale[scale] = base_losses(unet2d, degraded, clean, text, scheduler, timesteps, batch_size, seed)
    out: dict = {f"scale_{s:.1f}": {k: bootstrap_ci(v, bootstrap, seed) for k, v in vals.items()}
                 for s, vals in per_scale.items()}
    top = max(scales)
    if 0.0 in per_scale and top:
        g0, g1 = per_scale[0.0]["domain_gap"], per_scale[top]["domain_gap"]
        with np.errstate(divide="ignore", invalid="ignore"):  # no gap at scale 0: undefined (NaN)
            out["gap_removed_frac"] = bootstrap_indices(
                len(g0), lambda i: float(1 - g1[i].mean() / g0[i].mean()), bootstrap, seed, recentre=False)
    return out
