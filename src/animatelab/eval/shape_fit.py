"""Read an object's shape by fitting the world's own shapes to its soft coverage map.

Why not the bounding-box fill ratio: any latent model draws through its VAE, and the default's
VAE renders a 7-11 px object as if blurred by about 1 px. That rounds a triangle's and a square's
corners, so a thresholded fill ratio reads most of them as circles (58 % shape accuracy on the
VAE's reconstructions of *training images*, 62 % on a Gaussian blur of σ = 1 px, 97 % on the
images themselves). Blur keeps an object's mass and centroid, so each candidate shape is drawn
with the renderer at the size that gives the measured mass, blurred by each of a few σ, and the
closest one (least squares on the coverage map) is the reading.
"""

from __future__ import annotations

import cv2
import numpy as np

from animatelab.data.render import render
from animatelab.world import COLOURS, PLAIN_BACKGROUNDS, SHAPES

BLURS = (0.0, 0.6, 1.0, 1.4)  # px: sharp renders, codec/blur of real clips, VAE renders
_WHITE, _BLACK = float(COLOURS["white"][0]), float(PLAIN_BACKGROUNDS["black"][0])  # drawn -> coverage
_AREA_PER_SIZE2 = {"circle": np.pi / 4, "square": 1.0, "triangle": 0.5}  # area / size**2 (render's size)


def coverage_map(dist: np.ndarray, fg: np.ndarray) -> np.ndarray:
    """Soft coverage in [0, 1] from a distance-to-background map and its (non-empty) object mask:
    the distance relative to the object's full contrast (its 90th percentile inside the mask)."""
    full = float(np.percentile(dist[fg], 90))
    return np.clip(dist / max(full, 1e-6), 0.0, 1.0).astype(np.float32)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    return x if sigma == 0 else cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)


def shape_errors(cover: np.ndarray, fg: np.ndarray) -> dict[str, float]:
    """Mean squared misfit of each world shape (best blur) to ``cover`` (H, W) near the object
    ``fg`` (its pixels grown by 2 px), each drawn at the measured mass and mass centroid."""
    h, w = cover.shape
    near = cv2.dilate(fg.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    wts = np.where(near, cover, 0.0)
    mass = float(wts.sum())
    ys, xs = np.mgrid[0:h, 0:w]
    centre = np.array([[(wts * xs).sum() / mass, (wts * ys).sum() / mass]], np.float32)
    errors = {}
    for shape in SHAPES:
        size = np.array([np.sqrt(mass / _AREA_PER_SIZE2[shape])], np.float32)
        drawn = (render(shape, "white", "black", centre, size, h)[0, :, :, 0] - _BLACK) / (_WHITE - _BLACK)
        errors[shape] = min(float(np.mean((_blur(drawn, s) - cover)[near] ** 2)) for s in BLURS)
    return errors


def fit_shape(cover: np.ndarray, fg: np.ndarray) -> str:
    errors = shape_errors(cover, fg)
    return min(errors, key=errors.get)
