"""Weight-free temporal consistency: VBench temporal flickering and optical-flow warping error."""

from __future__ import annotations

import cv2
import numpy as np


def flicker(video: np.ndarray) -> float:
    """VBench temporal flickering: (255 - mean |frame_t - frame_{t-1}|) / 255; a static video gives 1."""
    v = video.astype(np.float32)
    return float((255.0 - np.abs(np.diff(v, axis=0)).mean()) / 255.0)


def _flow(prev_gray: np.ndarray, next_gray: np.ndarray) -> np.ndarray:
    """Farneback flow from ``next`` to ``prev``: next(y, x) ~ prev(y + fy, x + fx). Tuned for small frames."""
    return cv2.calcOpticalFlowFarneback(
        next_gray, prev_gray, None, pyr_scale=0.5, levels=2, winsize=7, iterations=5,
        poly_n=5, poly_sigma=1.1, flags=0,
    )


def warping_error(video: np.ndarray) -> float:
    """Mean squared error (RGB in [0, 1]) between frame t and frame t-1 warped by optical flow.

    OpenCV Farneback flow (no weights), so not comparable to FlowNet2-based published numbers.
    Pixels whose flow points outside the frame are masked out.
    """
    f, h, w, _ = video.shape
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    gray = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in video]
    errors = []
    for t in range(1, f):
        flow = _flow(gray[t - 1], gray[t])
        map_x, map_y = gx + flow[..., 0], gy + flow[..., 1]
        warped = cv2.remap(video[t - 1], map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        valid = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
        if not valid.any():
            continue
        diff = (video[t].astype(np.float32) - warped.astype(np.float32)) / 255.0
        errors.append(float((diff[valid] ** 2).mean()))
    return float(np.mean(errors)) if errors else float("nan")


def frame_difference_error(video: np.ndarray) -> float:
    """The same error without warping: the baseline a flow must beat."""
    diff = np.diff(video.astype(np.float32) / 255.0, axis=0)
    return float((diff**2).mean())
