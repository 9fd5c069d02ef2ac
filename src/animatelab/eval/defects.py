"""Blur and codec leakage: how much of the video data's blur and h264 artefacts generated videos carry.

Both scores are reference-free (a generated video has no clean twin) and read luma only:

* :func:`blur_scores` — sharpness: the fraction of a video's luma gradient energy that a further
  0.5-px Gaussian blur removes (pooled over frames). Sharp edges lose much of it, blurred edges little;
  a watermark (drawn after the blur, sharp) and the watermark's rows are left out (``exclude``).
* :func:`codec_scores` — compression noise in flat regions: the mean |pixel − its 3×3 mean| over
  pixels whose 5×5 neighbourhood spans under 8 luma levels. A render, blurred or not, is exactly flat
  there (0); h264's quantisation leaves ringing and block noise.

:func:`leakage` reads either like watermark leakage: 0 = the clean images' mean score, 1 = the real
clips'. In the default world (blur 0.5 px, watermark, crf 28; 24 held-out specs, 12 frames) a
blur-only clip set reads 1.0 on blur and 0.01 on codec; a codec-only set 0.7 on codec (the
watermark's edges give h264 more to ring around) and 0.3 on blur (h264 softens edges too); a
watermark-only set 0 on blur and 0.01 on codec (tests/test_defect_metrics.py).
"""

from __future__ import annotations

import cv2
import numpy as np

BLUR_PROBE_SIGMA = 0.5  # px: the extra blur whose energy loss measures sharpness
FLAT_RANGE = 8.0  # luma levels: a 5×5 neighbourhood spanning less is a flat region
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _videos(videos: np.ndarray) -> np.ndarray:
    v = np.asarray(videos)
    return v[:, None] if v.ndim == 4 else v  # images (N, H, W, 3) -> one-frame videos


def exclusion_mask(template: np.ndarray | None, size: int, pad: int = 3) -> np.ndarray:
    """(size, size) bool, True on the rows of the watermark's box (± ``pad``), which blur scoring skips."""
    mask = np.zeros((size, size), bool)
    if template is not None:
        t = template if template.shape == (size, size) else cv2.resize(template, (size, size), interpolation=cv2.INTER_AREA)
        rows = np.nonzero((t > 0.02).any(1))[0]
        if len(rows):
            mask[max(0, rows.min() - pad): rows.max() + 1 + pad] = True
    return mask


def _gradient_energy(frame: np.ndarray, keep: np.ndarray) -> float:
    gx, gy = np.diff(frame, axis=1)[:-1, :], np.diff(frame, axis=0)[:, :-1]
    return float(((gx * gx + gy * gy) * keep).sum())


def blur_scores(videos: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """Per-video sharpness in [0, 1] of (N, F, H, W, 3) uint8 videos (or (N, H, W, 3) images): the
    fraction of luma gradient energy a ``BLUR_PROBE_SIGMA`` blur removes; lower = blurrier.
    ``exclude``: (H, W) bool, pixels left out (e.g. :func:`exclusion_mask`). A flat video scores 0."""
    v = _videos(videos)
    h, w = v.shape[2:4]
    keep = np.ones((h - 1, w - 1), np.float32)
    if exclude is not None:
        keep = (~exclude[:-1, :-1] & ~exclude[1:, :-1] & ~exclude[:-1, 1:]).astype(np.float32)
    scores = np.zeros(len(v))
    for i, video in enumerate(v):
        before = after = 0.0
        for frame in video.astype(np.float32) @ _LUMA:
            before += _gradient_energy(frame, keep)
            after += _gradient_energy(cv2.GaussianBlur(frame, (0, 0), BLUR_PROBE_SIGMA, borderType=cv2.BORDER_REFLECT), keep)
        scores[i] = 1.0 - after / before if before > 0 else 0.0
    return scores


def codec_scores(videos: np.ndarray) -> np.ndarray:
    """Per-video compression noise (luma levels) of (N, F, H, W, 3) uint8 videos (or images): the mean
    |pixel − 3×3 mean| over flat pixels (5×5 range < ``FLAT_RANGE``); 0 when nothing is flat."""
    v = _videos(videos)
    kernel = np.ones((5, 5), np.uint8)
    scores = np.zeros(len(v))
    for i, video in enumerate(v):
        total = count = 0.0
        for frame in video.astype(np.float32) @ _LUMA:
            flat = (cv2.dilate(frame, kernel) - cv2.erode(frame, kernel)) < FLAT_RANGE
            dev = np.abs(frame - cv2.blur(frame, (3, 3), borderType=cv2.BORDER_REFLECT))
            total += float(dev[flat].sum())
            count += float(flat.sum())
        scores[i] = total / count if count else 0.0
    return scores


def leakage(scores: np.ndarray, clean: float, real: float) -> np.ndarray:
    """Per-video scores as a fraction of the way from the clean images' mean (0) to the real clips' (1)."""
    span = real - clean
    if abs(span) < 1e-12:
        raise ValueError(f"real clips ({real}) and clean images ({clean}) score the same: leakage undefined")
    return (np.asarray(scores, np.float64) - clean) / span
