"""Forward hooks on a ``UNetMotionModel``'s motion modules (``AnimateDiffTransformer3D``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from animatelab.models.motion import motion_modules


def _input(args, kwargs) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


@contextlib.contextmanager
def capture_residuals(unet) -> Iterator[list[tuple[str, torch.Tensor, torch.Tensor]]]:
    """Record ``(name, input, output - input)`` of each motion module call, shape (B*F, C, H, W)."""
    records: list[tuple[str, torch.Tensor, torch.Tensor]] = []
    handles = []
    for name, module in motion_modules(unet):
        def hook(mod, args, kwargs, output, name=name):
            x = _input(args, kwargs)
            records.append((name, x.detach(), (output - x).detach()))
        handles.append(module.register_forward_hook(hook, with_kwargs=True))
    try:
        yield records
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def bypass_motion(unet) -> Iterator[None]:
    """Make every motion module the identity: the UNet becomes its image base, frame by frame."""
    handles = [
        m.register_forward_hook(lambda mod, args, kwargs, output: _input(args, kwargs), with_kwargs=True)
        for _, m in motion_modules(unet)
    ]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
