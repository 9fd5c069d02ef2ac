"""Run names: the one place that writes and reads them.

Three kinds of run are sampled and evaluated, each under one name:

* ``motion``: a ``train_motion`` run, ``{variant}_s{seed}`` (e.g. ``with_adapter_s0``) or any other
  key of ``train_motion.runs``;
* ``motion_lora``: the MotionLoRA trained on N camera-motion videos, ``lora_n{N}`` (trained in
  ``{train_motion_lora.out_dir}/n{N}``; DVC's foreach hands its stages the bare ``N``);
* ``direction_lora``: the MotionLoRA of one prompt direction, ``dir_{name}`` (trained in
  ``{train_direction_lora.out_dir}/{name}``; DVC hands the bare ``name``).

The names below a run, and SparseCtrl's, are written and read here too (a build/parse pair each), so a
sampler, the stage that scores its folders and the figures that read them cannot drift apart:

* ``scale_{s}``: one adapter scale's samples, ``{out_dir}/{run}/scale_{s}`` (``sample``, and the
  MoonShot and ControlNet samplers under their modes and targets), and the metrics group ``evaluate``
  scores them into (:func:`scale_name`, :func:`parse_scale`, :func:`scale_folder`);
* ``sparsectrl_{variant}``: a SparseCtrl variant's samples folder and metrics file
  (:func:`sparsectrl_name`, :func:`sparsectrl_variant`);
* ``k{K}``: its samples with K keyframes, and their metrics groups (``k{K}``, ``baseline_k{K}``, ...)
  (:func:`keyframes_name`, :func:`parse_keyframes`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterable
from typing import Literal

Kind = Literal["motion", "motion_lora", "direction_lora"]
PREFIX: dict[str, str] = {"motion_lora": "lora_n", "direction_lora": "dir_"}
_SEED = re.compile(r"^(?P<variant>.+)_s(?P<seed>\d+)$")


@dataclass(frozen=True)
class RunId:
    kind: Kind
    key: str  # the train_motion run, the N of a MotionLoRA (as text), or the direction name

    @property
    def name(self) -> str:
        """The name samples, metrics files and MLflow runs use."""
        return PREFIX.get(self.kind, "") + self.key

    @property
    def n_videos(self) -> int:
        if self.kind != "motion_lora":
            raise ValueError(f"{self.name} is not a MotionLoRA of N videos")
        return int(self.key)

    @property
    def train_folder(self) -> str:
        """The run's folder under its training stage's ``out_dir``."""
        return f"n{self.key}" if self.kind == "motion_lora" else self.key

    @property
    def variant_seed(self) -> tuple[str, int] | None:
        """``("with_adapter", 0)`` for ``with_adapter_s0``; None for runs without a seed suffix."""
        m = _SEED.match(self.key) if self.kind == "motion" else None
        return (m["variant"], int(m["seed"])) if m else None

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, name: str) -> "RunId":
        """The inverse of :attr:`name` (``lora_n5``, ``dir_left``, anything else is a motion run)."""
        for kind, prefix in PREFIX.items():
            rest = name.removeprefix(prefix)
            if rest != name and rest:
                if kind == "motion_lora" and not rest.isdigit():
                    break
                return cls(kind, rest)  # type: ignore[arg-type]
        if not name:
            raise ValueError("empty run name")
        return cls("motion", name)

    @classmethod
    def from_stage_item(cls, kind: Kind, item: str | int) -> "RunId":
        """What a foreach stage's ``--run`` gives (``5`` / ``n5`` / ``lora_n5``, ``left`` / ``dir_left``)."""
        text = str(item)
        if kind == "motion_lora":
            text = text.removeprefix(PREFIX[kind]).removeprefix("n")
            if not text.isdigit():
                raise ValueError(f"a MotionLoRA run is a number of videos, got {item!r}")
            return cls(kind, text)
        if kind == "direction_lora":
            return cls(kind, text.removeprefix(PREFIX[kind]))
        return cls(kind, text)


def seed_variant(name: str) -> tuple[str, int] | None:
    """``(variant, seed)`` of a metrics/run name, or None."""
    return RunId.parse(name).variant_seed


def study_runs(motion_runs: Iterable[str], lora_videos: Iterable[int] = (),
               directions: Iterable[str] = ()) -> list[RunId]:
    """Every sampled run of the study, in the order the pipeline runs them: ``train_motion.runs``, then
    ``train_motion_lora.n_videos``, then ``train_direction_lora.directions`` (the names only, so the
    run layout stays free of the params file)."""
    runs = [RunId("motion", r) for r in motion_runs]
    runs += [RunId("motion_lora", str(n)) for n in lora_videos]
    runs += [RunId("direction_lora", d) for d in directions]
    return runs


def check_known(run: RunId, runs: Iterable[RunId]) -> RunId:
    """``run`` if it is one of ``runs`` (:func:`study_runs`), else a ValueError naming them."""
    known = {r.name for r in runs}
    if run.name not in known:
        raise ValueError(f"unknown run {run.name!r}; params define: {', '.join(sorted(known))}")
    return run


SCALE_GLOB = "scale_*"  # every scale folder of a run
_SCALE = re.compile(r"^scale_?([0-9]*\.?[0-9]+)$")


def scale_name(scale: float | str) -> str:
    """``scale_1.0``: one adapter scale's samples folder under its run, and its metrics group; the scale
    written as a float, so ``1`` and ``1.0`` name one folder."""
    return f"scale_{float(scale)}"


def parse_scale(name: str) -> float | None:
    """The adapter scale :func:`scale_name` wrote into ``name`` (a folder, a metrics group or a key's path
    component; the underscore optional), None for any other name."""
    m = _SCALE.match(name)
    return float(m.group(1)) if m else None


def scale_folder(out_dir: str | Path, run: str, scale: float | str) -> Path:
    """``{out_dir}/{run}/scale_{s}``: where a sampler writes ``run``'s videos at adapter scale ``scale``."""
    return Path(out_dir) / run / scale_name(scale)


SPARSECTRL_PREFIX = "sparsectrl_"


def sparsectrl_name(variant: str) -> str:
    """``sparsectrl_{variant}``: the samples folder and metrics file stem of a SparseCtrl variant."""
    return f"{SPARSECTRL_PREFIX}{variant}"


def sparsectrl_variant(name: str) -> str | None:
    """The variant of a :func:`sparsectrl_name`, None for any other name."""
    variant = name.removeprefix(SPARSECTRL_PREFIX)
    return variant if variant != name and variant else None


KEYFRAMES_GLOB = "k*"  # every keyframe-count folder of a SparseCtrl variant's samples
_KEYFRAMES = re.compile(r"k(\d+)")


def keyframes_name(count: int) -> str:
    """``k{K}``: a SparseCtrl variant's samples with ``count`` keyframes, and their metrics group (the
    baseline's and the others' groups prefix it: ``baseline_k{K}``)."""
    return f"k{count}"


def parse_keyframes(name: str) -> int | None:
    """The keyframe count of a :func:`keyframes_name`, None for any other name (``baseline_k2`` included)."""
    m = _KEYFRAMES.fullmatch(name)
    return int(m.group(1)) if m else None
