"""Stage ``train_controlnet_image``: the image ControlNet on the base (``animatelab.controlnet.train``)."""

from __future__ import annotations

from animatelab.config import Params, check_paths
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    import mlflow

    from animatelab.controlnet.train import train_controlnet_image
    from animatelab.models.scheduler import study_schedule

    check_paths(params, "train_controlnet_image")
    group = params.train_controlnet_image
    with stage_run("train_controlnet_image", {"train_controlnet_image": group.model_dump(mode="json")}):
        summary = train_controlnet_image(group, base_path=params.base.path, schedule=study_schedule(params.base))
        mlflow.log_metrics({k: float(summary[k]) for k in ("seconds", "seconds_per_step", "final_loss",
                                                              "trainable_parameters") if summary[k] is not None})
        mlflow.log_artifact(f"{group.out_dir}/train_summary.json")
