"""What a researcher looks at in MLflow's artifact view: labelled, upscaled grids and videos.

The pipeline's own outputs stay at their native size (32-px frames, what the metrics read); these
copies exist only for the eye: nearest-neighbour upscaling (no smoothing that would hide the
watermark's 2-px bars) and the prompt written beside each row, so a grid says which prompt and
which adapter scale it shows without opening ``prompts.json``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from animatelab.utils import evenly_spaced

UPSCALE = 4          # 32-px frames -> 128 px: the bars and the object's edges stay crisp
LABEL_WIDTH = 300    # pixels of caption column left of each row
LINE_HEIGHT = 11     # PIL's default bitmap font is ~11 px tall


def upscale(frames: np.ndarray, factor: int = UPSCALE) -> np.ndarray:
    """Nearest-neighbour upscaling of (..., H, W, C) uint8 frames."""
    return frames.repeat(factor, axis=-3).repeat(factor, axis=-2)


def _wrapped(text: str, width_chars: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width_chars:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


def labelled_grid(videos: np.ndarray, labels: Sequence[str], title: str = "", frames: int = 8,
                  factor: int = UPSCALE) -> "Image.Image":
    """One row per video (``frames`` evenly spaced frames, upscaled ``factor``x) with its label on the
    left and ``title`` on top; ``videos`` (N, F, H, W, 3) uint8, or (N, H, W, 3) images (one frame)."""
    from PIL import Image, ImageDraw

    videos = np.asarray(videos)
    if videos.ndim == 4:
        videos = videos[:, None]
    idx = evenly_spaced(videos.shape[1], frames)
    rows = [np.concatenate(list(upscale(v[idx], factor)), axis=1) for v in videos]
    cell_h, strip_w = rows[0].shape[0], rows[0].shape[1]
    title_lines = _wrapped(title, (LABEL_WIDTH + strip_w) // 6)
    top = (len(title_lines) + 1) * LINE_HEIGHT if title_lines else 0
    canvas = Image.new("RGB", (LABEL_WIDTH + strip_w, top + cell_h * len(rows)), "white")
    draw = ImageDraw.Draw(canvas)
    for j, line in enumerate(title_lines):
        draw.text((4, 4 + j * LINE_HEIGHT), line, fill="black")
    for i, (row, label) in enumerate(zip(rows, labels)):
        y = top + i * cell_h
        canvas.paste(Image.fromarray(row), (LABEL_WIDTH, y))
        for j, line in enumerate(_wrapped(label, LABEL_WIDTH // 6)[: cell_h // LINE_HEIGHT]):
            draw.text((4, y + 4 + j * LINE_HEIGHT), line, fill="black")
    return canvas


def log_labelled_grid(videos: np.ndarray, labels: Sequence[str], artifact_path: str, name: str,
                      title: str = "", frames: int = 8) -> None:
    """``labelled_grid`` saved as ``{artifact_path}/{name}.png`` in the active MLflow run."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.png"
        labelled_grid(videos, labels, title, frames).save(path)
        mlflow.log_artifact(str(path), artifact_path)


def log_upscaled_videos(videos: np.ndarray, names: Sequence[str], artifact_path: str, fps: int,
                        factor: int = UPSCALE) -> None:
    """Each video as ``{artifact_path}/{mp4,gif}/{name}`` at ``factor``x its size, in the active run."""
    import mlflow

    from animatelab.data.video_io import write_gif, write_mp4

    with tempfile.TemporaryDirectory() as tmp:
        for video, name in zip(videos, names):
            big = upscale(np.asarray(video), factor)
            for fmt in ("mp4", "gif"):
                path = Path(tmp) / fmt / f"{name}.{fmt}"
                path.parent.mkdir(exist_ok=True)
                if fmt == "mp4":
                    write_mp4(path, big, fps, crf=12)
                else:
                    write_gif(path, big, fps)
                mlflow.log_artifact(str(path), f"{artifact_path}/{fmt}")
