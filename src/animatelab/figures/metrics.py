"""Reading ``metrics/{run}.json`` files: per-scale entries, seeds, missing runs.

A run file holds metrics ``{mean, ci_low, ci_high, n}`` either at top level (one sampling
setting) or under per-scale groups: any path component ``scale_{s}`` (e.g.
``{"scale_0.5": {"fvd_synth": {...}}}`` or a key ``"scale_0.5/fvd_synth"``) sets the adapter scale
``s``. Top-level metrics are scale ``None`` (the run's only setting); other groups (e.g.
``real_heldout``: the real clips scored the same way) are kept apart as references.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from animatelab.eval.bootstrap import is_metric, leaves  # noqa: F401  (re-exported)
from animatelab.runs import parse_scale, seed_variant


@dataclass(frozen=True)
class Metric:
    mean: float
    ci_low: float
    ci_high: float
    n: int

    @classmethod
    def from_dict(cls, d: dict) -> "Metric":
        return cls(float(d["mean"]), float(d["ci_low"]), float(d["ci_high"]), int(d["n"]))

    def text(self, digits: int = 3) -> str:
        """``0.123 [0.100, 0.150]``: the mean and its 95 % interval."""
        if not np.isfinite(self.mean):
            return "n/a"
        return f"{self.mean:.{digits}g} [{self.ci_low:.{digits}g}, {self.ci_high:.{digits}g}]"


def split_groups(data: dict) -> tuple[dict[float | None, dict[str, Metric]], dict[str, dict[str, Metric]]]:
    """A run file's metrics by adapter scale (``None``: top level), and its other named groups."""
    scales: dict[float | None, dict[str, Metric]] = {}
    groups: dict[str, dict[str, Metric]] = {}
    for path, value in leaves(data).items():
        *parents, name = path.split("/")
        found = [s for part in parents if (s := parse_scale(part)) is not None]
        if found:
            scales.setdefault(found[-1], {})[name] = Metric.from_dict(value)
        elif parents:
            groups.setdefault("/".join(parents), {})[name] = Metric.from_dict(value)
        else:
            scales.setdefault(None, {})[name] = Metric.from_dict(value)
    return scales, groups


def by_scale(data: dict) -> dict[float | None, dict[str, Metric]]:
    """Group a run file's metrics by adapter scale (``None`` when the file has no scale groups)."""
    return split_groups(data)[0]


@dataclass
class MetricsStore:
    """Every run file of a metrics folder, by run name; ``missing`` records what was asked but absent."""

    runs: dict[str, dict[float | None, dict[str, Metric]]]
    references: dict[str, dict[str, dict[str, Metric]]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, folder: str | Path) -> "MetricsStore":
        runs, refs = {}, {}
        for path in sorted(Path(folder).glob("*.json")):
            if path.name.endswith(".meta.json"):
                continue
            try:
                data = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if isinstance(data, dict) and leaves(data):
                scales, groups = split_groups(data)
                if scales:
                    runs[path.stem] = scales
                    refs[path.stem] = groups
        return cls(runs, refs)

    def reference(self, runs: list[str], metric: str, group: str = "real_heldout") -> Metric | None:
        """The real clips' value of ``metric`` (the ``real_heldout`` group of the first run holding it)."""
        for r in runs:
            m = self.references.get(r, {}).get(group, {}).get(metric)
            if m is not None:
                return m
        return None

    def scales(self, run: str) -> list[float]:
        return sorted(s for s in self.runs.get(run, {}) if s is not None)

    def get(self, run: str, metric: str, scale: float | None = None) -> Metric | None:
        """The metric at ``scale`` (or the run's unscaled entry); ``None`` and noted when absent."""
        groups = self.runs.get(run)
        if groups is None:
            self._miss(f"run {run}")
            return None
        for key in (scale, None) if scale is not None else (None, 0.0):
            if key in groups and metric in groups[key]:
                return groups[key][metric]
        self._miss(f"{metric} of {run}" + (f" at scale {scale:g}" if scale is not None else ""))
        return None

    def seeds(self, variant: str) -> list[str]:
        """Run names ``{variant}_s{k}`` present, by seed."""
        found = [(vs[1], r) for r in self.runs if (vs := seed_variant(r)) and vs[0] == variant]
        return [r for _, r in sorted(found)]

    def over_seeds(self, variant: str, metric: str, scale: float | None = None, level: float = 0.95) -> tuple[Metric | None, list[float]]:
        """Mean over seeds with a t interval (one seed: its bootstrap interval), and per-seed means."""
        from scipy import stats

        per = [m for r in self.seeds(variant) if (m := self.get(r, metric, scale)) is not None and np.isfinite(m.mean)]
        if not per:
            if not self.seeds(variant):
                self._miss(f"runs {variant}_s*")
            return None, []
        means = np.array([m.mean for m in per])
        if len(per) == 1:
            return per[0], means.tolist()
        half = stats.t.ppf((1 + level) / 2, len(means) - 1) * means.std(ddof=1) / np.sqrt(len(means))
        return Metric(means.mean(), means.mean() - half, means.mean() + half, len(means)), means.tolist()

    def _miss(self, what: str) -> None:
        if what not in self.missing:
            self.missing.append(what)


def minus_floor(arm: Metric, floor: Metric) -> Metric:
    """``arm − floor`` for an arm's mean over seeds (t interval) and the floor run's mean (bootstrap
    interval over videos): the two are independent, so their half-widths add in quadrature (a normal
    approximation; each interval is read as symmetric about its mean)."""
    half = float(np.hypot((arm.ci_high - arm.ci_low) / 2, (floor.ci_high - floor.ci_low) / 2))
    d = arm.mean - floor.mean
    return Metric(d, d - half, d + half, arm.n)


def welch_difference(a: list[float], b: list[float], level: float = 0.95) -> Metric | None:
    """Mean of ``a`` minus mean of ``b`` (per-seed means) with a Welch t interval: the comparison RQ1
    states, since two per-arm intervals can overlap while their difference clearly excludes 0."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return None
    xa, xb = np.asarray(a, float), np.asarray(b, float)
    va, vb = xa.var(ddof=1) / len(xa), xb.var(ddof=1) / len(xb)
    d, se = xa.mean() - xb.mean(), np.sqrt(va + vb)
    if se == 0:
        return Metric(d, d, d, len(xa) + len(xb))
    dof = (va + vb) ** 2 / (va**2 / (len(xa) - 1) + vb**2 / (len(xb) - 1))
    half = stats.t.ppf((1 + level) / 2, dof) * se
    return Metric(d, d - half, d + half, len(xa) + len(xb))
