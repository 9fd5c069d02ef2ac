"""Stage ``train_motion_lora@{N}``: MotionLoRA on the first N camera-motion clips."""

from __future__ import annotations

from animatelab.config import Params, ParamsError, check_paths
from animatelab.runs import RunId
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    import mlflow

    from animatelab.models.scheduler import study_schedule
    from animatelab.train.motion_lora import train_motion_lora

    p = params.train_motion_lora
    try:
        n = RunId.from_stage_item("motion_lora", args.run).n_videos
    except ValueError:
        n = -1
    if n not in p.n_videos:
        raise ParamsError(f"--run must be one of train_motion_lora.n_videos {p.n_videos}, got {args.run!r}")
    check_paths(params, "train_motion_lora")
    with stage_run("train_motion_lora", {"train_motion_lora": p.model_dump(mode="json")},
                   RunId("motion_lora", str(n)).train_folder):
        summary = train_motion_lora(p, n, motion=params.train_motion, encoded_dir=params.encode.out_dir,
                                    base_path=params.base.path, adapter_dir=params.train_adapter.out_dir,
                                    schedule=study_schedule(params.base))
        mlflow.log_metrics({k: float(summary[k]) for k in ("seconds", "final_loss") if summary[k] is not None})
