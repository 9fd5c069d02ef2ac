"""Drawing the synthetic world: anti-aliased shapes on plain or textured backgrounds, and WebVid's
pixel-level defects (blur, then the fixed watermark) applied before h264 encoding."""

from __future__ import annotations

import numpy as np

from animatelab.world import CHECKER, CHECKER_CELL, COLOURS, PLAIN_BACKGROUNDS

SUPERSAMPLE = 4


def _grid(resolution: int) -> np.ndarray:
    """Sub-pixel sample coordinates (pixel-index units) for anti-aliasing by supersampling."""
    return ((np.arange(resolution * SUPERSAMPLE) + 0.5) / SUPERSAMPLE - 0.5).astype(np.float32)


def _shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, size: np.ndarray) -> np.ndarray:
    half = size / 2
    if shape == "circle":
        return (dx * dx + dy * dy) <= half * half
    if shape == "square":
        return (np.abs(dx) <= half) & (np.abs(dy) <= half)
    if shape == "triangle":  # apex up, centroid at the origin: apex at -2s/3, base at +s/3
        top, bottom = -2 * size / 3, size / 3
        frac = (dy - top) / size  # 0 at the apex, 1 at the base
        return (dy >= top) & (dy <= bottom) & (np.abs(dx) <= half * frac)
    raise ValueError(f"unknown shape {shape!r}")


def _downsample(x: np.ndarray, resolution: int) -> np.ndarray:
    """Mean over each pixel's SUPERSAMPLE² sub-samples: the area coverage of (n, R·s, R·s) masks."""
    blocks = x.reshape(x.shape[0], resolution, SUPERSAMPLE, resolution, SUPERSAMPLE)
    return blocks.mean(axis=(2, 4), dtype=np.float32)


def _background(name: str, u: np.ndarray, v: np.ndarray, n: int, resolution: int) -> np.ndarray:
    """(n, R, R, 3) background; the checker is anti-aliased like the object (it zooms too)."""
    if name in PLAIN_BACKGROUNDS:
        colour = np.asarray(PLAIN_BACKGROUNDS[name], np.float32)
        return np.broadcast_to(colour, (n, resolution, resolution, 3))
    if name == "checker":
        parity = (np.floor((u + 0.5) / CHECKER_CELL) + np.floor((v + 0.5) / CHECKER_CELL)) % 2 > 0
        hi = _downsample(parity, resolution)[..., None]  # (1 or n, R, R, 1): once unless zooming
        lo_c, hi_c = (np.asarray(c, np.float32) for c in CHECKER)
        return np.broadcast_to(lo_c + (hi_c - lo_c) * hi, (n, resolution, resolution, 3))
    raise ValueError(f"unknown background {name!r}")


def render(
    shape: str,
    colour: str,
    background: str,
    centres: np.ndarray,
    sizes: np.ndarray,
    resolution: int,
    zooms: np.ndarray | None = None,
    wrap: bool = False,
) -> np.ndarray:
    """Frames (F, R, R, 3) float32 in [0, 255] of one object in scene coordinates; ``zooms``
    magnifies the whole scene about the frame centre (the camera zoom of the LoRA set); ``wrap``
    draws the object on a torus of period R (its copies one frame side away in x, y or both), so an
    object across an edge shows on both sides. Edges are anti-aliased by the object's area coverage
    of each pixel (supersampled)."""
    n = len(centres)
    g = _grid(resolution)
    u, v = g[None, None, :], g[None, :, None]
    if zooms is not None:
        c = (resolution - 1) / 2
        z = zooms.astype(np.float32)[:, None, None]
        u, v = (u - c) / z + c, (v - c) / z + c
    cx = centres[:, 0, None, None].astype(np.float32)
    cy = centres[:, 1, None, None].astype(np.float32)
    size = sizes.astype(np.float32)[:, None, None]
    mask = _shape_mask(shape, u - cx, v - cy, size)
    if wrap:
        shifts = [(ox, oy) for ox in (-resolution, 0, resolution) for oy in (-resolution, 0, resolution)
                  if ox or oy]
        for ox, oy in shifts:
            mask = mask | _shape_mask(shape, u - cx - ox, v - cy - oy, size)
    cover = _downsample(mask, resolution)[..., None]
    bg = _background(background, u, v, n, resolution)
    return bg + (np.asarray(COLOURS[colour], np.float32) - bg) * cover


# --------------------------------------------------------------------------- defects
def watermark_template(resolution: int) -> tuple[np.ndarray, list[int]]:
    """A fixed bar pattern in a band across the lower part of the frame (2-px bars, period 4),
    strong in luma so it survives the VAE and h264; returns (template H×W in [0,1], box x0,y0,x1,y1)."""
    r = resolution
    x0, x1 = round(0.12 * r), round(0.88 * r)
    y0, y1 = round(0.72 * r), round(0.86 * r)
    template = np.zeros((r, r), np.float32)
    cols = np.arange(x0, x1)
    bars = cols[((cols - x0) // 2) % 2 == 0]
    template[y0:y1, bars] = 1.0
    return template, [x0, y0, x1, y1]


WATERMARK_COLOUR = (255, 255, 255)


def composite_watermark(frames: np.ndarray, template: np.ndarray, alpha: float) -> np.ndarray:
    """The world's one compositing rule, ``frame·(1 − α·T) + colour·α·T``, on float (…, H, W, 3) frames."""
    a = (alpha * template)[..., None].astype(np.float32)
    return frames * (1 - a) + np.asarray(WATERMARK_COLOUR, np.float32) * a


def degrade(frames: np.ndarray, template: np.ndarray, alpha: float, blur_sigma: float) -> np.ndarray:
    """WebVid's pixel-level defects before encoding: camera blur, then the overlaid watermark."""
    import cv2

    out = frames.astype(np.float32)
    if blur_sigma > 0:
        out = np.stack([cv2.GaussianBlur(f, (0, 0), blur_sigma) for f in out])
    out = composite_watermark(out, template, alpha)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
