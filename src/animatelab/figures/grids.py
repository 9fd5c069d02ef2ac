"""Sample frame grids from ``samples/{run}/scale_{s}/videos.npy`` (with vs. without adapter)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from animatelab.utils import evenly_spaced
from animatelab.figures.style import figure
from animatelab.runs import SCALE_GLOB, parse_scale


def sample_dir(samples: str | Path, run: str, scale: float | None) -> Path | None:
    """``samples/{run}/scale_{s}`` at ``scale`` (closest match), else the lowest scale present."""
    found = []
    for d in Path(samples, run).glob(SCALE_GLOB):
        s = parse_scale(d.name)
        if s is not None and (d / "videos.npy").is_file():
            found.append((s, d))
    if not found:
        return None
    if scale is not None:
        best = min(found, key=lambda p: abs(p[0] - scale))
        if abs(best[0] - scale) < 1e-6:
            return best[1]
    return min(found)[1]


def frame_grid(samples: str | Path, runs: list[str], scale: float | None, videos: int, frames: int, width: float):
    """Rows: videos; column groups: runs; each group shows ``frames`` evenly spaced frames."""
    loaded = {}
    for run in runs:
        d = sample_dir(samples, run, scale)
        if d is not None:
            v = np.load(d / "videos.npy", mmap_mode="r")
            prompts = json.loads((d / "prompts.json").read_text()) if (d / "prompts.json").is_file() else []
            loaded[run] = (v, prompts, d.name)
    missing = [r for r in runs if r not in loaded]
    if not loaded:
        return None, missing
    rows = min(videos, *(len(v) for v, _, _ in loaded.values()))
    cols = frames * len(loaded)
    fig, axes = figure(width, (rows + 0.6) / cols, nrows=rows, ncols=cols, squeeze=False)
    for g, (run, (v, prompts, scale_name)) in enumerate(loaded.items()):
        idx = evenly_spaced(v.shape[1], frames)
        for r in range(rows):
            for j, f in enumerate(idx):
                ax = axes[r, g * frames + j]
                ax.imshow(np.asarray(v[r, f]), interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0 and j == 0:
                    ax.set_title(f"{run} ({scale_name})", loc="left", fontsize=5)
                if g == 0 and j == 0 and r < len(prompts):
                    ax.set_ylabel(prompts[r].get("motion", ""), fontsize=5)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return fig, missing
