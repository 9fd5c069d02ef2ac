"""Does the base draw what the caption says? A pixel-statistics reader for the synthetic world.

Background from the border ring (plain black / plain gray / two-tone checker), the object as
the pixels far from the background colours, its colour as the nearest palette entry to their
median, its shape as the world shape that best fits its soft coverage map (``eval.shape_fit``;
the bounding-box fill ratio read earlier misread the VAE's slightly blurred corners: 58 % on
the VAE's own reconstructions of training images). Checked against the clean training images
and against their VAE reconstructions (the ceiling any sample drawn through this VAE can reach),
so the base's score is read with a known reader error.
"""

from __future__ import annotations

import cv2
import numpy as np

from animatelab.eval.shape_fit import coverage_map, fit_shape
from animatelab.eval.tracking_gt import segment_distance
from animatelab.world import CHECKER, COLOURS, PLAIN_BACKGROUNDS


def read_image(img: np.ndarray) -> dict[str, str | None]:
    """uint8 (H, W, 3) -> ``{"colour", "shape", "background"}`` (None where nothing is found)."""
    x = img.astype(np.float32)
    ring = np.concatenate([x[0], x[-1], x[1:-1, 0], x[1:-1, -1]])
    luma = ring.mean(axis=1)
    if luma.std() > 20:  # any mix of the two tones is background (a blurred checker edge is one)
        background, (dark, light) = "checker", (np.array(c, np.float32) for c in CHECKER)
    else:
        background = min(PLAIN_BACKGROUNDS, key=lambda k: abs(PLAIN_BACKGROUNDS[k][0] - luma.mean()))
        dark = light = np.array(PLAIN_BACKGROUNDS[background], np.float32)
    dist = segment_distance(x, dark, light)
    mask = dist > 70
    if mask.sum() < 4:
        return {"colour": None, "shape": None, "background": background}
    med = np.median(x[mask], axis=0)
    colour = min(COLOURS, key=lambda k: np.linalg.norm(med - np.array(COLOURS[k], np.float32)))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    obj = labels == 1 + int(stats[1:, cv2.CC_STAT_AREA].argmax())
    shape = fit_shape(coverage_map(dist, obj), obj)
    return {"colour": colour, "shape": shape, "background": background}


def wilson_interval(hits: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion ``hits / n``: unlike p ± z·se it stays inside
    [0, 1] and keeps its coverage near 0 and 1, where a good base's accuracies sit."""
    if n <= 0:
        return 0.0, 1.0
    p, z2 = hits / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def accuracy(images: np.ndarray, truth: list[dict[str, str]]) -> dict[str, float]:
    """Fractions of images whose colour / shape / background / all three match ``truth``, each with
    its 95 % Wilson interval as ``{key}_lo`` / ``{key}_hi`` (at worst ±16.8 points on 30 samples,
    ±6.3 on 240)."""
    reads = [read_image(im) for im in images]
    keys = ("colour", "shape", "background")
    hits = {k: [r[k] == t[k] for r, t in zip(reads, truth)] for k in keys}
    hits["all"] = [all(r[k] == t[k] for k in keys) for r, t in zip(reads, truth)]
    out = {k: float(np.mean(v)) for k, v in hits.items()}
    for k, v in hits.items():
        out[f"{k}_lo"], out[f"{k}_hi"] = wilson_interval(int(sum(v)), len(v))
    return out
