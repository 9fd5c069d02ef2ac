"""Ground-truth metrics of the synthetic world: track the one object, then score motion and appearance.

Tracking needs no weights: the background colours are the dominant colours of the frame border
(one for plain backgrounds, two for a checker); pixels far from every mix of background colours and
the (possibly leaked) watermark are the object. Per frame: the largest component's centroid, area,
median colour, bounding-box fill ratio and shape misfits (``eval.shape_fit``: robust to the blur a
VAE adds, which the fill ratio is not), plus how many components there are.
Appearance classes are read by nearest centroids *calibrated on the real clips*, so they do not
depend on the exact palette the data stage used.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from animatelab.eval.shape_fit import coverage_map, shape_errors
from animatelab.eval.watermark import Watermark
from animatelab.world import SHAPES

MOTION_ALIASES = {"still": "static", "zoom_in": "grow", "zoom_out": "shrink"}


def normalise_motion(motion: str) -> str:
    return MOTION_ALIASES.get(motion, motion)


@dataclass
class Track:
    centroids: np.ndarray  # (F, 2) x, y in pixels; NaN where no object
    areas: np.ndarray  # (F,) pixels
    components: np.ndarray  # (F,) number of significant foreground components
    colours: np.ndarray  # (F, 3) median RGB of the object
    fill: np.ndarray  # (F,) object area / bounding-box area
    shape_misfit: np.ndarray  # (F, len(SHAPES)) least-squares misfit of each world shape; NaN where no object
    whole: np.ndarray  # (F,) bool: object not cut by the frame edge (its fill ratio reads its shape)
    background: np.ndarray  # (2, 3) dark and light background colour (equal for plain backgrounds)


def background_colours(video: np.ndarray, exclude: np.ndarray | None = None, ring: int = 2,
                       radius: float = 30.0, min_share: float = 0.2) -> np.ndarray:
    """Dominant border colours: those with >= 20 % of the border pixels within ``radius`` of them
    (one for plain backgrounds, two for a checker).

    Candidates are the means of the occupied 16-level histogram bins, but a candidate's support is
    counted by distance, not by bin: a generated checker's light cells spread over a few levels
    around a bin edge (e.g. 141-148 across 144), and per-bin counts then left both halves under 20 %,
    the light colour out of the model, and half the checker read as the object."""
    f, h, w, _ = video.shape
    border = np.zeros((h, w), bool)
    border[:ring], border[-ring:], border[:, :ring], border[:, -ring:] = True, True, True, True
    if exclude is not None:
        border &= ~exclude
    px = video[:, border].reshape(-1, 3).astype(np.float32)
    codes = (px // 16).astype(np.int32) @ np.array([256, 16, 1])
    _, bins = np.unique(codes, return_inverse=True)
    bins = bins.reshape(-1)
    centres = np.stack([px[bins == k].mean(axis=0) for k in range(int(bins.max()) + 1)])
    near = np.linalg.norm(px[None] - centres[:, None], axis=-1) < radius  # (candidates, pixels)
    support = near.sum(axis=1)
    cols: list[np.ndarray] = []
    for k in np.argsort(-support, kind="stable"):
        if cols and support[k] < min_share * len(px):
            break
        refined = px[near[k]].mean(axis=0)
        if all(np.linalg.norm(refined - c) >= radius for c in cols):
            cols.append(refined)
    arr = np.array(cols)
    lum = arr.mean(axis=1)
    return np.stack([arr[lum.argmin()], arr[lum.argmax()]])


def segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of colours ``p`` (..., 3) to the RGB segments [a, b] (broadcastable)."""
    ab = b - a
    t = np.clip(((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-6), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1)


def background_distance(video: np.ndarray, bg: np.ndarray, watermark: Watermark | None = None) -> np.ndarray:
    """Per-pixel distance to the background model: any mix of the (one or two) background colours,
    with the watermark blended in at any strength from none to the full template."""
    v = video.astype(np.float32)
    dark, light = bg
    d = segment_distance(v, dark, light)
    if watermark is not None:
        a = (watermark.alpha * watermark.template)[..., None]
        dark_w, light_w = (c * (1 - a) + watermark.colour * a for c in (dark, light))
        for seg in ((dark, dark_w), (light, light_w), (dark_w, light_w)):
            d = np.minimum(d, segment_distance(v, *seg))
    return d


def track_video(
    video: np.ndarray, watermark: Watermark | None = None, threshold: float = 50.0, min_area: int = 4
) -> Track:
    """Segment and follow the object in one (F, H, W, 3) uint8 video."""
    f, h, w, _ = video.shape
    if watermark is not None:
        watermark = watermark.resized(h)
    exclude = watermark.template > 0.02 if watermark is not None else None
    bg = background_colours(video, exclude)
    dist = background_distance(video, bg, watermark)
    fg = dist > threshold
    v = video.astype(np.float32)
    centroids = np.full((f, 2), np.nan)
    areas = np.zeros(f)
    comps = np.zeros(f, int)
    colours = np.full((f, 3), np.nan)
    fill = np.full(f, np.nan)
    misfit = np.full((f, len(SHAPES)), np.nan)
    whole = np.zeros(f, bool)
    for t in range(f):
        n, labels, stats, cents = cv2.connectedComponentsWithStats(fg[t].astype(np.uint8), connectivity=8)
        sizes = stats[1:, cv2.CC_STAT_AREA]
        comps[t] = int((sizes >= min_area).sum())
        if sizes.size == 0 or sizes.max() < min_area:
            continue
        k = 1 + int(sizes.argmax())
        centroids[t] = cents[k]
        areas[t] = stats[k, cv2.CC_STAT_AREA]
        colours[t] = np.median(v[t][labels == k], axis=0)
        x0, y0, bw, bh = (stats[k, i] for i in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
        fill[t] = areas[t] / (bw * bh)
        obj = labels == k
        errors = shape_errors(coverage_map(dist[t], obj), obj)
        misfit[t] = [errors[name] for name in SHAPES]
        whole[t] = not (x0 == 0 or y0 == 0 or x0 + bw == w or y0 + bh == h)  # not cut by the frame edge
    return Track(centroids, areas, comps, colours, fill, misfit, whole, bg)


def _slope(y: np.ndarray) -> float:
    t = np.arange(len(y), dtype=np.float64)
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(t[ok], y[ok], 1)[0])


@dataclass
class MotionSummary:
    direction: str  # left/right/up/down/grow/shrink/static, or "none" when no object was found
    net_speed: float  # px/frame of the straight-line fit of the centroid
    path_speed: float  # mean |centroid step| px/frame
    size_rate: float  # d sqrt(area) / d frame
    jerk: float  # mean |second difference of the centroid| px/frame^2 (lower = smoother)
    present: float  # fraction of frames with an object


def summarise_motion(track: Track, still: float = 0.2) -> MotionSummary:
    """Direction of a track: translation from the centroid fit, grow/shrink from sqrt(area)."""
    c = track.centroids
    present = float(np.isfinite(c[:, 0]).mean())
    if present < 0.5:
        return MotionSummary("none", np.nan, np.nan, np.nan, np.nan, present)
    vx, vy = _slope(c[:, 0]), _slope(c[:, 1])
    size_rate = _slope(np.where(track.areas > 0, np.sqrt(track.areas), np.nan))
    net = float(np.hypot(vx, vy))
    steps = np.linalg.norm(np.diff(c, axis=0), axis=1)
    path = float(np.nanmean(steps)) if np.isfinite(steps).any() else np.nan
    acc = np.linalg.norm(np.diff(c, n=2, axis=0), axis=1)
    jerk = float(np.nanmean(acc)) if np.isfinite(acc).any() else np.nan
    growth = 2.0 * abs(size_rate)  # sqrt(area) rate -> comparable px/frame scale
    if max(net, growth) < still:
        direction = "static"
    elif growth > net:
        direction = "grow" if size_rate > 0 else "shrink"
    elif abs(vx) >= abs(vy):
        direction = "right" if vx > 0 else "left"
    else:
        direction = "down" if vy > 0 else "up"  # image rows grow downwards
    return MotionSummary(direction, net, path, size_rate, jerk, present)


def persistent_object(track: Track, colour_tol: float = 40.0, fill_tol: float = 0.2, min_frac: float = 0.9,
                      max_jump: float = 0.5) -> bool:
    """One object in (almost) every frame, of constant colour and shape (fill ratio), that moves
    continuously: between (almost) every pair of consecutive frames its centroid moves less than
    ``max_jump`` of its size (sqrt of its area). Without the last condition frames sampled
    independently (the untrained module: the same object drawn anywhere, 11 px/frame) scored above
    every trained module, since colour and shape alone do not say the frames show one object."""
    single = float((track.components == 1).mean())
    ok = np.isfinite(track.colours[:, 0])
    if single < min_frac or ok.mean() < min_frac:
        return False
    med = np.median(track.colours[ok], axis=0)
    drift = np.linalg.norm(track.colours[ok] - med, axis=1)
    fill = track.fill[track.whole]
    same_shape = fill.size == 0 or (np.abs(fill - np.median(fill)) < fill_tol).mean() >= min_frac
    jumps = np.linalg.norm(np.diff(track.centroids, axis=0), axis=1)
    size = np.sqrt(np.median(track.areas[ok]))
    continuous = (np.nan_to_num(jumps, nan=np.inf) < max_jump * size).mean() >= min_frac
    return bool((drift < colour_tol).mean() >= min_frac and same_shape and continuous)


def shape_votes(misfit: np.ndarray) -> np.ndarray:
    """Fraction of the given frames (rows of shape misfits) that read as each world shape."""
    ok = np.isfinite(misfit).all(axis=1)
    if not ok.any():
        return np.full(len(SHAPES), np.nan)
    return np.bincount(misfit[ok].argmin(axis=1), minlength=len(SHAPES)) / ok.sum()


def appearance_features(track: Track) -> dict[str, np.ndarray]:
    """Per-video features for nearest-centroid reading of colour, shape and background; the shape
    feature is the vote of the frames where the object is whole (not cut by the frame edge)."""
    ok = np.isfinite(track.colours[:, 0])
    colour = np.median(track.colours[ok], axis=0) if ok.any() else np.full(3, np.nan)
    use = track.whole if track.whole.any() else np.isfinite(track.fill)
    return {"colour": colour, "shape": shape_votes(track.shape_misfit[use]), "background": track.background.reshape(-1)}


class AppearanceReader:
    """Nearest-centroid classifiers for colour, shape and background, fitted on real clips."""

    def __init__(self) -> None:
        self.centroids: dict[str, dict[str, np.ndarray]] = {}

    def fit(self, features: list[dict[str, np.ndarray]], labels: list[dict[str, str]]) -> "AppearanceReader":
        for attr in ("colour", "shape", "background"):
            groups: dict[str, list[np.ndarray]] = {}
            for feat, lab in zip(features, labels):
                if np.all(np.isfinite(feat[attr])):
                    groups.setdefault(lab[attr], []).append(feat[attr])
            self.centroids[attr] = {k: np.median(np.stack(v), axis=0) for k, v in groups.items()}
        return self

    def predict(self, feat: dict[str, np.ndarray]) -> dict[str, str]:
        out = {}
        for attr, cents in self.centroids.items():
            x = feat[attr]
            if not np.all(np.isfinite(x)) or not cents:
                out[attr] = "none"
                continue
            names = list(cents)
            out[attr] = names[int(np.argmin([np.linalg.norm(x - cents[k]) for k in names]))]
        return out


@dataclass
class VideoReport:
    motion: MotionSummary
    persistent: bool
    features: dict[str, np.ndarray]
    single_object: float  # fraction of frames with exactly one object
    no_object: float  # fraction of frames with none (the object faded out)
    extra_objects: float  # fraction of frames with two or more (a duplicate or a split)


def analyse(video: np.ndarray, watermark: Watermark | None = None, still: float = 0.2) -> VideoReport:
    track = track_video(video, watermark)
    comps = track.components
    return VideoReport(summarise_motion(track, still), persistent_object(track), appearance_features(track),
                       float((comps == 1).mean()), float((comps == 0).mean()), float((comps >= 2).mean()))
