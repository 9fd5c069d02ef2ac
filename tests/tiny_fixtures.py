"""Tiny fake inputs for the base/encode/adapter tests (and anyone building on them).

Written in the exact formats of docs/CONTRACTS.md, so the tests do not depend on the
synth_data / prepare stages.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from animatelab.config import PretrainBaseParams

from tests.conftest import micro_params

COLOURS = {"red": (220, 40, 40), "blue": (50, 90, 235)}


def micro_pretrain_params(**overrides) -> PretrainBaseParams:
    data = micro_params()["pretrain_base"]
    return PretrainBaseParams.model_validate({**data, **overrides})


def make_fake_synth(folder: Path, n: int = 16, res: int = 32, seed: int = 0) -> Path:
    """``images.npz`` + ``images.csv``: coloured squares on black, with captions."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    images = np.full((n, res, res, 3), 15, np.uint8)
    rows = ["index,caption,shape,colour,background"]
    for i in range(n):
        colour = list(COLOURS)[i % 2]
        x, y = rng.integers(2, res - 12, size=2)
        images[i, y : y + 10, x : x + 10] = COLOURS[colour]
        rows.append(f"{i},a {colour} square on a black background,square,{colour},black")
    np.savez(folder / "images.npz", images=images)
    (folder / "images.csv").write_text("\n".join(rows) + "\n")
    return folder


def make_fake_prepared(folder: Path, shards: int = 2, clips: int = 3, frames: int = 4, res: int = 32, seed: int = 0) -> Path:
    """``shard-*.safetensors`` (``frames`` uint8 N×F×H×W×3) + ``shard-*.jsonl`` with captions."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        save_file({"frames": rng.integers(0, 256, (clips, frames, res, res, 3), dtype=np.uint8)},
                  str(folder / f"shard-{s:05d}.safetensors"))
        lines = [json.dumps({"videoid": f"{s}_{c}", "caption": f"a {list(COLOURS)[c % 2]} square moving left"})
                 for c in range(clips)]
        (folder / f"shard-{s:05d}.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def save_tiny_base(path: Path, **overrides) -> Path:
    from animatelab.models.tiny_base import build_tiny_base, save_base

    return save_base(build_tiny_base(micro_pretrain_params(**overrides)), path)
