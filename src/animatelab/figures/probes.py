"""Probe figures, from ``metrics/probes/{probe}.json`` and ``curves.json`` (see ``animatelab.probes``)."""

from __future__ import annotations

import json
from pathlib import Path

from animatelab.figures.style import CYCLE, PALETTE, figure
from animatelab.runs import seed_variant

SUMMARY = {  # probe -> metrics shown in the summary panel
    "spectrum": ["residual_hf_fraction"],
    "static_input": ["static_prediction_change", "static_temporal_residual"],
    "loss_split": ["appearance_gain", "temporal_gain"],
    "domain_signal": ["domain_grad_frac"],
}


def load(folder: str | Path) -> tuple[dict, dict]:
    """``({probe: {run: metrics}}, curves)``; absent files give empty dicts."""
    folder = Path(folder)
    results = {p: json.loads((folder / f"{p}.json").read_text()) for p in SUMMARY if (folder / f"{p}.json").is_file()}
    curves = json.loads((folder / "curves.json").read_text()) if (folder / "curves.json").is_file() else {}
    return results, curves


def load_gap(folder: str | Path) -> dict:
    """``adapter_gap.json`` (the image base's degraded-vs-clean gap by adapter scale); ``{}`` when absent."""
    path = Path(folder) / "adapter_gap.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _variant(run: str) -> str:
    vs = seed_variant(run)
    return vs[0] if vs else run


def _colour(run: str, i: int) -> str:
    return PALETTE.get(_variant(run), CYCLE[i % len(CYCLE)])


def spectrum_figure(curves: dict, width: float):
    """Share of the motion modules' residual power per spatial-frequency band, per run."""
    runs = [r for r in curves if "spectrum" in curves[r]]
    if not runs:
        return None
    fig, ax = figure(width, 0.6)
    for i, run in enumerate(runs):
        c = curves[run]["spectrum"]
        ax.plot(c["frequency"], c["residual_power"], "o-", color=_colour(run, i), label=run, alpha=0.8)
    ax.plot(c["frequency"], curves[runs[0]]["spectrum"]["input_power"], "k--", lw=0.8, label=f"input ({runs[0]})")
    ax.set_xlabel("spatial frequency (1 = Nyquist)")
    ax.set_ylabel("share of residual power")
    ax.legend(frameon=False, ncol=2)
    fig.tight_layout()
    return fig


def summary_figure(results: dict, width: float):
    """One panel per probe metric: each run's mean with its bootstrap interval over clips."""
    panels = [(p, m) for p, ms in SUMMARY.items() if p in results for m in ms]
    if not panels:
        return None
    fig, axes = figure(width, 0.45, ncols=len(panels), squeeze=False)
    for ax, (probe, metric) in zip(axes[0], panels):
        runs = [r for r in results[probe] if metric in results[probe][r]]
        for i, run in enumerate(runs):
            m = results[probe][run][metric]
            ax.errorbar(i, m["mean"], yerr=[[m["mean"] - m["ci_low"]], [m["ci_high"] - m["mean"]]], fmt="o", color=_colour(run, i))
        ax.set_xticks(range(len(runs)), runs, rotation=60, ha="right", fontsize=5)
        ax.set_xlim(-0.6, len(runs) - 0.4)
        ax.set_title(metric.replace("_", " "), fontsize=6)
        if metric.endswith("_gain"):
            ax.axhline(0, color="0.6", lw=0.5)
    fig.tight_layout(w_pad=0.3)
    return fig


def loss_training_figure(curves: dict, width: float):
    """Appearance and temporal parts of the loss gain at each saved checkpoint, per run."""
    runs = [r for r in curves if curves[r].get("loss_over_training", {}).get("step")]
    if not runs:
        return None
    fig, axes = figure(width, 0.45, ncols=2, squeeze=False, sharex=True)
    for ax, key in zip(axes[0], ("appearance_gain", "temporal_gain")):
        for i, run in enumerate(runs):
            c = curves[run]["loss_over_training"]
            ax.plot(c["step"], c[key], "o-", color=_colour(run, i), label=run, alpha=0.8)
        ax.axhline(0, color="0.6", lw=0.5)
        ax.set_xlabel("training step")
        ax.set_title(key.replace("_", " "))
    axes[0, 0].legend(frameon=False, fontsize=5)
    fig.tight_layout()
    return fig


def as_rows(results: dict) -> dict[str, dict[str, dict]]:
    """``{run: {probe.metric: metric}}`` for the probe table."""
    rows: dict[str, dict[str, dict]] = {}
    for probe, per_run in results.items():
        for run, values in per_run.items():
            for metric in SUMMARY.get(probe, []):
                if metric in values:
                    rows.setdefault(run, {})[metric] = values[metric]
    return rows


DOSE_PANELS = (("leakage_over_training", "leakage_proxy", "watermark leakage proxy"),
               ("loss_over_training", "appearance_gain", "appearance gain"),
               ("loss_over_training", "temporal_gain", "temporal gain"))


def by_arm(curves: dict, curve: str, key: str) -> dict[str, tuple[list[int], list[list[float]]]]:
    """``{variant: (steps, per-seed values)}`` for the runs whose curve has ``key`` at the same steps."""
    arms: dict[str, tuple[list[int], list[list[float]]]] = {}
    for run, c in curves.items():
        data = c.get(curve, {})
        if not data.get("step") or key not in data:
            continue
        variant = _variant(run)
        steps, rows = arms.setdefault(variant, (list(data["step"]), []))
        if list(data["step"]) == steps:
            rows.append(list(data[key]))
    return arms


def dose_response_figure(curves: dict, width: float, variants: list[str]):
    """RQ1's "why": leakage proxy and the loss split against training step, one line per arm (mean over
    seeds) with the seeds' range as a band and each seed as a thin line."""
    panels = [p for p in DOSE_PANELS if any(by_arm(curves, p[0], p[1]).get(v) for v in variants)]
    if not panels:
        return None
    fig, axes = figure(width, 0.4, ncols=len(panels), squeeze=False, sharex=True)
    for ax, (curve, key, title) in zip(axes[0], panels):
        _arm_lines(ax, by_arm(curves, curve, key), variants)
        ax.axhline(0, color="0.6", lw=0.5)
        ax.set_xlabel("training step")
        ax.set_title(title, fontsize=7)
    axes[0, 0].legend(frameon=False, fontsize=5)
    fig.tight_layout(w_pad=0.4)
    return fig


def _arm_lines(ax, arms: dict, variants: list[str]) -> None:
    """One line per arm (mean over seeds), the seeds' range as a band and each seed as a thin line."""
    import numpy as np

    for i, variant in enumerate(v for v in variants if v in arms):
        steps, rows = arms[variant]
        y = np.asarray(rows, float)
        colour = PALETTE.get(variant, CYCLE[i % len(CYCLE)])
        for row in y:
            ax.plot(steps, row, color=colour, lw=0.4, alpha=0.5)
        ax.fill_between(steps, y.min(0), y.max(0), color=colour, alpha=0.15, lw=0)
        ax.plot(steps, y.mean(0), "o-", color=colour, ms=2.5, label=f"{variant} ({len(y)} seeds)")


def mechanism_figure(curves: dict, gap: dict, width: float, variants: list[str]):
    """RQ1's mechanism: (left) the image base's loss gap between degraded clips and their clean twins at
    adapter scale 0 and 1, with bootstrap intervals over clips; (right) the share of the motion module's
    gradient the defects drive, ``domain_grad_frac``, along training at each arm's training condition."""
    scales = sorted(k for k in gap if k.startswith("scale_"))
    arms = by_arm(curves, "domain_grad_over_training", "domain_grad_frac")
    panels = (["gap"] if scales else []) + (["grad"] if any(arms.get(v) for v in variants) else [])
    if not panels:
        return None
    fig, axes = figure(width, 0.4, ncols=len(panels), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "gap":
            for i, key in enumerate(scales):
                m = gap[key]["domain_gap"]
                ax.bar(i, m["mean"], color=("0.45", "0.75")[i % 2], width=0.6)  # grey: not an arm colour
                ax.errorbar(i, m["mean"], yerr=[[m["mean"] - m["ci_low"]], [m["ci_high"] - m["mean"]]], fmt="none",
                            color="k", lw=0.8, capsize=2)
            ax.set_xticks(range(len(scales)), [f"adapter {k.removeprefix('scale_')}" for k in scales])
            ax.axhline(0, color="0.6", lw=0.5)
            removed = gap.get("gap_removed_frac")
            title = "image base: loss(degraded) − loss(clean)"
            if removed and removed["mean"] == removed["mean"]:
                title += f"\nadapter removes {removed['mean']:.0%} [{removed['ci_low']:.0%}, {removed['ci_high']:.0%}]"
            ax.set_title(title, fontsize=6)
        else:
            _arm_lines(ax, arms, variants)
            ax.set_xlabel("training step")
            ax.set_ylim(bottom=0)
            ax.set_title("‖g_degraded − g_clean‖ / ‖g_degraded‖ (motion module)", fontsize=6)
            ax.legend(frameon=False, fontsize=5)
    fig.tight_layout(w_pad=0.4)
    return fig
