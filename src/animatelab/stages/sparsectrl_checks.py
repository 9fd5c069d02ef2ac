"""Argument checks shared by the three SparseCtrl stages (kept free of model code, so importing
them adds nothing to a stage's code dependencies)."""

from __future__ import annotations

from pathlib import Path

from animatelab.config import Params, ParamsError


def check_variant(params: Params, variant: str | None) -> str:
    """``variant`` if it names a ``train_sparsectrl.variants`` entry on a known motion run, else ParamsError."""
    ts = params.train_sparsectrl
    if variant is None or variant not in ts.variants:
        raise ParamsError(f"--run must name one of train_sparsectrl.variants ({', '.join(ts.variants)}), got {variant!r}")
    if ts.motion_run not in params.train_motion.runs:
        raise ParamsError(f"train_sparsectrl.motion_run: {ts.motion_run!r} is not a train_motion run")
    if not Path(params.base.path).exists():
        raise ParamsError(f"base.path: path not found: {params.base.path}")
    return variant
