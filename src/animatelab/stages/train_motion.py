"""Stage ``train_motion@{run}``: one motion module (``animatelab.train.motion``)."""

from __future__ import annotations

from animatelab.config import Params, ParamsError, check_paths
from animatelab.parallel import is_main_process, launch_local, stage_argv, world_size
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    import mlflow

    from animatelab.models.scheduler import study_schedule
    from animatelab.train.motion import train_motion

    tm = params.train_motion
    if args.run is None or args.run not in tm.runs:
        raise ParamsError(f"--run must name one of train_motion.runs ({', '.join(tm.runs)}), got {args.run!r}")
    check_paths(params, "train_motion")
    logged = {"train_motion": {k: v for k, v in tm.model_dump(mode="json").items() if k != "runs"}
              | {"run": tm.runs[args.run].model_dump(mode="json")}, "base": params.base.model_dump()}
    if tm.processes > 1 and world_size() == 1 and tm.runs[args.run].steps != 0:  # DDP; rank 0 logs, writes
        launch_local(stage_argv("train_motion", args), tm.processes, tm.threads, distributed=True)
        return

    def train() -> dict:
        return train_motion(tm, args.run, encoded_dir=params.encode.out_dir, base_path=params.base.path,
                            adapter_dir=params.train_adapter.out_dir, schedule=study_schedule(params.base))

    if not is_main_process():
        train()
        return
    with stage_run("train_motion", logged, args.run):
        summary = train()
        mlflow.log_metrics({k: float(summary[k]) for k in ("seconds", "seconds_per_step", "final_loss",
                                                              "trainable_parameters") if summary[k] is not None})
        mlflow.log_artifact(f"{tm.out_dir}/{args.run}/train_summary.json")
