"""Stage ``train_moonshot_video``: MoonShot stage 2 (``animatelab.moonshot.train``)."""

from __future__ import annotations

from animatelab.config import Params, check_paths
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    import mlflow

    from animatelab.models.scheduler import study_schedule
    from animatelab.moonshot.train import train_moonshot_video

    check_paths(params, "train_moonshot_video")
    group = params.train_moonshot_video
    with stage_run("train_moonshot_video", {"train_moonshot_video": group.model_dump(mode="json")}):
        summary = train_moonshot_video(
            group, image_dir=params.train_moonshot_image.out_dir, image_encoder=params.train_moonshot_image.image_encoder,
            encoded_dir=params.encode.out_dir, prepared_dir=params.prepare.out_dir, base_path=params.base.path,
            adapter_dir=params.train_adapter.out_dir, schedule=study_schedule(params.base))
        mlflow.log_metrics({k: float(summary[k]) for k in ("seconds", "seconds_per_step", "final_loss",
                                                              "trainable_parameters") if summary[k] is not None})
        mlflow.log_artifact(f"{group.out_dir}/train_summary.json")
