"""Micro params: params.yaml with tests/micro_overrides.yaml applied, so tests run the study's own recipe
at a size that takes seconds (no second params file to drift from the first)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
MICRO_OVERRIDES = Path(__file__).with_name("micro_overrides.yaml")


def merge_patch(target: Any, patch: Any) -> Any:
    """JSON Merge Patch (RFC 7386): mappings merge, ``None`` removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def micro_params() -> dict:
    """params.yaml with tests/micro_overrides.yaml applied: the study's values, sized to run in seconds."""
    study = yaml.safe_load((REPO / "params.yaml").read_text())
    return merge_patch(study, yaml.safe_load(MICRO_OVERRIDES.read_text()))


def micro_text() -> str:
    """The micro params as a params.yaml file's text."""
    return yaml.safe_dump(micro_params(), sort_keys=False)
