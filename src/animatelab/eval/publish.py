"""Where an evaluate stage's numbers go: the DVC outputs (scores, meta without durations) and MLflow.

One helper for ``evaluate``, ``evaluate_sparsectrl``, ``evaluate_moonshot`` and ``evaluate_controlnet``, so
every scored run has the same files and the same MLflow metric names (``{group}/{metric}/{mean|ci_low|ci_high}``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from animatelab.outputs import is_wall_clock, without_wall_clock
from animatelab.utils import write_json

# the group of a MotionLoRA's metrics file that scores its own camera-motion clips as samples (RQ3's
# reference, beside every run's ``real_heldout``; figures read both as references, not as samples)
REAL_MOTION_LORA = "real_motion_lora"


def flat_scores(results: Mapping[str, Mapping[str, Mapping[str, float]]]) -> dict[str, float]:
    """``{group/metric/stat: value}`` for every finite mean and interval end."""
    return {f"{g}/{m}/{s}": float(v[s]) for g, ms in results.items() for m, v in ms.items()
            for s in ("mean", "ci_low", "ci_high") if s in v and math.isfinite(v[s])}


def publish_scores(out: Path, results: Mapping[str, Any], meta: Mapping[str, Any]) -> Path:
    """Write ``out`` and ``out.meta.json`` (durations left out: they go to MLflow) and log both to the
    active MLflow run with the scores as metrics; the meta path."""
    import mlflow

    from animatelab.tracking import flatten

    meta_path = out.with_suffix(".meta.json")
    write_json(out, results)
    write_json(meta_path, without_wall_clock(dict(meta)))
    mlflow.log_metrics(flat_scores(results))
    mlflow.log_metrics({k: float(v) for k, v in flatten(meta).items()
                        if any(is_wall_clock(part) for part in k.split(".")) and isinstance(v, (int, float))})
    mlflow.log_artifact(str(out))
    mlflow.log_artifact(str(meta_path))
    return meta_path
