"""params.yaml is the one source of study values: a coded schema default may not say otherwise.

A default that disagrees with params.yaml is a trap: anything that builds a params group from the
schema (a notebook, a test, a partial YAML dict that silently falls back to coded inner defaults)
gets other values than the study ran with.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

import pytest

from animatelab.config import Params, load_params, study_params_files
from tests.conftest import REPO, STUDIES


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


def test_schema_defaults_agree_with_params_yaml():
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    found = disagreements(Params, data, load_params(REPO / "params.yaml"))
    assert not found, "schema defaults disagree with params.yaml:\n" + "\n".join(found)


@pytest.mark.parametrize("study", STUDIES)
def test_schema_defaults_agree_with_each_study_params(study):
    """A study's own groups (absent from the core's file) follow the same rule; the groups it lays over the
    core's (train_motion.runs, figures) are deliberate overrides and checked by loading them."""
    core = yaml.safe_load((REPO / "params.yaml").read_text())
    own = {k: v for k, v in yaml.safe_load((REPO / "experiments" / study / "params.yaml").read_text()).items()
           if k not in core}
    merged = load_params(study_params_files(study, REPO))
    found = disagreements(Params, own, merged)
    assert not found, f"schema defaults disagree with experiments/{study}/params.yaml:\n" + "\n".join(found)


def test_the_check_sees_a_disagreement():
    data = yaml.safe_load((REPO / "params.yaml").read_text())
    data["sample"]["num_inference_steps"] = 7
    data["pretrain_base"]["vae"] = {"steps": 1, "batch_size": 2, "lr": 0.1}
    from animatelab.config import parse_params

    found = disagreements(Params, data, parse_params(data))
    assert any(f.startswith("sample.num_inference_steps") for f in found)
    assert any(f.startswith("pretrain_base.vae.steps") for f in found)
