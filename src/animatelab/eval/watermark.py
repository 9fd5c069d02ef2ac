"""Watermark leakage: how strongly generated videos carry the video data's fixed watermark.

Pixel space (:func:`watermark_scores`): per video, the Pearson correlation between the high-passed
luma and the high-passed watermark template inside the watermark's box, averaged over frames and
maximised over horizontal template shifts of up to ``max_shift`` px. The bars are 2 px wide with
period 4, so an unshifted template reads a watermark drawn 1 px off as ~0.13 and one drawn 2 px off
as -0.7 of its full score: a person sees both. Leakage is the generated videos' mean score divided
by the real clips' (real = 1, clean ~ 0).

Latent space (:class:`LatentSignature`): generated latents against the watermark's mean latent
footprint, so the measure does not depend on whether the decoder can draw the watermark.
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


def _standardise(x: np.ndarray) -> np.ndarray:
    """Rows to zero mean, unit variance; flat rows (no texture in the box) to 0."""
    sd = x.std(-1, keepdims=True)
    return np.where(sd > 1e-6, (x - x.mean(-1, keepdims=True)) / np.maximum(sd, 1e-6), 0.0)


def shifted_templates(watermark: Watermark, max_shift: int = 1) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Standardised high-passed templates (S, P), one per horizontal shift, and the box they cover."""
    ys, xs = watermark.box()
    hp = _highpass(watermark.template)
    rows = [np.roll(hp, dx, axis=1)[ys, xs].ravel() for dx in range(-max_shift, max_shift + 1)]
    return _standardise(np.stack(rows)), (ys, xs)


def watermark_scores(videos: np.ndarray, watermark: Watermark, max_shift: int = 1) -> np.ndarray:
    """Per-video template correlation of (N, F, H, W, 3) uint8 videos (or (N, H, W, 3) images).

    Frame correlations are averaged per shift first, then the best shift is kept: a watermark
    stays put within a video, and one max per video (not per frame) keeps the bias on clean
    videos small. ``max_shift=0`` is the unshifted measure."""
    if videos.ndim == 4:
        videos = videos[:, None]
    templates, (ys, xs) = shifted_templates(watermark.resized(videos.shape[2]), max_shift)
    scores = np.empty(len(videos))
    for i, video in enumerate(videos):
        box = np.stack([_highpass(frame)[ys, xs].ravel() for frame in _luma(video)])
        scores[i] = float((_standardise(box) @ templates.T / templates.shape[1]).mean(0).max())
    return scores


# --------------------------------------------------------------------------- latent space
@dataclass
class LatentSignature:
    """The watermark's footprint in the VAE's (scaled) latent space, and a matched filter for it.

    ``signature`` = mean over frames of encode(frame + watermark) - encode(frame); ``clean_mean`` =
    mean of encode(frame). ``filter`` is the generalised-least-squares estimator of the signature's
    amount: Σ⁻¹s / (sᵀΣ⁻¹s), Σ the clean latents' covariance shrunk towards a multiple of I.
    Content (object, colour, background) moves latents along the signature too; weighing directions
    by how little clean content varies along them cuts that noise (with a linear stand-in encoder,
    the per-video spread falls from 0.5-0.8 to 0.15-0.26 of the full footprint). ``shrinkage`` 1
    is the plain projection sᵀ(z - m) / sᵀs.
    """

    signature: np.ndarray  # (C, h, w) float32
    clean_mean: np.ndarray  # (C, h, w) float32
    filter: np.ndarray  # (C, h, w) float32, <filter, signature> = 1

    @classmethod
    def from_latents(cls, with_wm: np.ndarray, without: np.ndarray, shrinkage: float = 0.1) -> "LatentSignature":
        """From paired latents (..., C, h, w) of the same frames with and without the watermark."""
        shape = with_wm.shape[-3:]
        a, b = (np.asarray(x, np.float64).reshape(-1, int(np.prod(shape))) for x in (with_wm, without))
        s, mean = (a - b).mean(0), b.mean(0)
        cov = np.cov(b, rowvar=False) if len(b) > 1 else np.zeros((b.shape[1],) * 2)
        ridge = np.trace(cov) / len(cov) if np.trace(cov) > 0 else 1.0
        cov = (1 - shrinkage) * cov + shrinkage * ridge * np.eye(len(cov))
        f = np.linalg.solve(cov, s)
        f /= f @ s
        return cls(*(x.reshape(shape).astype(np.float32) for x in (s, mean, f)))

    def save(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, signature=self.signature, clean_mean=self.clean_mean, filter=self.filter)

    @classmethod
    def load(cls, path: str | Path) -> "LatentSignature":
        with np.load(path) as z:
            return cls(*(z[k].astype(np.float32) for k in ("signature", "clean_mean", "filter")))


def latent_scores(latents: np.ndarray, sig: LatentSignature) -> np.ndarray:
    """Per-video amount of the signature in (N, F, C, h, w) latents (or (N, C, h, w)), mean over
    frames: 1 = the real watermark's mean footprint, 0 = none, linear in between (half the
    footprint reads 0.5). Divide by the real clips' mean score to read it like pixel leakage."""
    z = np.asarray(latents, np.float32)
    if z.ndim == 4:
        z = z[:, None]
    if z.shape[-3:] != sig.signature.shape:
        raise ValueError(f"latents {z.shape[-3:]} do not match the signature's {sig.signature.shape}")
    d = (z - sig.clean_mean).reshape(*z.shape[:2], -1).astype(np.float64)
    return (d @ sig.filter.ravel().astype(np.float64)).mean(1)
