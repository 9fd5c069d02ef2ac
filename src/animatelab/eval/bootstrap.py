"""Seeded bootstrap confidence intervals and the leaves of metrics files (aggregation over seeds:
``animatelab.figures.metrics.MetricsStore.over_seeds``).

Every metric in ``metrics/{run}.json`` is a dict ``{mean, ci_low, ci_high, n}``: ``mean`` is the
statistic on all videos, the interval is the 95 % percentile bootstrap over videos.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def summary(mean: float, low: float, high: float, n: int) -> dict[str, float | int]:
    return {"mean": float(mean), "ci_low": float(low), "ci_high": float(high), "n": int(n)}


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    num_resamples: int = 1000,
    seed: int = 0,
    statistic: Callable[[np.ndarray], float] = np.mean,
    level: float = 0.95,
) -> dict[str, float | int]:
    """Statistic of per-video ``values`` with a percentile bootstrap interval (NaNs dropped)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return summary(np.nan, np.nan, np.nan, 0)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(num_resamples, x.size))
    if statistic is np.mean:
        stats = x[idx].mean(axis=1)
    else:
        stats = np.array([statistic(x[i]) for i in idx])
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return summary(statistic(x), lo, hi, x.size)


def bootstrap_indices(
    n: int,
    statistic: Callable[[np.ndarray], float],
    num_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    recentre: bool = True,
) -> dict[str, float | int]:
    """Bootstrap a set statistic (FVD, Wasserstein distance) that takes an index array of videos.

    A resample drawn with replacement holds only ~63 % distinct videos, which inflates a distance
    between distributions: the plain percentile interval of a Fréchet distance can lie wholly above
    its own estimate. ``recentre`` subtracts that bootstrap bias (mean of the resamples minus the
    estimate) from both ends, so the interval keeps the spread of the resamples around the estimate;
    distances are clipped at 0. It does not correct skewness (no BCa: a jackknife of FVD at N=32
    is unstable when N is close to the feature dimension).
    """
    rng = np.random.default_rng(seed)
    stats = np.array([statistic(rng.integers(0, n, size=n)) for _ in range(num_resamples)])
    stats = stats[np.isfinite(stats)]
    estimate = statistic(np.arange(n))
    if not stats.size:
        return summary(estimate, np.nan, np.nan, n)
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    if recentre:
        bias = stats.mean() - estimate
        lo, hi = max(lo - bias, 0.0), max(hi - bias, 0.0)
    return summary(estimate, lo, hi, n)


def is_metric(node: object) -> bool:
    """A ``{mean, ci_low, ci_high, n}`` leaf of a metrics file."""
    return isinstance(node, dict) and {"mean", "ci_low", "ci_high", "n"} <= node.keys()


def leaves(node: dict, prefix: str = "") -> dict[str, dict]:
    """``{"a/b/metric": {mean, ...}}`` for every metric under ``node``."""
    out: dict[str, dict] = {}
    for key, value in node.items():
        path = f"{prefix}{key}"
        if is_metric(value):
            out[path] = value
        elif isinstance(value, dict):
            out.update(leaves(value, f"{path}/"))
    return out
