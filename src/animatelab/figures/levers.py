"""RQ8: which levers make a motion module learn motion, read from each lever's runs.

A lever is a set of runs (one per seed) that differ from the core's with-adapter recipe in one thing: the
training objective, the budget, the sampler, or the world the clips come from. Each run is read at the
inference setting (adapter dropped) from its metrics file, against the real clips of *its own* world (the
``real_heldout`` group of the same file), and its order gain from its loss split (``probe``): the loss
gained by the true frame order over shuffled frames, as a share of the gain of seeing the other frames at
all. The goals are the ones a user of the repo would check a trained module against.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from animatelab.figures.metrics import Metric, split_groups
from animatelab.figures.style import CYCLE, figure

if TYPE_CHECKING:
    from animatelab.schema.evaluate import LeverSpec

# (metric, short label, goal, how the goal reads): the motion a module should learn
GOALS: dict[str, tuple[str, tuple[float, float], str]] = {
    "gt_persistent_object": ("persistent object", (0.8, np.inf), ">= 0.8"),
    "speed_ratio": ("speed / real clips'", (0.5, 2.0), "within [0.5, 2] x the real clips'"),
    "order_share": ("order gain / cross-frame gain", (0.25, np.inf), ">= 0.25"),
    "gt_direction_acc": ("follows the prompt's direction", (0.6, np.inf), ">= 0.6"),
}


@dataclass(frozen=True)
class LeverRuns:
    """One lever's numbers: per metric, one value per run (seed) and its 95 % interval over videos where
    the metric has one; the real clips' value of its world; the training steps and sampling passes."""

    name: str
    runs: list[str]
    values: dict[str, list[Metric]]
    real: dict[str, float]
    steps: list[int]
    sampling_passes: int
    sampling_steps: int | None = None
    train_cost: float | None = None
    reference: bool = False

    def cost(self, curve: str) -> float:
        """Its compute on ``curve``: training compute (x the core recipe's), or UNet passes x steps per video."""
        if curve == "training":
            return float(self.train_cost) if self.train_cost else float("nan")
        return float(self.sampling_passes * self.sampling_steps) if self.sampling_steps else float("nan")

    def mean(self, metric: str) -> float:
        vals = [m.mean for m in self.values.get(metric, []) if np.isfinite(m.mean)]
        return float(np.mean(vals)) if vals else float("nan")

    def spread(self, metric: str) -> tuple[float, float]:
        """The lowest and highest bound over the runs' intervals (their union): with two seeds a t
        interval over seeds says little, so each seed's own interval over videos is kept."""
        ms = [m for m in self.values.get(metric, []) if np.isfinite(m.mean)]
        if not ms:
            return float("nan"), float("nan")
        return min(m.ci_low for m in ms), max(m.ci_high for m in ms)


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def order_share(split: dict) -> Metric | None:
    """``temporal_gain / appearance_gain`` of a run's loss split (means of the clips; no interval)."""
    try:
        t, a = float(split["temporal_gain"]["mean"]), float(split["appearance_gain"]["mean"])
    except (KeyError, TypeError):
        return None
    share = t / a if a > 0 else float("nan")
    return Metric(share, share, share, int(split["temporal_gain"].get("n", 0)))


def load_lever(spec: "LeverSpec", metrics_dir: str, motion_dir: str, scale: float = 0.0) -> LeverRuns:
    """Read ``spec``'s runs: ``{metrics_dir or spec.metrics_dir}/{run}.json`` at adapter ``scale``, the
    loss split ``spec.loss_split`` and ``{motion_dir}/{run}/train_summary.json`` (steps)."""
    folder = Path(spec.metrics_dir or metrics_dir)
    splits = (_read(Path(spec.loss_split)) or {}) if spec.loss_split else {}
    values: dict[str, list[Metric]] = {}
    reals: dict[str, list[float]] = {}
    steps: list[int] = []
    for run in spec.runs:
        data = _read(folder / f"{run}.json")
        if data is None:
            continue
        scales, groups = split_groups(data)
        got, real = scales.get(scale, {}), groups.get("real_heldout", {})
        for metric, m in got.items():
            values.setdefault(metric, []).append(m)
        for metric, m in real.items():
            reals.setdefault(metric, []).append(m.mean)
        if "gt_speed" in got and real.get("gt_speed") and real["gt_speed"].mean > 0:
            r, s = real["gt_speed"].mean, got["gt_speed"]
            values.setdefault("speed_ratio", []).append(Metric(s.mean / r, s.ci_low / r, s.ci_high / r, s.n))
        share = order_share(splits.get(run, {}))
        if share is not None:
            values.setdefault("order_share", []).append(share)
        summary = _read(Path(motion_dir) / run / "train_summary.json")
        if summary is not None:
            steps.append(int(summary.get("steps", 0)))
    real = {k: float(np.mean(v)) for k, v in reals.items()}
    return LeverRuns(spec.name, list(spec.runs), values, real, steps, spec.sampling_passes, spec.sampling_steps,
                     spec.train_cost, spec.reference)


def _goal_band(ax, lo: float, hi: float) -> None:
    """Shade the goal [lo, hi] (hi inf: up past lo) with its bounds dashed; nothing for a metric without one."""
    if not np.isfinite(lo):
        return
    top = hi if np.isfinite(hi) else max(ax.get_ylim()[1], lo * 1.3)
    ax.set_ylim(top=max(ax.get_ylim()[1], top))
    ax.axhspan(lo, top, color="tab:green", alpha=0.08, lw=0)
    for bound in (lo, hi):
        if np.isfinite(bound):
            ax.axhline(bound, color="tab:green", lw=0.6, ls="--")


def levers_figure(levers: list[LeverRuns], metrics: list[str], width: float):
    """One panel per metric: a bar per lever (mean over its runs), each run's mean (dots) and the union of
    the runs' intervals over videos (whisker); the goal shaded, the real clips' level dotted."""
    from animatelab.figures.ablations import label

    ncols = min(len(metrics), 4)
    nrows = -(-len(metrics) // ncols)
    fig, axes = figure(width, 0.62 * nrows / max(ncols, 2) * 2 + 0.1, nrows=nrows, ncols=ncols, squeeze=False)
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    for ax, metric in zip(axes.flat, metrics):
        title, (lo, hi), _ = GOALS.get(metric, (label(metric), (np.nan, np.nan), ""))
        for i, lever in enumerate(levers):
            mean = lever.mean(metric)
            if not np.isfinite(mean):
                continue
            low, high = lever.spread(metric)
            ax.bar(i, mean, 0.7, color="0.8" if lever.reference else CYCLE[i % len(CYCLE)], alpha=0.55,
                   hatch="//" if lever.reference else None, edgecolor="0.5" if lever.reference else None)
            ax.errorbar(i, mean, yerr=[[max(mean - low, 0)], [max(high - mean, 0)]], color="k", lw=0.7, capsize=1.5)
            dots = [m.mean for m in lever.values[metric]]
            ax.scatter(np.full(len(dots), i) + np.linspace(-0.12, 0.12, len(dots)), dots, s=4, color="k", zorder=3)
            real = lever.real.get(metric)
            if real is not None and np.isfinite(real):
                ax.plot([i - 0.4, i + 0.4], [real, real], color="0.3", ls=":", lw=0.9)
        _goal_band(ax, lo, hi)
        ax.set_xticks(range(len(levers)), [lv.name for lv in levers], rotation=45, ha="right")
        ax.set_xlim(-0.6, len(levers) - 0.4)
        ax.set_title(title)
    fig.tight_layout(w_pad=0.4)
    return fig


CURVE_AXIS = {"training": "training compute (x the core recipe)", "sampling": "UNet evaluations per video (passes x steps)"}


def compute_figure(levers: list[LeverRuns], curves: dict[str, list[str]], metrics: list[str], width: float):
    """Each metric against compute along each curve (a list of lever names in order of cost): mean over
    the lever's runs, each run's value as a dot; the goal shaded. None when no curve has two levers."""
    by_name = {lv.name: lv for lv in levers}
    drawn = {c: [by_name[n] for n in names if n in by_name and np.isfinite(by_name[n].cost(c))]
             for c, names in curves.items()}
    drawn = {c: lvs for c, lvs in drawn.items() if len(lvs) >= 2}
    if not drawn:
        return None
    fig, axes = figure(width, 0.75 * len(metrics) / max(len(drawn), 2), nrows=len(metrics), ncols=len(drawn),
                       squeeze=False)
    for col, (curve, lvs) in enumerate(drawn.items()):
        x = [lv.cost(curve) for lv in lvs]
        for row, metric in enumerate(metrics):
            ax = axes[row][col]
            title, (lo, hi), _ = GOALS.get(metric, (metric, (np.nan, np.nan), ""))
            ax.plot(x, [lv.mean(metric) for lv in lvs], "o-", color=CYCLE[col % len(CYCLE)], ms=3, lw=1)
            for xi, lv in zip(x, lvs):
                dots = [m.mean for m in lv.values.get(metric, [])]
                ax.scatter(np.full(len(dots), xi), dots, s=4, color="k", zorder=3)
                ax.annotate(lv.name, (xi, lv.mean(metric)), fontsize=5, xytext=(2, 3), textcoords="offset points")
            _goal_band(ax, lo, hi)
            ax.set_xscale("log", base=2)
            ax.set_ylabel(title if col == 0 else "")
            if row == len(metrics) - 1:
                ax.set_xlabel(CURVE_AXIS[curve])
    fig.tight_layout()
    return fig


def levers_table(levers: list[LeverRuns], metrics: list[str]):
    """Per lever: runs, training steps, sampling passes and each metric's mean over runs [union of the
    runs' intervals]; the real clips' speed of its world."""
    import pandas as pd

    rows = {}
    for lv in levers:
        row = {"runs": max((len(v) for v in lv.values.values()), default=0),
               "train steps": "/".join(map(str, sorted(set(lv.steps)))) or "n/a",
               "sampling passes": lv.sampling_passes}
        for metric in metrics:
            mean = lv.mean(metric)
            low, high = lv.spread(metric)
            row[GOALS.get(metric, (metric,))[0]] = "n/a" if not np.isfinite(mean) else (
                f"{mean:.3g}" if low == high else f"{mean:.3g} [{low:.3g}, {high:.3g}]")
        real = lv.real.get("gt_speed")
        row["real speed (px/frame)"] = f"{real:.3g}" if real is not None else "n/a"
        rows[lv.name] = row
    return pd.DataFrame(rows).T.rename_axis("lever")


def findings(levers: list[LeverRuns], metrics: list[str]) -> list[str]:
    """One line per goal: the levers whose mean over runs meets it, else the closest one; a reference
    (e.g. the base's ceiling) is quoted beside them, never counted as meeting a goal."""
    lines = []
    refs = [lv for lv in levers if lv.reference]
    for metric in metrics:
        if metric not in GOALS:
            continue
        title, (lo, hi), goal = GOALS[metric]
        scored = [(lv, lv.mean(metric)) for lv in levers if not lv.reference and np.isfinite(lv.mean(metric))]
        quoted = "".join(f" ({lv.name}: {lv.mean(metric):.3g})" for lv in refs if np.isfinite(lv.mean(metric)))
        if not scored:
            lines.append(f"- **{title}** ({goal}): no lever measured it.")
            continue
        met = [(lv, v) for lv, v in scored if lo <= v <= hi]
        base = f"the {scored[0][0].name} reads {scored[0][1]:.3g}"
        if met:
            named = ", ".join(f"{lv.name} ({v:.3g})" for lv, v in met)
            lines.append(f"- **{title}** ({goal}): met by {named}; {base}.{quoted}")
        else:
            best, v = min(scored, key=lambda lv_v: lo - lv_v[1] if lv_v[1] < lo else lv_v[1] - hi)
            lines.append(f"- **{title}** ({goal}): no lever reaches it; closest {best.name} ({v:.3g}); {base}.{quoted}")
    return lines
