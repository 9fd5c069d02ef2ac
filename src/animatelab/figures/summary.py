"""A pipeline's headline numbers in one small JSON (``figures.summary``), declared as its DVC metrics.

The per-run metrics files hold thousands of values (every metric, scale and interval); ``dvc metrics show``
of those is tens of thousands of characters wide. This file holds the few numbers that answer the
pipeline's question, under short names, so ``dvc metrics show`` and ``dvc metrics diff`` fit a screen.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from animatelab.figures.metrics import MetricsStore
from animatelab.schema.evaluate import SummaryEntry


def _mean_at(path: Path, key: str) -> float | None:
    node = json.loads(path.read_text()) if path.is_file() else None
    for part in key.split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return float(node["mean"]) if isinstance(node, dict) and "mean" in node else None


def headline(entries: Sequence[SummaryEntry], store: MetricsStore) -> dict[str, float | None]:
    """Name -> mean (``None`` when its input is absent), rounded to 4 significant digits."""
    out: dict[str, float | None] = {}
    for e in entries:
        if e.file is not None:
            value = _mean_at(Path(e.file), e.key or "")
        else:
            m, _ = store.over_seeds(e.arm or "", e.metric or "", e.scale)
            value = None if m is None else float(m.mean)
        out[e.name] = None if value is None else float(f"{value:.4g}")
    return out


def write(path: str | Path, values: Mapping[str, float | None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(values), indent=1) + "\n")
    return path
