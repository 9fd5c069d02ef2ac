"""Stage ``train_direction_lora@{name}`` (RQ5): a MotionLoRA on the clips of one motion direction."""

from __future__ import annotations

from animatelab.config import Params, ParamsError, check_paths
from animatelab.runs import RunId
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    import mlflow

    from animatelab.models.scheduler import study_schedule
    from animatelab.train.motion_lora import train_direction_lora

    p = params.train_direction_lora
    name = RunId.from_stage_item("direction_lora", args.run).key
    if name not in p.directions:
        raise ParamsError(f"--run must be one of train_direction_lora.directions {list(p.directions)}, got {args.run!r}")
    check_paths(params, "train_direction_lora")
    with stage_run("train_direction_lora", {"train_direction_lora": p.model_dump(mode="json")}, name):
        summary = train_direction_lora(p, name, motion=params.train_motion, encoded_dir=params.encode.out_dir,
                                       base_path=params.base.path, adapter_dir=params.train_adapter.out_dir,
                                       schedule=study_schedule(params.base))
        mlflow.log_metrics({k: float(summary[k]) for k in ("seconds", "final_loss", "n_videos") if summary[k] is not None})
