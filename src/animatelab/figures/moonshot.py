"""RQ7 (MoonShot vs AnimateDiff) figures and tables, from ``{figures.rq7_metrics_dir}/{mode}.json``.

``evaluate_moonshot`` scores MoonShot's samples with ``evaluate``'s own code and params, on AnimateDiff's
prompts and initial noise, so a mode's file sits beside the RQ1 runs' ``metrics/{run}.json`` and the two
read the same way (groups ``scale_{s}`` and ``real_heldout``). The intervals differ in kind, and every
caption says so: an AnimateDiff arm is a mean over training seeds (t interval, the spread between
trainings included); a MoonShot mode is one trained model (bootstrap over videos, no training spread).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from animatelab.figures.ablations import SHORT, label
from animatelab.figures.metrics import Metric, MetricsStore
from animatelab.figures.style import CYCLE, PALETTE, figure, note_missing
from animatelab.figures.tables import cell

CEILING = "_vae_ceiling"  # what frame 0 through the base's VAE scores: no latent model draws it better
LABELS = {"first_frame_psnr": "first-frame PSNR (dB)", "first_frame_ssim": "first-frame SSIM",
          "identity_clip": "identity\n(CLIP cosine × 100)", "identity_frame_acc": "identity\n(frames read as prompt)"}
REAL = {"color": "0.3", "ls": "--", "lw": 0.7}
TOP = {"color": "k", "lw": 0.8}


def _legend(fig, entries: dict[str, dict]) -> None:
    """One legend for the figure's reference lines, above the panels (per-panel legends hide bars)."""
    from matplotlib.lines import Line2D

    fig.legend([Line2D([], [], **kw) for kw in entries.values()], list(entries), loc="lower center",
               bbox_to_anchor=(0.5, 1.0), ncol=len(entries), frameon=False, fontsize=5)


class Arm(NamedTuple):
    """One bar: an AnimateDiff RQ1 variant (seed mean) or a MoonShot mode."""

    name: str  # "with_adapter", "moonshot_text", ...
    tick: str
    colour: str
    metric: Metric | None
    seeds: list[float]  # per-seed means (AnimateDiff only)


def load(folder: str | Path, modes: list[str]) -> MetricsStore | None:
    """The MoonShot metrics files as a store (runs = modes), or ``None`` when none of ``modes`` was scored."""
    if not Path(folder).is_dir():
        return None
    moon = MetricsStore.load(folder)
    return moon if any(m in moon.runs for m in modes) else None


def mode_metric(moon: MetricsStore, mode: str, metric: str, scale: float | None) -> Metric | None:
    return moon.get(mode, metric, scale) if mode in moon.runs else None


def arms(store: MetricsStore, moon: MetricsStore, variants: list[str], modes: list[str], metric: str,
         scale: float | None) -> list[Arm]:
    """AnimateDiff's variants (mean over seeds) then MoonShot's modes, all at adapter scale ``scale``."""
    out = []
    for i, v in enumerate(variants):
        agg, seeds = store.over_seeds(v, metric, scale)
        out.append(Arm(v, f"AD {SHORT.get(v, v)}", PALETTE.get(v, CYCLE[i % len(CYCLE)]), agg, seeds))
    for j, m in enumerate(modes):
        out.append(Arm(f"moonshot_{m}", f"MS {m}", CYCLE[(2 + j) % len(CYCLE)], mode_metric(moon, m, metric, scale), []))
    return out


def real_clips(store: MetricsStore, moon: MetricsStore, variants: list[str], modes: list[str], metric: str) -> Metric | None:
    """The held-out real clips scored the same way (MoonShot's files first, then the RQ1 runs')."""
    return moon.reference(modes, metric) or store.reference([r for v in variants for r in store.seeds(v)], metric)


def ceiling(moon: MetricsStore, modes: list[str], metric: str, scale: float | None) -> Metric | None:
    """``{metric}_vae_ceiling``: the same conditioning frames in every mode, so the first file holding it."""
    for m in modes:
        groups = moon.runs.get(m, {})
        for key in (scale, None):
            if f"{metric}{CEILING}" in groups.get(key, {}):
                return groups[key][f"{metric}{CEILING}"]
    return None


def _bar(ax, x: float, m: Metric, colour: str) -> None:
    ax.bar(x, m.mean, 0.7, yerr=[[max(m.mean - m.ci_low, 0)], [max(m.ci_high - m.mean, 0)]],
           color=colour, alpha=0.6, ecolor="k")


def _grid(width: float, n: int):
    ncols = min(4, n)
    nrows = -(-n // ncols)
    fig, axes = figure(width, nrows / max(ncols, 2) + 0.05, nrows=nrows, ncols=ncols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat[:n]


def comparison_figure(store: MetricsStore, moon: MetricsStore | None, variants: list[str], modes: list[str],
                      metrics: list[str], scale: float | None, width: float):
    """One panel per shared metric: AnimateDiff's RQ1 arms (seed means, t interval, each seed a dot) and
    MoonShot's modes (bootstrap interval over videos); the real clips dashed."""
    if moon is None or not metrics:
        return None
    fig, axes = _grid(width, len(metrics))
    for ax, metric in zip(axes, metrics):
        shown = arms(store, moon, variants, modes, metric, scale)
        for i, a in enumerate(shown):
            if a.metric is not None:
                _bar(ax, i, a.metric, a.colour)
                ax.scatter(np.full(len(a.seeds), i) + np.linspace(-0.15, 0.15, len(a.seeds)), a.seeds, s=4, color="k", zorder=3)
        real = real_clips(store, moon, variants, modes, metric)
        if real is not None and np.isfinite(real.mean):
            ax.axhline(real.mean, **REAL)
        ax.set_xticks(range(len(shown)), [a.tick for a in shown], rotation=45, ha="right")
        ax.set_xlim(-0.6, len(shown) - 0.4)
        ax.set_title(label(metric))
        note_missing(ax, [a.tick for a in shown if a.metric is None])
    fig.tight_layout(w_pad=0.4)
    _legend(fig, {"AnimateDiff seed (bar: mean over seeds, 95 % t interval)": {"marker": "o", "ls": "", "color": "k", "ms": 2},
                  "MoonShot: one model, 95 % bootstrap interval over videos": {"marker": "_", "ls": "", "color": "k", "ms": 4},
                  "real clips, scored the same way": REAL})
    return fig


def first_frame_figure(moon: MetricsStore | None, modes: list[str], metrics: list[str], scale: float | None, width: float):
    """Fidelity to the conditioning frame and identity across frames, per mode: the VAE ceiling as a solid
    line (its interval shaded), the real clips' own identity dashed."""
    if moon is None or not metrics:
        return None
    fig, axes = figure(width, 0.42, ncols=len(metrics), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        ms = [mode_metric(moon, m, metric, scale) for m in modes]
        for i, m in enumerate(ms):
            if m is not None:
                _bar(ax, i, m, CYCLE[(2 + i) % len(CYCLE)])
        top = ceiling(moon, modes, metric, scale)
        if top is not None and np.isfinite(top.mean):
            ax.axhline(top.mean, **TOP)
            ax.axhspan(top.ci_low, top.ci_high, color="k", alpha=0.1, lw=0)
        real = moon.reference(modes, metric)
        if real is not None and np.isfinite(real.mean):
            ax.axhline(real.mean, **REAL)
        ax.set_xticks(range(len(modes)), modes, rotation=45, ha="right")
        ax.set_xlim(-0.6, len(modes) - 0.4)
        ax.set_title(LABELS.get(metric, label(metric)))
        note_missing(ax, [mode for mode, m in zip(modes, ms) if m is None])
    fig.tight_layout(w_pad=0.4)
    _legend(fig, {"VAE ceiling: the conditioning frame through the base's VAE": TOP,
                  "real held-out clips, scored the same way (frame 0: their own)": REAL})
    return fig


def comparison_table(store: MetricsStore, moon: MetricsStore, variants: list[str], modes: list[str],
                     metrics: list[str], scale: float | None) -> pd.DataFrame:
    """Rows: the arms of the comparison figure and the real clips; cells ``mean [interval]``."""
    rows: dict[str, dict[str, str]] = {}
    for metric in metrics:
        for a in arms(store, moon, variants, modes, metric, scale):
            rows.setdefault(a.name, {})[metric] = cell(a.metric)
        rows.setdefault("real clips", {})[metric] = cell(real_clips(store, moon, variants, modes, metric))
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("arm")


def first_frame_table(moon: MetricsStore, modes: list[str], metrics: list[str], scale: float | None) -> pd.DataFrame:
    """Rows: the modes, the VAE ceiling and the real clips."""
    rows = {m: {k: cell(mode_metric(moon, m, k, scale)) for k in metrics} for m in modes}
    rows["VAE ceiling"] = {k: cell(ceiling(moon, modes, k, scale)) for k in metrics}
    rows["real clips"] = {k: cell(moon.reference(modes, k)) for k in metrics}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("mode")
