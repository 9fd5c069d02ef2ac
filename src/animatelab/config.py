"""Loading ``params.yaml``: every stage reads its own group, validated before compute.

One pydantic model per DVC stage group, defined by domain in ``animatelab.schema`` and re-exported
here. ``extra="forbid"`` everywhere so a misspelt key is an
error rather than a silently ignored setting. ``load_params`` turns any validation failure into
a one-line :class:`ParamsError` that names the offending key.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError, model_validator

from animatelab.schema.base import (  # noqa: F401
    LoopParams, NoiseScheduleParams, ObjectiveParams, ParamsError, PositiveInt, Strict,
)
from animatelab.controlnet.schema import (  # noqa: F401
    ControlTarget,
    EvaluateControlNetParams,
    SampleControlNetParams,
    TrainControlNetImageParams,
)
from animatelab.schema.data import DatasetSpec, EncodeParams, PrepareParams, SynthDataParams  # noqa: F401
from animatelab.schema.evaluate import (  # noqa: F401
    EvaluateParams,
    FiguresParams,
    FreeInitParams,
    ProbeParams,
    SampleParams,
    TrainEvalModelsParams,
)
from animatelab.schema.models import (  # noqa: F401
    BaseModelParams,
    LoraParams,
    MotionModuleParams,
    PretrainBaseParams,
)
from animatelab.moonshot.schema import (  # noqa: F401
    EvaluateMoonShotParams,
    MoonShotMode,
    SampleMoonShotParams,
    TrainMoonShotImageParams,
    TrainMoonShotVideoParams,
)
from animatelab.sparsectrl.schema import (  # noqa: F401
    ConditionDraw,
    EvaluateSparseCtrlParams,
    SampleSparseCtrlParams,
    SparseCtrlVariant,
    TrainSparseCtrlParams,
)
from animatelab.schema.train import (  # noqa: F401
    MotionLoraTraining,
    MotionRun,
    TrainAdapterParams,
    TrainDirectionLoraParams,
    TrainMotionLoraParams,
    TrainMotionParams,
)


# --------------------------------------------------------------------------- the whole file
class Params(Strict):
    """Every group of a pipeline's params. The core's groups code no values: each pipeline's params file
    states every key (``params.yaml``, or ``experiments/webvid-sd15/params.yaml``; a study's file lays its
    own keys over the core's). A study-only group, absent from the core's file, keeps coded defaults."""

    synth_data: SynthDataParams
    prepare: PrepareParams
    base: BaseModelParams
    pretrain_base: PretrainBaseParams
    encode: EncodeParams
    train_adapter: TrainAdapterParams
    train_motion: TrainMotionParams
    train_motion_lora: TrainMotionLoraParams = TrainMotionLoraParams()
    train_direction_lora: TrainDirectionLoraParams = TrainDirectionLoraParams()
    sample: SampleParams
    train_eval_models: TrainEvalModelsParams
    evaluate: EvaluateParams
    probe: ProbeParams
    figures: FiguresParams
    train_sparsectrl: TrainSparseCtrlParams = TrainSparseCtrlParams()
    sample_sparsectrl: SampleSparseCtrlParams = SampleSparseCtrlParams()
    evaluate_sparsectrl: EvaluateSparseCtrlParams = EvaluateSparseCtrlParams()
    train_moonshot_image: TrainMoonShotImageParams = TrainMoonShotImageParams()
    train_moonshot_video: TrainMoonShotVideoParams = TrainMoonShotVideoParams()
    sample_moonshot: SampleMoonShotParams = SampleMoonShotParams()
    evaluate_moonshot: EvaluateMoonShotParams = EvaluateMoonShotParams()
    train_controlnet_image: TrainControlNetImageParams = TrainControlNetImageParams()
    sample_controlnet: SampleControlNetParams = SampleControlNetParams()
    evaluate_controlnet: EvaluateControlNetParams = EvaluateControlNetParams()

    @model_validator(mode="after")
    def _check_run_names(self) -> "Params":
        # a misspelt probe run would only show up as "missing" after the probes ran
        unknown = [r for r in self.probe.runs or [] if r not in self.train_motion.runs]
        if unknown:
            raise ValueError(f"probe.runs: {unknown} are not train_motion runs ({', '.join(self.train_motion.runs)})")
        return self


def _format_error(source: str, err: ValidationError) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "<root>"
    got = first.get("input")
    shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
    more = f" [+{err.error_count() - 1} more]" if err.error_count() > 1 else ""
    msg = first["msg"].removeprefix("Value error, ")
    return f"{source}: {key}: {msg}{shown}{more}"


def _apply_override(data: dict[str, Any], assignment: str) -> None:
    """``a.b.c=value`` with ``value`` parsed as YAML, like ``dvc exp run -S``."""
    if "=" not in assignment:
        raise ParamsError(f"override {assignment!r}: expected key=value")
    key, raw = assignment.split("=", 1)
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ParamsError(f"override {assignment!r}: {part} is not a group")
    node[parts[-1]] = yaml.safe_load(raw)


def parse_params(data: dict[str, Any], source: str = "params") -> Params:
    try:
        return Params.model_validate(data)
    except ValidationError as err:
        raise ParamsError(_format_error(source, err)) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: top level must be a mapping of stage groups")
    return data


# the study pipelines on the embedded default: experiments/<study>/dvc.yaml + params.yaml (`make repro-all`)
STUDIES = ("motion-design", "motionlora", "prompt-motion", "sparsectrl", "moonshot", "motion-world", "motion-learning")


def merge_groups(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` laid over ``base`` key by key (mappings merge, anything else, lists included, is replaced).

    A study's params file adds its own groups and extends shared ones (e.g. its own
    ``train_motion.runs`` beside the core's) without repeating the core's values.
    """
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_groups(out[key], value)
        else:
            out[key] = value
    return out


def load_params(path: str | Path | Sequence[str | Path] = "params.yaml", overrides: list[str] | None = None) -> Params:
    """Validate one params file, or several merged in order (the core's ``params.yaml``, then a study's)."""
    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    data: dict[str, Any] = {}
    for p in paths:
        data = merge_groups(data, _read_yaml(p))
    for assignment in overrides or []:
        _apply_override(data, assignment)
    return parse_params(data, " + ".join(str(p) for p in paths))


def study_params_files(study: str, root: str | Path = ".") -> list[Path]:
    """The params files a study pipeline's stages read: the core's, then ``experiments/<study>/params.yaml``."""
    root = Path(root)
    return [root / "params.yaml", root / "experiments" / study / "params.yaml"]


# --------------------------------------------------------------------------- input paths
def required_paths(params: Params, stage: str) -> dict[str, str]:
    """Param key -> local path that ``stage`` reads and that no earlier stage of it writes.

    These are the external inputs (videos, CSVs, base model, evaluation weights); real runs
    point them at local folders, so a typo must fail before any compute, naming the key.
    """
    paths: dict[str, str] = {}
    if stage == "prepare":
        for i, ds in enumerate(params.prepare.datasets):
            paths[f"prepare.datasets.{i}.csv"] = ds.csv
            paths[f"prepare.datasets.{i}.video_dir"] = ds.video_dir
    if stage in {"encode", "train_adapter", "train_motion", "train_motion_lora", "train_direction_lora", "sample", "probe"}:
        paths["base.path"] = params.base.path
    if stage in {"train_controlnet_image", "sample_controlnet"}:
        paths["base.path"] = params.base.path
    if stage in {"train_moonshot_image", "train_moonshot_video", "sample_moonshot"}:
        paths["base.path"] = params.base.path
        paths["train_moonshot_image.image_encoder"] = params.train_moonshot_image.image_encoder
    if stage in {"evaluate", "evaluate_moonshot", "evaluate_controlnet"}:
        ev = params.evaluate
        net = {"i3d": "i3d_path", "videomae": "videomae_path"}.get(ev.fvd_backbone, "video_net")
        paths[f"evaluate.{net}"] = getattr(ev, net)
        paths["evaluate.clip"] = ev.clip
    return paths


def check_paths(params: Params, stage: str) -> None:
    """Raise :class:`ParamsError` naming the first missing input path of ``stage``."""
    for key, value in required_paths(params, stage).items():
        if not Path(value).exists():
            raise ParamsError(f"{key}: path not found: {value} (needed by {stage}; cwd {Path.cwd()})")
