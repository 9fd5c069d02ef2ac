"""params.yaml is the one place the study's values live; the schema types and validates them.

Every field of a group the core's params.yaml carries (and of the sub-groups it spells out, e.g.
``pretrain_base.noise``) has no coded default, so no value can be said twice and nothing that builds a
group (a notebook, a test, a partial YAML dict) silently gets other values than the study ran with.
Coded defaults stay only where they mean something per item: the shared building blocks in ``PER_ITEM``
(a run written ``{with_adapter: true, seed: 0}`` is the official recipe; a loop without warm-up trains at a
constant lr), and the study-only groups that the core's file does not carry, whose study file may not
contradict them.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from animatelab.config import (
    DatasetSpec, FreeInitParams, LoopParams, LoraParams, MotionModuleParams, MotionRun, ObjectiveParams,
    Params, load_params, merge_groups, parse_params,
)
from animatelab.schema.evaluate import LeverSpec, SummaryEntry
from tests.conftest import REPO

# shared per-item types: their defaults say what an entry means when it leaves a key out (every loop's
# AdamW settings, a LoRA's alpha = rank, a run's module and objective, FreeInit's diffusers settings, a
# summary entry's source) and serve the study-only groups' coded defaults too
PER_ITEM: set[type[BaseModel]] = {LoopParams, LoraParams, MotionRun, MotionModuleParams, ObjectiveParams,
                                  FreeInitParams, SummaryEntry, LeverSpec, DatasetSpec}
WHOLE = {"webvid-sd15"}  # whole params files, read alone (their dvc.yaml runs each stage in their own folder)
LAYERED = sorted(p.parent.name for p in (REPO / "experiments").glob("*/params.yaml")
                 if p.parent.name not in WHOLE)


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models inside a field's type (``X``, ``X | None``, ``list[X]``, ``dict[str, X]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def coded_defaults(model: type[BaseModel], prefix: str) -> list[str]:
    """Dotted keys of ``model`` (and of its sub-models, ``PER_ITEM`` aside) that carry a coded default."""
    out = []
    for name, field in model.model_fields.items():
        if not field.is_required():
            out.append(f"{prefix}.{name}")
        for sub in _models(field.annotation):
            if sub not in PER_ITEM:
                out += coded_defaults(sub, f"{prefix}.{name}")
    return out


def test_the_core_groups_code_no_values():
    core = _yaml(REPO / "params.yaml")
    found = [key for group in core for key in coded_defaults(Params, "") if key.split(".")[1] == group]
    assert not found, "coded defaults of keys params.yaml carries (state them there):\n" + "\n".join(found)


def test_the_check_sees_a_coded_default():
    class Inner(BaseModel):
        a: int
        b: int = 1

    class Group(BaseModel):
        inner: Inner
        loop: LoopParams  # per item: its own defaults are not reported
        c: str = "x"

    assert coded_defaults(Group, "g") == ["g.inner.b", "g.c"]


# each pipeline's params files, in the order its stages lay them (the FreeInit layer over motion-learning's)
PIPELINES = {"core": ["params.yaml"], **{s: ["params.yaml", f"experiments/{s}/params.yaml"] for s in LAYERED},
             "motion-learning+free_init": ["params.yaml", "experiments/motion-learning/params.yaml",
                                           "experiments/motion-learning/free_init.yaml"],
             **{s: [f"experiments/{s}/params.yaml"] for s in sorted(WHOLE)}}


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_every_pipeline_validates(pipeline):
    load_params([REPO / f for f in PIPELINES[pipeline]])


# --------------------------------------------------------------------------- study-only groups
def _norm(v: Any) -> Any:
    if isinstance(v, BaseModel):
        return v.model_dump(mode="json")
    return list(v) if isinstance(v, tuple) else v


_REQUIRED = object()


def disagreements(model: type[BaseModel], data: dict, validated: BaseModel, coded: BaseModel | None = None,
                  prefix: str = "") -> list[str]:
    """Leaf keys set in ``data`` whose coded default (``coded``: the enclosing default instance, else the
    field's own default) differs from the validated value; and coded inner defaults that a partial
    YAML dict silently drops."""
    out: list[str] = []
    for name, field in model.model_fields.items():
        if name not in data:
            continue
        value = getattr(validated, name)
        if coded is not None:
            default = getattr(coded, name)
        else:
            default = _REQUIRED if field.is_required() else field.get_default(call_default_factory=True)
        if isinstance(value, BaseModel) and isinstance(data[name], dict):
            inner = default if isinstance(default, BaseModel) else None
            out += disagreements(type(value), data[name], value, inner, f"{prefix}{name}.")
            if inner is not None:
                unset = [k for k in type(value).model_fields if k not in data[name]]
                out += [f"{prefix}{name}.{k}: coded default {_norm(getattr(inner, k))!r} is dropped by the partial "
                        f"YAML dict (becomes {_norm(getattr(value, k))!r})"
                        for k in unset if _norm(getattr(inner, k)) != _norm(getattr(value, k))]
        elif default is not _REQUIRED and _norm(default) != _norm(value):
            out.append(f"{prefix}{name}: coded {_norm(default)!r} != params.yaml {_norm(value)!r}")
    return out


def _own_groups(study: str) -> dict:
    core = _yaml(REPO / "params.yaml")
    return {k: v for k, v in _yaml(REPO / "experiments" / study / "params.yaml").items() if k not in core}


@pytest.mark.parametrize("study", LAYERED)
def test_study_only_groups_agree_with_their_coded_defaults(study):
    """A study-only group (absent from the core's file) keeps coded defaults, so that the core's params still
    validate; its study's file may not say otherwise. The groups a study lays over the core's carry no coded
    values (above)."""
    own = _own_groups(study)
    merged = load_params([REPO / "params.yaml", REPO / "experiments" / study / "params.yaml"])
    found = disagreements(Params, own, merged)
    assert not found, f"schema defaults disagree with experiments/{study}/params.yaml:\n" + "\n".join(found)


def test_the_check_sees_a_disagreement():
    own = _own_groups("motionlora")
    own["train_motion_lora"] = {**own["train_motion_lora"], "n_videos": [3],
                                "loop": {"steps": 1, "batch_size": 2, "lr": 0.1}}
    found = disagreements(Params, own, parse_params(merge_groups(_yaml(REPO / "params.yaml"), own)))
    assert any(f.startswith("train_motion_lora.n_videos") for f in found)
    assert any(f.startswith("train_motion_lora.loop.steps") for f in found)
