"""Small helpers used across stages: seeding, JSON output."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, numpy and torch; return a numpy Generator for explicit use."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    return np.random.default_rng(seed)


def write_json(path: str | Path, obj: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def evenly_spaced(length: int, count: int) -> "np.ndarray":
    """Indices of ``min(count, length)`` frames spread evenly over ``length``, first and last included:
    the frames every grid and preview shows of a clip."""
    import numpy as np

    return np.linspace(0, length - 1, min(count, length)).round().astype(int)
