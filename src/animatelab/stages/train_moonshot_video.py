"""Stage ``train_moonshot_video``: MoonShot stage 2 (``animatelab.moonshot.train``)."""

from __future__ import annotations

from animatelab.config import Params, check_paths
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    import mlflow

    from animatelab.moonshot.train import train_moonshot_video

    check_paths(params, "train_moonshot_video")
    group = params.train_moonshot_video
    with stage_run("train_moonshot_video", {"train_moonshot_video": group.model_dump(mode="json")}):
        summary = train_moonshot_video(params)
        mlflow.log_metrics({k: float(summary[k]) for k in ("seconds", "seconds_per_step", "final_loss",
                                                              "trainable_parameters") if summary[k] is not None})
        mlflow.log_artifact(f"{group.out_dir}/train_summary.json")
