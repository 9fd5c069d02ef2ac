"""Micro params: the pipelines' params files with tests/micro_overrides.yaml applied, so tests run the study's
own recipe at a size that takes seconds (no second params file to drift from the first)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from animatelab.config import STUDIES, Params, merge_groups

REPO = Path(__file__).resolve().parents[1]
MICRO_OVERRIDES = Path(__file__).with_name("micro_overrides.yaml")


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


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
    """Every group the study uses, sized to run in seconds: the core's params.yaml with each study's own
    groups and runs laid over it (not a study's overlays of the core's groups, figures included: each study
    draws into its own folder), then tests/micro_overrides.yaml."""
    merged = _yaml(REPO / "params.yaml")
    core = set(merged)
    for study in STUDIES:
        data = _yaml(REPO / "experiments" / study / "params.yaml")
        # a study's own groups, and its runs; not its overlays of the core's groups (another world's paths,
        # its own probe folder), which only its own stages read
        own = {k: v for k, v in data.items() if k not in core}
        if runs := data.get("train_motion", {}).get("runs"):
            own["train_motion"] = {"runs": runs}
        merged = merge_groups(merged, own)  # as the stages merge them
    return merge_patch(merged, _yaml(MICRO_OVERRIDES))


def core_group(name: str, **overrides: Any) -> Any:
    """Group ``name`` of the core's params.yaml, validated, with ``overrides`` replacing its keys: a test of
    one function at the study's own values (the schema codes none; ``micro_params()``: the micro sizes)."""
    model = Params.model_fields[name].annotation
    return model.model_validate({**_yaml(REPO / "params.yaml")[name], **overrides})


def micro_text() -> str:
    """The micro params as a params.yaml file's text."""
    return yaml.safe_dump(micro_params(), sort_keys=False)


def micro_files(core_runs: list[str] | None = None) -> dict[str, dict]:
    """Each pipeline's params file at micro size, by path: ``params.yaml`` and ``experiments/<study>/params.yaml``.

    Each file keeps its own groups and keys (the micro overrides of a group apply where the group is);
    ``core_runs``: the core's train_motion runs to keep at their own values (default: the overrides' choice).
    """
    overrides = _yaml(MICRO_OVERRIDES)
    root = _yaml(REPO / "params.yaml")
    files = {"params.yaml": merge_patch(root, {k: v for k, v in overrides.items() if k in root})}
    if core_runs is not None:
        files["params.yaml"]["train_motion"]["runs"] = {r: root["train_motion"]["runs"][r] for r in core_runs}
    for study in STUDIES:
        own = _yaml(REPO / "experiments" / study / "params.yaml")
        files[f"experiments/{study}/params.yaml"] = {
            k: v if k == "figures" else merge_patch(v, {kk: vv for kk, vv in overrides.get(k, {}).items() if kk != "runs"})
            for k, v in own.items()
        }
    return files
