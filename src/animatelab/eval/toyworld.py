"""Moving-shape clips with known ground truth, for testing metrics and benchmarking them.

Independent of the synthetic-data *stage* on purpose (metric tests must not depend on its outputs),
but drawn with the world's one geometry: the vocabulary of ``animatelab.world`` and the drawing,
watermark template and compositing of ``animatelab.data.render`` (docs/world.md). Only the random
choices (and an optional sensor noise) are toyworld's own.

Coordinates are the world's: a position is the object's area centroid in pixel-index units (pixel
``i`` is centred on ``i``), a size the object's diameter or side in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from animatelab.data.render import render, watermark_template  # noqa: F401  (the world's one template)
from animatelab.data.render import composite_watermark
from animatelab.world import BACKGROUNDS, COLOURS, EXTENTS, MOTIONS, SHAPES, caption_for  # noqa: F401


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


_VELOCITY = {"left": (-1, 0, 0), "right": (1, 0, 0), "up": (0, -1, 0), "down": (0, 1, 0),
             "grow": (0, 0, 0.5), "shrink": (0, 0, -0.5), "static": (0, 0, 0)}


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
    """One clip drawn by ``render.render``; ``watermark`` (a template, e.g. ``watermark_template(res)[0]``)
    is composited at ``alpha`` with the world's rule; ``noise`` is Gaussian sensor noise (std, 0-255)."""
    shape = str(shape or rng.choice(SHAPES))
    colour = str(colour or rng.choice(list(COLOURS)))
    background = str(background or rng.choice(BACKGROUNDS))
    motion = str(motion or rng.choice(MOTIONS))
    speed = float(rng.uniform(0.5, 1.2))
    size = float(rng.uniform(0.22, 0.34) * res)  # diameter / side, px
    vx, vy, vs = _VELOCITY[motion]
    span = speed * (frames - 1)
    if motion == "shrink":
        size = max(size, 0.5 * span + 6.0)
    big = size + (0.5 * span if motion == "grow" else 0.0)
    el, er, eu, ed = (e * big for e in EXTENTS[shape])
    lo_x, hi_x = el + 0.5 + (span if vx < 0 else 0), res - 1.5 - er - (span if vx > 0 else 0)
    lo_y, hi_y = eu + 0.5 + (span if vy < 0 else 0), res - 1.5 - ed - (span if vy > 0 else 0)
    cx0 = rng.uniform(lo_x, max(lo_x, hi_x))
    cy0 = rng.uniform(lo_y, max(lo_y, hi_y))
    t = np.arange(frames, dtype=np.float64)
    centres = np.stack([cx0 + vx * speed * t, cy0 + vy * speed * t], axis=1)
    sizes = size + vs * speed * t
    video = render(shape, colour, background, centres, sizes, res)
    if watermark is not None:
        video = composite_watermark(video, watermark, alpha)
    video = video + rng.normal(0, noise, video.shape)
    video = np.clip(np.rint(video), 0, 255).astype(np.uint8)
    return ToyClip(video, shape, colour, background, motion, speed, centres.tolist(), sizes.tolist())


def make_set(n: int, seed: int = 0, watermark: np.ndarray | None = None, **kwargs) -> list[ToyClip]:
    """``n`` clips cycling through every motion, so each direction is represented."""
    rng = np.random.default_rng(seed)
    return [make_clip(rng, motion=MOTIONS[i % len(MOTIONS)], watermark=watermark, **kwargs) for i in range(n)]
