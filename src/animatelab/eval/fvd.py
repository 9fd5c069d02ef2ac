"""Fréchet video distance through torchmetrics' Fréchet machinery, for any feature network.

Features are extracted batch by batch (only (N, d) features are kept, never all frames at the
network's resolution), then fed to ``FrechetInceptionDistance(feature=<identity of width d>)``.
The same path serves I3D (``fvd_i3d``), VideoMAE (``fvd_videomae``) and the synthetic network
(``fvd_synth``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from animatelab.eval.bootstrap import bootstrap_indices, summary


class TooFewVideosError(ValueError):
    """N <= d: the feature covariance is rank-deficient, so the Fréchet distance is meaningless."""


class PrecomputedFeatures(nn.Module):
    """Identity feature module so torchmetrics accumulates features we extracted in batches."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def batches(videos: np.ndarray, batch_size: int) -> Iterable[np.ndarray]:
    for i in range(0, len(videos), batch_size):
        yield videos[i : i + batch_size]


@torch.no_grad()
def extract_features(net: nn.Module, videos: np.ndarray, batch_size: int = 16, desc: str = "features") -> np.ndarray:
    """uint8 (N, F, H, W, 3) videos -> float64 (N, d) features, one batch at a time."""
    out = []
    total = (len(videos) + batch_size - 1) // batch_size
    for batch in tqdm(batches(videos, batch_size), total=total, desc=desc, leave=False):
        out.append(net(torch.from_numpy(np.ascontiguousarray(batch))).double().numpy())
    return np.concatenate(out) if out else np.zeros((0, net.num_features))


def check_enough(n: int, d: int, what: str) -> None:
    if n <= d:
        raise TooFewVideosError(
            f"{what}: {n} videos for {d}-d features; the covariance needs N > d (got N <= d). "
            "Use more videos or a smaller feature network."
        )


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, np.float64)
    return x.mean(0), np.atleast_2d(np.cov(x, rowvar=False))


def frechet_from_moments(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """torchmetrics' FID formula, |mu1-mu2|^2 + Tr(S1) + Tr(S2) - 2 sum sqrt(eig(S1 S2)), in float64
    numpy: a bootstrap calls it 1000x, where torch's per-op overhead dominates at d = 16."""
    c = np.sqrt(np.linalg.eigvals(s1 @ s2).astype(complex)).real.sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * c)


class FrechetDistance:
    """Fréchet distance of generated features against a fixed real reference, reusable for resampling.

    Same value as torchmetrics' ``FrechetInceptionDistance(feature=<net>)`` (tested against it,
    :func:`torchmetrics_fvd`), without rebuilding a Metric object per bootstrap resample.
    """

    def __init__(self, real: np.ndarray):
        check_enough(len(real), real.shape[1], "real reference")
        self.mu, self.sigma = _moments(real)
        self.d = real.shape[1]

    def __call__(self, fake: np.ndarray) -> float:
        check_enough(len(fake), self.d, "generated set")
        mu, sigma = _moments(fake)
        return frechet_from_moments(self.mu, self.sigma, mu, sigma)


def torchmetrics_fvd(net: nn.Module, real: np.ndarray, fake: np.ndarray, batch_size: int = 16) -> float:
    """The same distance through ``FrechetInceptionDistance(feature=<video net>)`` end to end (a check)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=net)
    for flag, videos in ((True, real), (False, fake)):
        for b in batches(videos, batch_size):
            metric.update(torch.from_numpy(np.ascontiguousarray(b)), real=flag)
    return float(metric.compute())


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    return FrechetDistance(a)(b)


def fvd_with_floor(
    real_ref: np.ndarray,
    real_other: np.ndarray,
    fake: np.ndarray,
    num_resamples: int,
    seed: int,
    rng_floor: np.random.Generator | None = None,
) -> dict[str, dict]:
    """FVD of ``fake`` against ``real_ref`` and the real-vs-real floor at the same N.

    The floor compares ``len(fake)`` held-out real videos (``real_other``) with the same
    reference, since FVD depends on N. Both carry a bootstrap interval over videos.
    """
    fd = FrechetDistance(real_ref)
    n = len(fake)
    fvd = bootstrap_indices(n, lambda idx: fd(fake[idx]), num_resamples, seed)
    rng = rng_floor or np.random.default_rng(seed)
    take = rng.choice(len(real_other), size=min(n, len(real_other)), replace=False)
    other = real_other[take]
    floor = bootstrap_indices(len(other), lambda idx: fd(other[idx]), num_resamples, seed + 1)
    return {"fvd": fvd, "floor": floor, "num_real_ref": summary(len(real_ref), len(real_ref), len(real_ref), len(real_ref))}
