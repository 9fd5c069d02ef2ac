"""Edge agreement of generated frames with the ControlNet's condition edges (RQ7).

Per frame: the generated frame's cv2.Canny edges (the condition's thresholds, ``controlnet.model.
edge_maps``) G against the condition edges C, each pixel matched within ``tolerance`` px (a
(2 tol + 1)^2 square, i.e. Chebyshev distance): precision = |G within tol of C| / |G|, recall =
|C within tol of G| / |C|, F1 their harmonic mean. A frame where one side has no edges scores 0
(and NaN precision or recall on the empty side); a frame with no edges on either side is left out.
Per video: the mean over its frames; summarised over videos with ``evaluate``'s seeded bootstrap,
and paired (controlled minus uncontrolled, same prompts and initial noise) the same way.
"""

from __future__ import annotations

import warnings

import numpy as np

from animatelab.eval.bootstrap import bootstrap_ci

EDGE_METRICS = ("edge_f1", "edge_precision", "edge_recall")


def _dilate(edges: np.ndarray, tolerance: int) -> np.ndarray:
    import cv2

    if tolerance == 0:
        return edges
    kernel = np.ones((2 * tolerance + 1, 2 * tolerance + 1), np.uint8)
    return cv2.dilate(edges.astype(np.uint8), kernel) > 0


def frame_agreement(generated: np.ndarray, condition: np.ndarray, tolerance: int) -> tuple[float, float, float]:
    """``(precision, recall, f1)`` of boolean edge maps (H, W)."""
    g, c = generated > 0, condition > 0
    ng, nc = int(g.sum()), int(c.sum())
    if ng == 0 and nc == 0:
        return np.nan, np.nan, np.nan
    precision = float((g & _dilate(c, tolerance)).sum() / ng) if ng else np.nan
    recall = float((c & _dilate(g, tolerance)).sum() / nc) if nc else np.nan
    if ng == 0 or nc == 0 or precision + recall == 0:
        return precision, recall, 0.0
    return precision, recall, 2 * precision * recall / (precision + recall)


def edge_agreement(generated: np.ndarray, condition: np.ndarray, tolerance: int) -> dict[str, np.ndarray]:
    """Per-video means over frames of edge maps (N, F, H, W): ``{edge_f1, edge_precision, edge_recall}``."""
    if generated.shape != condition.shape:
        raise ValueError(f"generated edges {generated.shape} vs condition edges {condition.shape}")
    scores = np.array([[frame_agreement(g, c, tolerance) for g, c in zip(gv, cv)]
                       for gv, cv in zip(generated, condition)]).reshape(*generated.shape[:2], 3)
    with warnings.catch_warnings():  # a video without edges on either side: NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(scores, axis=1)
    return {"edge_precision": means[:, 0], "edge_recall": means[:, 1], "edge_f1": means[:, 2]}


def video_edge_agreement(videos: np.ndarray, condition: np.ndarray, thresholds: tuple[int, int],
                         tolerance: int) -> dict[str, np.ndarray]:
    """Per-video edge agreement of uint8 videos (N, F, H, W, 3) with condition edges (N, F, H, W)."""
    from animatelab.controlnet.model import edge_maps

    return edge_agreement(edge_maps(videos, thresholds), condition, tolerance)


def summarise(values: dict[str, np.ndarray], bootstrap: int, seed: int) -> dict[str, dict]:
    return {k: bootstrap_ci(v, bootstrap, seed) for k, v in values.items()}


def paired(ours: dict[str, np.ndarray], base: dict[str, np.ndarray], bootstrap: int, seed: int) -> dict[str, dict]:
    """Per-metric mean of ours - base over videos where both are finite, with its interval."""
    return {k: bootstrap_ci(np.asarray(ours[k], float) - np.asarray(base[k], float), bootstrap, seed) for k in ours}
