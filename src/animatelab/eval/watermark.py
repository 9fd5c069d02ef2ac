"""Watermark leakage: how strongly generated frames carry the video data's fixed watermark.

Per video: the mean over frames of the Pearson correlation between the high-passed luma of the
frame and the high-passed watermark template inside the watermark's box. Leakage is the
generated videos' mean score divided by the real clips' (real = 1, clean images ~ 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass
class Watermark:
    template: np.ndarray  # (H, W) float32 in [0, 1]
    alpha: float
    colour: np.ndarray  # (3,) RGB

    @classmethod
    def load(cls, path: str | Path) -> "Watermark":
        with np.load(path) as z:
            return cls(z["template"].astype(np.float32), float(z["alpha"]), np.asarray(z["colour"], np.float32).reshape(3))

    def resized(self, size: int) -> "Watermark":
        if self.template.shape == (size, size):
            return self
        t = cv2.resize(self.template, (size, size), interpolation=cv2.INTER_AREA)
        return Watermark(t, self.alpha, self.colour)

    def box(self, pad: int = 1) -> tuple[slice, slice]:
        ys, xs = np.nonzero(self.template > 0.02)
        h, w = self.template.shape
        return slice(max(0, ys.min() - pad), min(h, ys.max() + 1 + pad)), slice(max(0, xs.min() - pad), min(w, xs.max() + 1 + pad))


def _highpass(x: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    return x - cv2.GaussianBlur(x, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _luma(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def watermark_scores(videos: np.ndarray, watermark: Watermark) -> np.ndarray:
    """Per-video template correlation of (N, F, H, W, 3) uint8 videos (or (N, H, W, 3) images)."""
    if videos.ndim == 4:
        videos = videos[:, None]
    wm = watermark.resized(videos.shape[2])
    ys, xs = wm.box()
    tpl = _highpass(wm.template)[ys, xs].ravel()
    tpl = (tpl - tpl.mean()) / (tpl.std() + 1e-8)
    scores = np.empty(len(videos))
    for i, video in enumerate(videos):
        per_frame = []
        for frame in _luma(video):
            r = _highpass(frame)[ys, xs].ravel()
            sd = r.std()
            per_frame.append(0.0 if sd < 1e-6 else float(((r - r.mean()) / sd) @ tpl / tpl.size))
        scores[i] = np.mean(per_frame)
    return scores
