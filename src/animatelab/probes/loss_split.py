"""The denoising loss split into what a single frame explains and what only motion explains.

On the same noisy real clips: ``loss_image`` (motion modules bypassed: the image base alone),
``loss_shuffled`` (frames in random order: the motion UNet can use appearance, not motion),
``loss_real`` (the true clip). ``appearance_gain = loss_image - loss_shuffled`` is what the module
learnt that survives destroying time; ``temporal_gain = loss_shuffled - loss_real`` is what needs
the true frame order. ``loss_static`` (one repeated frame) is reported beside them. Evaluated at
the end of training and at every loadable saved checkpoint.
"""

from __future__ import annotations

import torch

from animatelab.probes.hooks import bypass_motion
from animatelab.probes.inputs import Clips, noisy, predict


def _mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).pow(2).flatten(1).mean(1)


@torch.no_grad()
def measure(unet, clips: Clips, scheduler, timesteps: list[int], batch_size: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    acc: dict[str, list[torch.Tensor]] = {}
    for lat, text in clips.batches(batch_size):
        f = lat.shape[2]
        per_t: dict[str, list[torch.Tensor]] = {}
        for t in timesteps:
            x, eps, tt = noisy(lat, scheduler, t, g)
            order = torch.randperm(f, generator=g)
            still = lat[:, :, :1].expand_as(lat).contiguous()
            xs, eps_s, _ = noisy(still, scheduler, t, g)
            with bypass_motion(unet):
                image = _mse(predict(unet, x, tt, text), eps)
            losses = {
                "loss_image": image,
                "loss_real": _mse(predict(unet, x, tt, text), eps),
                # shuffle the noisy clip and its noise together: the same per-frame problems, no time order
                "loss_shuffled": _mse(predict(unet, x[:, :, order], tt, text), eps[:, :, order]),
            }
            losses["loss_static"] = _mse(predict(unet, xs, tt, text), eps_s)
            for k, v in losses.items():
                per_t.setdefault(k, []).append(v)
        for key, xs_ in per_t.items():
            acc.setdefault(key, []).append(torch.stack(xs_).mean(0))
    values = {k: torch.cat(v).numpy() for k, v in acc.items()}
    values["appearance_gain"] = values["loss_image"] - values["loss_shuffled"]
    values["temporal_gain"] = values["loss_shuffled"] - values["loss_real"]
    return {"values": values, "curves": {}}


def over_training(load_unet, checkpoints: list[tuple[int, object]], clips: Clips, scheduler, timesteps, batch_size, seed,
                  known: dict[int, dict] | None = None) -> dict:
    """Mean of each loss at every ``(step, checkpoint)``; ``load_unet(path)`` builds the motion UNet.
    ``known``: ``{step: values}`` already measured with these clips and seed (the final weights, whose
    snapshot is the last one): reused, not measured again."""
    curve: dict[str, list[float]] = {"step": []}
    for step, path in checkpoints:
        if known and step in known:
            values = known[step]
        else:
            values = measure(load_unet(path), clips, scheduler, timesteps, batch_size, seed)["values"]
        curve["step"].append(int(step))
        for k, v in values.items():
            curve.setdefault(k, []).append(float(v.mean()))
    return curve
