"""RQ1 bars (with vs. without adapter, over seeds), RQ2 adapter-scale curve, RQ3 MotionLoRA curve."""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from animatelab.eval.publish import REAL_MOTION_LORA
from animatelab.runs import RunId
from animatelab.figures.metrics import Metric, MetricsStore
from animatelab.figures.style import CYCLE, PALETTE, figure, note_missing

LABELS = {
    "watermark_leakage": "watermark leakage\n(× real)",
    "blur_leakage": "blur leakage\n(× real)",
    "codec_leakage": "codec leakage\n(× real)",
    "fvd_synth": "FVD\n(synth)",
    "clip_synth_text": "CLIP\ntext",
    "gt_moving_frac": "moving\nclips",
    "gt_direction_acc": "direction\naccuracy",
    "gt_growth_rate": "growth rate\n(px/frame)",
    "gt_speed_w1": "speed W1",
    "gt_appearance_acc": "appearance acc.",
}


SHORT = {"with_adapter": "with", "no_adapter": "without"}


def label(metric: str) -> str:
    return LABELS.get(metric, metric.replace("_", " "))


def _err(m: Metric) -> list[list[float]]:
    return [[max(m.mean - m.ci_low, 0)], [max(m.ci_high - m.mean, 0)]]


def rq1_bars(store: MetricsStore, variants: list[str], metrics: list[str], scale: float | None, width: float,
             floor_run: str | None = None):
    """One panel per metric, at most four to a row: a bar per variant (mean over seeds, t interval)
    and each seed's mean; the real clips (dashed) and ``floor_run``, the untrained module (dotted)."""
    ncols = min(4, len(metrics))
    nrows = -(-len(metrics) // ncols)
    # panels a little taller than wide: height / width = rows / columns (+ room for the labels)
    fig, axes = figure(width, nrows / max(ncols, 2) + 0.05, nrows=nrows, ncols=ncols, squeeze=False)
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    for ax, metric in zip(axes.flat, metrics):
        missing = []
        for i, variant in enumerate(variants):
            agg, seeds = store.over_seeds(variant, metric, scale)
            if agg is None:
                missing.append(variant)
                continue
            colour = PALETTE.get(variant, CYCLE[i % len(CYCLE)])
            ax.bar(i, agg.mean, 0.7, yerr=_err(agg), color=colour, alpha=0.55, ecolor="k")
            ax.scatter(np.full(len(seeds), i) + np.linspace(-0.15, 0.15, len(seeds)), seeds, s=4, color="k", zorder=3)
        real = store.reference([r for v in variants for r in store.seeds(v)], metric)
        if real is not None and np.isfinite(real.mean):
            ax.axhline(real.mean, color="0.3", ls="--", lw=0.7, label="real clips")
        floor = store.get(floor_run, metric, scale) if floor_run in store.runs else None
        if floor is not None and np.isfinite(floor.mean):
            ax.axhline(floor.mean, color="0.45", ls=":", lw=0.9, label="untrained module")
        ax.set_xticks(range(len(variants)), [SHORT.get(v, v) for v in variants], rotation=45, ha="right")
        ax.set_xlim(-0.6, len(variants) - 0.4)
        ax.set_title(label(metric))
        note_missing(ax, missing)
    spare = list(axes.flat[len(metrics):])
    handles = [Line2D([], [], color="0.3", ls="--", lw=0.7, label="real clips")]
    if floor_run in store.runs:
        handles.append(Line2D([], [], color="0.45", ls=":", lw=0.9, label=f"{floor_run} (module as initialised)"))
    if spare:  # the key in the first empty panel, else under the panels
        spare[0].set_visible(True)
        spare[0].axis("off")
        spare[0].legend(handles=handles, loc="center", frameon=False)
    else:
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    fig.tight_layout(w_pad=0.4)
    return fig


def rq2_scale_curve(store: MetricsStore, run: str, metrics: list[str], width: float):
    """Each metric (the domain's defects, visual quality, text alignment) against the adapter scale at
    inference (0 = dropped), one panel each."""
    fig, axes = figure(width, 0.45 * 2 / max(2, len(metrics)), ncols=len(metrics), squeeze=False)
    scales = store.scales(run)
    for ax, metric, colour in zip(axes[0], metrics, CYCLE):
        pts = [(s, m) for s in scales if (m := store.get(run, metric, s)) is not None]
        if pts:
            x = [s for s, _ in pts]
            y = np.array([[m.mean, m.ci_low, m.ci_high] for _, m in pts])
            ax.plot(x, y[:, 0], "o-", color=colour)
            ax.fill_between(x, y[:, 1], y[:, 2], color=colour, alpha=0.2, lw=0)
        else:
            note_missing(ax, [f"{metric} of {run} per scale"])
        ax.set_xlabel("adapter scale")
        ax.set_title(label(metric))
    fig.tight_layout()
    return fig


def lora_runs(store: MetricsStore) -> list[tuple[int, str]]:
    runs = [RunId.parse(r) for r in store.runs]
    return sorted((r.n_videos, r.name) for r in runs if r.kind == "motion_lora")


def rq3_lora_curve(store: MetricsStore, metrics: list[str], width: float, scale: float | None = None):
    """MotionLoRA data efficiency: each metric against the number of reference videos, read against
    the camera-motion clips the LoRAs learn from (dashed, ``real_motion_lora``)."""
    fig, axes = figure(width, 0.45, ncols=len(metrics), squeeze=False)
    runs = lora_runs(store)
    for ax, metric, colour in zip(axes[0], metrics, CYCLE):
        pts = [(n, m) for n, r in runs if (m := store.get(r, metric, scale)) is not None]
        real = store.reference([r for _, r in runs], metric, REAL_MOTION_LORA)
        if real is not None and np.isfinite(real.mean):
            ax.axhline(real.mean, color="0.3", ls="--", lw=0.8, label="real camera-motion clips")
        if pts:
            x = [n for n, _ in pts]
            y = np.array([[m.mean, m.ci_low, m.ci_high] for _, m in pts])
            ax.errorbar(x, y[:, 0], yerr=[y[:, 0] - y[:, 1], y[:, 2] - y[:, 0]], fmt="o-", color=colour)
            ax.set_xscale("log")
            ax.set_xticks(x, [str(n) for n in x])
            ax.minorticks_off()
        else:
            note_missing(ax, ["runs lora_n*"])
        ax.set_xlabel("reference videos")
        ax.set_title(label(metric))
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:  # one legend above the panels, clear of the data
        fig.legend(handles, labels, loc="upper center", ncol=len(handles), fontsize="small", frameon=False)
        fig.tight_layout(rect=(0, 0, 1, 0.88))
    else:
        fig.tight_layout()
    return fig


def runs_bars(store: MetricsStore, runs: list[str], metrics: list[str], scale: float | None, width: float,
              reference: str | None = None):
    """One panel per metric, a bar per run (mean, 95 % bootstrap interval): RQ4 designs, RQ5 options.

    ``reference`` (a run name) is drawn first and as a dashed line, so every bar reads against it.
    """
    fig, axes = figure(width, 0.6, ncols=len(metrics), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        shown, missing = [], []
        for run in runs:
            m = store.get(run, metric, scale)
            (missing if m is None else shown).append((run, m))
        for i, (run, m) in enumerate(shown):
            ax.bar(i, m.mean, 0.7, yerr=_err(m), color=CYCLE[i % len(CYCLE)], alpha=0.6, ecolor="k")
            if run == reference:
                ax.axhline(m.mean, color="0.3", ls="--", lw=0.7)
        real = store.reference([r for r, _ in shown], metric)
        if real is not None and np.isfinite(real.mean):
            ax.axhline(real.mean, color="0.5", ls=":", lw=0.7)
        ax.set_xticks(range(len(shown)), [r.removesuffix("_s0") for r, _ in shown], rotation=60, ha="right")
        ax.set_title(label(metric))
        note_missing(ax, [r for r, _ in missing])
    fig.tight_layout(w_pad=0.4)
    return fig
