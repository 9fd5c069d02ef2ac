"""Stage ``train_sparsectrl@{variant}``: one SparseCtrl encoder (``animatelab.sparsectrl.train``)."""

from __future__ import annotations

from animatelab.config import Params
from animatelab.stages.sparsectrl_checks import check_variant
from animatelab.tracking import stage_run


def frozen_video(params: Params):
    """The frozen video model the encoders steer: ``train_sparsectrl.motion_run`` on the base (+ adapter)."""
    from pathlib import Path

    from animatelab.models.scheduler import study_schedule
    from animatelab.sparsectrl.train import FrozenVideoModel

    run = params.train_sparsectrl.motion_run
    return FrozenVideoModel(params.base.path, Path(params.train_motion.out_dir) / run, params.train_adapter.out_dir,
                            params.train_motion.runs[run].with_adapter, study_schedule(params.base))


def run(params: Params, args) -> None:
    import mlflow

    from animatelab.sparsectrl.train import train_sparsectrl

    variant = check_variant(params, args.run)
    ts = params.train_sparsectrl
    logged = {"train_sparsectrl": {k: v for k, v in ts.model_dump(mode="json").items() if k != "variants"}
              | {"variant": ts.variants[variant].model_dump(mode="json")}}
    with stage_run("train_sparsectrl", logged, variant):
        summary = train_sparsectrl(ts, variant, frozen_video(params), encoded_dir=params.encode.out_dir,
                                   prepared_dir=params.prepare.out_dir, synth_resolution=params.synth_data.resolution)
        mlflow.log_metrics({k: float(summary[k]) for k in ("seconds", "seconds_per_step", "final_loss",
                                                              "trainable_parameters") if summary[k] is not None})
        mlflow.log_metrics({f"condition_sensitivity_{k}": v for k, v in summary["condition_sensitivity"].items()})
        mlflow.log_artifact(f"{ts.out_dir}/{variant}/train_summary.json")
