"""The embedded synthetic world (docs/world.md): clean captioned images, WebVid-format videos carrying
WebVid's defects (fixed watermark, mild blur, h264 artefacts), a zoom-in MotionLoRA set, and the
ground truth of every clip, so evaluation can score motion and watermark leakage exactly.

Every random choice is drawn in the parent process from ``seed`` (one generator per split), and
workers only render, so the output does not depend on the number of worker processes.

Coordinates: a position is the object's area centroid in pixel-index units of the written frame
(pixel ``i`` is centred on ``i``); a size is the object's diameter / side in pixels.
"""

from __future__ import annotations

import csv
import json
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from animatelab.config import SynthDataParams
from animatelab.data.video_io import write_mp4
from animatelab.data.webvid import iso_duration, write_webvid_csv
from animatelab.data.render import (  # noqa: F401  (re-exported: callers read the world through this module)
    WATERMARK_COLOUR, degrade, render, watermark_template,
)
from animatelab.world import (  # noqa: F401
    CHECKER, CHECKER_CELL, COLOURS, DIRECTIONS, EXTENTS, PHRASES, PLAIN_BACKGROUNDS, caption_for,
)

SPLIT_CODES = {"images": 0, "train": 1, "heldout": 2, "motion_lora": 3}
VIDEO_ID_BASE = {"train": 1_000_000, "heldout": 2_000_000, "motion_lora": 3_000_000}


# --------------------------------------------------------------------------- sampling
@dataclass(frozen=True)
class ClipSpec:
    """Everything random about one clip, drawn up front from the split's generator."""

    videoid: str
    split: str
    shape: str
    colour: str
    background: str
    motion: str
    speed: float
    centre: tuple[float, float]
    size_start: float
    size_end: float


def _range(lo_ext: float, hi_ext: float, size: float, resolution: int) -> tuple[float, float]:
    """Centroid interval that keeps an object of ``size`` inside the frame (0.5 px margin)."""
    return lo_ext * size, resolution - 1 - hi_ext * size


def sample_clip(
    rng: np.random.Generator, p: SynthDataParams, videoid: str, split: str, motion: str
) -> ClipSpec:
    r, f = p.resolution, p.frames
    shape = str(rng.choice(p.shapes))
    colour = str(rng.choice(p.colours))
    background = str(rng.choice(p.backgrounds))
    size_lo, size_hi = (s * r for s in p.object_size_range)
    size = float(rng.uniform(size_lo, size_hi))
    speed = float(rng.uniform(*p.speed_range))
    el, er, eu, ed = EXTENTS[shape]
    u1, u2 = rng.uniform(size=2)
    size_start = size_end = size
    if motion in DIRECTIONS and p.boundary != "clamp":
        # the drawn speed and size are kept: the path reflects (bounce) or wraps (wrap) at the edges
        # (``trajectory``); the same draws as ``clamp``, only the start position differs
        dx, _ = DIRECTIONS[motion]
        lo, hi = _range(*((el, er) if dx else (eu, ed)), size, r)
        along = lo + u1 * (hi - lo) if p.boundary == "bounce" else u1 * r - 0.5
        other = _range(*((eu, ed) if dx else (el, er)), size, r)
        across = other[0] + u2 * (other[1] - other[0])
        centre = (along, across) if dx else (across, along)
    elif motion in DIRECTIONS:
        dx, dy = DIRECTIONS[motion]
        ext = (el, er) if dx else (eu, ed)
        travel = speed * (f - 1)
        lo, hi = _range(*ext, size, r)
        if hi - lo < travel:  # shrink the object first, then slow it down, to stay in frame
            size = max(size_lo, (r - 1 - travel) / sum(ext))
            lo, hi = _range(*ext, size, r)
            speed = min(speed, (hi - lo) / (f - 1))
            travel = speed * (f - 1)
        size_start = size_end = size
        along = lo + u1 * max(0.0, hi - lo - travel) + (travel if (dx or dy) < 0 else 0)
        other = _range(*((eu, ed) if dx else (el, er)), size, r)
        across = other[0] + u2 * (other[1] - other[0])
        centre = (along, across) if dx else (across, along)
    elif motion in ("grow", "shrink"):
        small = size_lo
        big = min(small + 0.5 * speed * (f - 1), 0.6 * r)
        speed = (big - small) / (0.5 * (f - 1))
        size_start, size_end = (small, big) if motion == "grow" else (big, small)
        xr, yr = _range(el, er, big, r), _range(eu, ed, big, r)
        centre = (xr[0] + u1 * (xr[1] - xr[0]), yr[0] + u2 * (yr[1] - yr[0]))
    elif motion == "static":
        speed = 0.0
        xr, yr = _range(el, er, size, r), _range(eu, ed, size, r)
        centre = (xr[0] + u1 * (xr[1] - xr[0]), yr[0] + u2 * (yr[1] - yr[0]))
    elif motion == "zoom_in":
        # crop side shrinks by `speed` px/frame, at most to half the frame (zoom <= 2)
        speed = min(speed, (r / 2) / (f - 1))
        zmax = r / (r - speed * (f - 1))
        c = (r - 1) / 2
        size = size_lo
        size_start = size_end = size
        reach_x = max(0.0, (c - 0.5) / zmax - max(el, er) * size)
        reach_y = max(0.0, (c - 0.5) / zmax - max(eu, ed) * size)
        centre = (c + (2 * u1 - 1) * reach_x, c + (2 * u2 - 1) * reach_y)
    else:
        raise ValueError(f"unknown motion {motion!r}")
    return ClipSpec(videoid, split, shape, colour, background, motion, speed,
                    (float(centre[0]), float(centre[1])), float(size_start), float(size_end))


def reflect(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``x`` folded into [lo, hi] by reflection off both ends (a bouncing path: speed kept, sign flipped)."""
    span = hi - lo
    if span <= 0:
        return np.full_like(x, lo)
    y = np.mod(x - lo, 2 * span)
    return lo + np.where(y > span, 2 * span - y, y)


def wrap(x: np.ndarray, resolution: int) -> np.ndarray:
    """``x`` wrapped into the frame's extent [-0.5, resolution - 0.5) (pixel ``i`` is centred on ``i``)."""
    return np.mod(x + 0.5, resolution) - 0.5


def wraps(spec: ClipSpec, p: SynthDataParams) -> bool:
    """Whether the clip's object wraps round the frame edges (drawn with its periodic copies)."""
    return p.boundary == "wrap" and spec.motion in DIRECTIONS


def inside_frame(spec: ClipSpec, p: SynthDataParams, centres: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """(F,) bool: the whole object lies inside the frame (within the 0.5 px margin every clip keeps)."""
    el, er, eu, ed = EXTENTS[spec.shape]
    x, y = centres[:, 0], centres[:, 1]
    r, eps = p.resolution, 1e-6
    return ((x - el * sizes >= -eps) & (x + er * sizes <= r - 1 + eps)
            & (y - eu * sizes >= -eps) & (y + ed * sizes <= r - 1 + eps))


def trajectory(spec: ClipSpec, p: SynthDataParams) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Scene-coordinate centres (F, 2), sizes (F,), and zooms (F,) or None, per written frame.

    Under ``boundary: bounce`` a translation reflects off the centroid interval that keeps the object
    whole in frame; under ``wrap`` its centre wraps into the frame's extent (the renderer draws the
    periodic copies, so the object re-enters at the opposite edge)."""
    t = np.arange(p.frames, dtype=np.float64)
    centres = np.tile(np.asarray(spec.centre, np.float64), (p.frames, 1))
    if spec.motion in DIRECTIONS:
        dx, dy = DIRECTIONS[spec.motion]
        centres = centres + np.outer(t * spec.speed, (dx, dy))
        axis = 0 if dx else 1
        if p.boundary == "bounce":
            el, er, eu, ed = EXTENTS[spec.shape]
            lo, hi = _range(*((el, er) if dx else (eu, ed)), spec.size_start, p.resolution)
            centres[:, axis] = reflect(centres[:, axis], lo, hi)
        elif p.boundary == "wrap":
            centres[:, axis] = wrap(centres[:, axis], p.resolution)
    sizes = np.linspace(spec.size_start, spec.size_end, p.frames)
    zooms = p.resolution / (p.resolution - spec.speed * t) if spec.motion == "zoom_in" else None
    return centres, sizes, zooms


def ground_truth(spec: ClipSpec, p: SynthDataParams) -> dict:
    """Per-clip truth: attributes plus per-frame position and size in written-frame pixels.

    Under a ``boundary`` other than ``clamp`` it also names the boundary and says per frame whether the
    object is ``whole`` (inside the frame). Under ``wrap`` a cut object's position is the centre of the
    object as if uncut, which neither of its visible parts shows. Under ``clamp`` neither key is
    written, so the file keeps its bytes.
    """
    centres, sizes, zooms = trajectory(spec, p)
    if zooms is not None:
        c = (p.resolution - 1) / 2
        centres = (centres - c) * zooms[:, None] + c
        sizes = sizes * zooms
    extra = {} if p.boundary == "clamp" else {
        "boundary": p.boundary, "whole": [bool(w) for w in inside_frame(spec, p, centres, sizes)]}
    return {
        **extra,
        "shape": spec.shape,
        "colour": spec.colour,
        "background": spec.background,
        "motion": spec.motion,
        "speed": round(spec.speed, 6),
        "positions": np.round(centres, 4).tolist(),
        "sizes": np.round(sizes, 4).tolist(),
        "zooms": None if zooms is None else np.round(zooms, 6).tolist(),
        "split": spec.split,
        "caption": caption_for(spec.shape, spec.colour, spec.background, spec.motion),
        "watermark": p.watermark_alpha > 0,
        "fps": p.fps,
        "frames": p.frames,
    }


def clip_specs(p: SynthDataParams, split: str, count: int) -> list[ClipSpec]:
    rng = np.random.default_rng([p.seed, SPLIT_CODES[split]])
    motions = [p.motion_lora_motion] if split == "motion_lora" else list(p.motions)
    base = VIDEO_ID_BASE[split]
    return [sample_clip(rng, p, str(base + i), split, motions[i % len(motions)]) for i in range(count)]


# --------------------------------------------------------------------------- workers
def render_clip(spec: ClipSpec, p: SynthDataParams) -> np.ndarray:
    """The clean (F, R, R, 3) float frames of a clip, before WebVid's defects."""
    centres, sizes, zooms = trajectory(spec, p)
    return render(spec.shape, spec.colour, spec.background, centres, sizes, p.resolution, zooms,
                  wrap=wraps(spec, p))


def _write_clips(specs: list[ClipSpec], p: SynthDataParams, video_dir: str) -> int:
    template, _ = watermark_template(p.resolution)
    for spec in specs:
        frames = degrade(render_clip(spec, p), template, p.watermark_alpha, p.blur_sigma)
        write_mp4(Path(video_dir) / f"{spec.videoid}.mp4", frames, p.fps, p.crf, lossless=p.codec == "lossless")
    return len(specs)


def _render_images(rows: list[dict], resolution: int) -> np.ndarray:
    out = np.empty((len(rows), resolution, resolution, 3), np.uint8)
    for i, row in enumerate(rows):
        img = render(row["shape"], row["colour"], row["background"], np.asarray([row["centre"]]),
                     np.asarray([row["size"]]), resolution)
        out[i] = np.clip(np.rint(img[0]), 0, 255).astype(np.uint8)
    return out


def image_rows(p: SynthDataParams) -> list[dict]:
    """Attributes of the clean images: random object, size and position, fully inside the frame."""
    rng = np.random.default_rng([p.seed, SPLIT_CODES["images"]])
    rows = []
    for i in range(p.num_images):
        shape, colour, bg = (str(rng.choice(x)) for x in (p.shapes, p.colours, p.backgrounds))
        size = float(rng.uniform(*p.object_size_range)) * p.resolution
        el, er, eu, ed = EXTENTS[shape]
        xr, yr = _range(el, er, size, p.resolution), _range(eu, ed, size, p.resolution)
        u1, u2 = rng.uniform(size=2)
        centre = (xr[0] + u1 * (xr[1] - xr[0]), yr[0] + u2 * (yr[1] - yr[0]))
        rows.append({"index": i, "caption": caption_for(shape, colour, bg, None), "shape": shape,
                     "colour": colour, "background": bg, "centre": centre, "size": size})
    return rows


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def written_frames(spec: ClipSpec, p: SynthDataParams, watermark_alpha: float | None = None,
                   blur_sigma: float | None = None, codec: str | None = None) -> np.ndarray:
    """uint8 (F, R, R, 3) frames of a clip as a reader decodes them from the stage's mp4, with any
    defect overridden (None keeps ``p``'s): e.g. ``watermark_alpha=0, codec="lossless"`` is the clip
    with its blur alone. Encodes through a temporary file exactly as the stage writes it."""
    import tempfile

    from animatelab.data.video_io import open_reader, read_frames

    alpha = p.watermark_alpha if watermark_alpha is None else watermark_alpha
    sigma = p.blur_sigma if blur_sigma is None else blur_sigma
    codec = p.codec if codec is None else codec
    template, _ = watermark_template(p.resolution)
    frames = degrade(render_clip(spec, p), template, alpha, sigma)
    if codec == "lossless":  # the lossless mp4 decodes to exactly these bytes
        return frames
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        write_mp4(path, frames, p.fps, p.crf)
        reader = open_reader(path)
        return read_frames(reader, list(range(len(reader))))


# --------------------------------------------------------------------------- readers
GROUND_TRUTH_FILE = "ground_truth.json"
IMAGES_FILE = "images.npz"


def read_ground_truth(synth_dir: str | Path) -> dict[str, dict]:
    """The per-clip truth the stage wrote (``ground_truth.json``), keyed by videoid: the one reader."""
    return json.loads((Path(synth_dir) / GROUND_TRUTH_FILE).read_text())


def read_images(synth_dir: str | Path) -> np.ndarray:
    """The clean images (``images.npz``), uint8 (N, H, W, 3): the one reader."""
    with np.load(Path(synth_dir) / IMAGES_FILE) as z:
        return z["images"]


# --------------------------------------------------------------------------- the stage body
def generate(p: SynthDataParams) -> dict[str, int]:
    """Write the whole world under ``p.out_dir`` (layout in docs/CONTRACTS.md); returns counts."""
    out = Path(p.out_dir)
    video_dir = out / "videos"
    if video_dir.exists():
        shutil.rmtree(video_dir)
    video_dir.mkdir(parents=True)

    splits = {"train": p.num_train_videos, "heldout": p.num_heldout_videos,
              "motion_lora": p.num_motion_lora_videos}
    specs = {split: clip_specs(p, split, n) for split, n in splits.items()}
    rows = image_rows(p)
    all_specs = [s for split in splits for s in specs[split]]

    with ProcessPoolExecutor(max_workers=p.workers) as pool:
        image_jobs = [pool.submit(_render_images, chunk, p.resolution) for chunk in _chunks(rows, 500)]
        clip_jobs = [pool.submit(_write_clips, chunk, p, str(video_dir)) for chunk in _chunks(all_specs, 16)]
        with tqdm(total=len(all_specs), desc="synth videos", unit="clip") as bar:
            for job in clip_jobs:
                bar.update(job.result())
        images = np.concatenate([job.result() for job in image_jobs])

    np.savez(out / IMAGES_FILE, images=images)
    with open(out / "images.csv", "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["index", "caption", "shape", "colour", "background"])
        writer.writerows([r["index"], r["caption"], r["shape"], r["colour"], r["background"]] for r in rows)

    truth = {}
    duration = iso_duration(p.frames / p.fps)
    for split, split_specs in specs.items():
        csv_rows = []
        for spec in split_specs:
            gt = ground_truth(spec, p)
            truth[spec.videoid] = gt
            csv_rows.append({"videoid": spec.videoid,
                             "contentUrl": f"https://synthetic.invalid/{split}/{spec.videoid}.mp4",
                             "duration": duration, "page_dir": split, "name": gt["caption"]})
        write_webvid_csv(out / f"{split}.csv", csv_rows)
    (out / GROUND_TRUTH_FILE).write_text(json.dumps(truth, sort_keys=True) + "\n")

    template, box = watermark_template(p.resolution)
    np.savez(out / "watermark.npz", template=template, alpha=np.float32(p.watermark_alpha),
             colour=np.asarray(WATERMARK_COLOUR, np.uint8), box=np.asarray(box, np.int64))
    return {"images": len(rows), **{f"videos_{k}": v for k, v in splits.items()}}
