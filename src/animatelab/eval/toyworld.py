"""Moving-shape clips with known ground truth, for testing metrics and benchmarking them.

Independent of the synthetic-data stage on purpose: metric tests must not depend on it. The same
vocabulary (``animatelab.world``: shapes, colours, backgrounds, motions, captions) and the same watermark compositing rule
(``(1 - alpha*T) * frame + alpha*T*colour``) as docs/world.md describes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from animatelab.world import CHECKER, COLOURS, MOTIONS, PLAIN_BACKGROUNDS, SHAPES, caption_for  # noqa: F401

BACKGROUNDS = {**{k: (v,) for k, v in PLAIN_BACKGROUNDS.items()}, "checker": CHECKER}


@dataclass
class ToyClip:
    video: np.ndarray  # (F, H, W, 3) uint8
    shape: str
    colour: str
    background: str
    motion: str
    speed: float
    positions: list[list[float]]
    sizes: list[float]

    @property
    def prompt(self) -> str:
        return caption_for(self.shape, self.colour, self.background, self.motion)

    def meta(self) -> dict:
        return {"prompt": self.prompt, "shape": self.shape, "colour": self.colour, "background": self.background, "motion": self.motion}


def background_image(name: str, res: int) -> np.ndarray:
    cols = BACKGROUNDS[name]
    img = np.empty((res, res, 3), np.float32)
    img[:] = cols[0]
    if len(cols) > 1:
        yy, xx = np.mgrid[0:res, 0:res]
        img[((yy // 8 + xx // 8) % 2) == 1] = cols[1]
    return img


def shape_mask(shape: str, cx: float, cy: float, half: float, res: int) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of a shape of half-size ``half`` centred at (cx, cy)."""
    ss = 4
    g = (np.arange(res * ss) + 0.5) / ss
    yy, xx = np.meshgrid(g, g, indexing="ij")
    dx, dy = xx - cx, yy - cy
    if shape == "circle":
        m = dx**2 + dy**2 <= half**2
    elif shape == "square":
        m = (np.abs(dx) <= half) & (np.abs(dy) <= half)
    else:  # upward triangle inscribed in the square
        m = (dy <= half) & (dy >= -half) & (np.abs(dx) <= (dy + half) / 2)
    return m.reshape(res, ss, res, ss).mean(axis=(1, 3))


def watermark_template(res: int) -> np.ndarray:
    """A fixed bar pattern in the lower right corner, values in [0, 1]."""
    t = np.zeros((res, res), np.float32)
    y0, x0 = int(res * 0.75), int(res * 0.55)
    for i, x in enumerate(range(x0, res - 1, 2)):
        t[y0 : res - 2, x] = 1.0 if i % 2 == 0 else 0.6
    return t


def make_clip(
    rng: np.random.Generator,
    frames: int = 16,
    res: int = 32,
    shape: str | None = None,
    colour: str | None = None,
    background: str | None = None,
    motion: str | None = None,
    watermark: np.ndarray | None = None,
    alpha: float = 0.35,
    noise: float = 2.0,
) -> ToyClip:
    shape = shape or rng.choice(SHAPES)
    colour = colour or rng.choice(list(COLOURS))
    background = background or rng.choice(list(BACKGROUNDS))
    motion = motion or rng.choice(MOTIONS)
    speed = float(rng.uniform(0.5, 1.2))
    half = float(rng.uniform(0.11, 0.17) * res)
    vx, vy, vs = {"left": (-1, 0, 0), "right": (1, 0, 0), "up": (0, -1, 0), "down": (0, 1, 0),
                  "grow": (0, 0, 0.25), "shrink": (0, 0, -0.25), "static": (0, 0, 0)}[motion]
    span = speed * (frames - 1)
    if motion == "shrink":
        half = max(half, 0.25 * span + 3.0)
    margin = half + 1 + (0.25 * span if motion == "grow" else 0)
    lo_x, hi_x = margin + (span if vx < 0 else 0), res - margin - (span if vx > 0 else 0)
    lo_y, hi_y = margin + (span if vy < 0 else 0), res - margin - (span if vy > 0 else 0)
    cx0 = rng.uniform(lo_x, max(lo_x, hi_x))
    cy0 = rng.uniform(lo_y, max(lo_y, hi_y))
    bg = background_image(background, res)
    col = np.array(COLOURS[colour], np.float32)
    video, positions, sizes = [], [], []
    for t in range(frames):
        cx, cy, h = cx0 + vx * speed * t, cy0 + vy * speed * t, half + vs * speed * t
        m = shape_mask(shape, cx, cy, h, res)[..., None]
        frame = bg * (1 - m) + col * m
        if watermark is not None:
            w = alpha * watermark[..., None]
            frame = frame * (1 - w) + 255.0 * w
        frame = frame + rng.normal(0, noise, frame.shape)
        video.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
        positions.append([cx, cy])
        sizes.append(2 * h)
    return ToyClip(np.stack(video), str(shape), str(colour), str(background), str(motion), speed, positions, sizes)


def make_set(n: int, seed: int = 0, watermark: np.ndarray | None = None, **kwargs) -> list[ToyClip]:
    """``n`` clips cycling through every motion, so each direction is represented."""
    rng = np.random.default_rng(seed)
    return [make_clip(rng, motion=MOTIONS[i % len(MOTIONS)], watermark=watermark, **kwargs) for i in range(n)]
