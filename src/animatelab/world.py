"""The synthetic world's vocabulary: shapes, colours, backgrounds, motions and caption wording.

One source for everything that names or colours the world: the data stage renders with it, the
evaluation and the stand-in networks read it, and ``eval.toyworld`` (metric tests) draws with it.
"""

from __future__ import annotations

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (50, 90, 235),
    "yellow": (235, 215, 40),
    "white": (245, 245, 245),
}
PLAIN_BACKGROUNDS: dict[str, tuple[int, int, int]] = {"black": (15, 15, 15), "gray": (115, 115, 115)}
CHECKER: tuple[tuple[int, int, int], tuple[int, int, int]] = ((55, 55, 55), (140, 140, 140))  # "checker": textured
CHECKER_CELL = 4.0  # px
BACKGROUNDS: tuple[str, ...] = (*PLAIN_BACKGROUNDS, "checker")
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
# Half-extents (left, right, up, down) in units of the size, measured from the area centroid.
EXTENTS: dict[str, tuple[float, float, float, float]] = {
    "circle": (0.5, 0.5, 0.5, 0.5),
    "square": (0.5, 0.5, 0.5, 0.5),
    "triangle": (0.5, 0.5, 2 / 3, 1 / 3),
}
DIRECTIONS: dict[str, tuple[int, int]] = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
PHRASES: dict[str, str] = {
    "left": "moving left",
    "right": "moving right",
    "up": "moving up",
    "down": "moving down",
    "grow": "growing",
    "shrink": "shrinking",
    "static": "standing still",
}
MOTIONS: tuple[str, ...] = tuple(PHRASES)


def caption_for(shape: str, colour: str, background: str, motion: str | None = None) -> str:
    """The world's one caption wording: images have no motion phrase; ``zoom_in`` is a camera motion."""
    scene = f"a {colour} {shape}"
    where = f"on a {background} background"
    if motion is None:
        return f"{scene} {where}"
    if motion == "zoom_in":
        return f"{scene} {where}, camera zooming in"
    return f"{scene} {PHRASES[motion]} {where}"


CAPTION_MOTIONS: tuple[str, ...] = (*MOTIONS, "zoom_in")  # every motion a video caption can name


def caption_variants(shape: str, colour: str, background: str) -> list[str]:
    """An image's plain caption, then the same caption with each motion phrase a video prompt can carry.

    The base's text encoder learns from the phrased ones that a motion phrase says nothing about
    appearance (a still image cannot show it); SD1.5's CLIP learned that from web captions.
    """
    return [caption_for(shape, colour, background, m) for m in (None, *CAPTION_MOTIONS)]
