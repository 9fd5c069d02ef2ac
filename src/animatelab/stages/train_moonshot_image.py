"""Stage ``train_moonshot_image``: MoonShot stage 1 (``animatelab.moonshot.train``)."""

from __future__ import annotations

from animatelab.config import Params, check_paths
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    import mlflow

    from animatelab.models.scheduler import study_schedule
    from animatelab.moonshot.train import train_moonshot_image

    check_paths(params, "train_moonshot_image")
    group = params.train_moonshot_image
    with stage_run("train_moonshot_image", {"train_moonshot_image": group.model_dump(mode="json")}):
        summary = train_moonshot_image(group, base_path=params.base.path, schedule=study_schedule(params.base))
        mlflow.log_metrics({k: float(summary[k]) for k in ("seconds", "seconds_per_step", "final_loss",
                                                              "trainable_parameters") if summary[k] is not None})
        mlflow.log_artifact(f"{group.out_dir}/train_summary.json")
