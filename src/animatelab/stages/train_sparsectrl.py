"""Stage ``train_sparsectrl@{variant}``: one SparseCtrl encoder (``animatelab.sparsectrl.train``)."""

from __future__ import annotations

from animatelab.config import Params
from animatelab.stages.sparsectrl_checks import check_variant
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    import mlflow

    from animatelab.sparsectrl.train import train_sparsectrl

    variant = check_variant(params, args.run)
    ts = params.train_sparsectrl
    logged = {"train_sparsectrl": {k: v for k, v in ts.model_dump(mode="json").items() if k != "variants"}
              | {"variant": ts.variants[variant].model_dump(mode="json")}}
    with stage_run("train_sparsectrl", logged, variant):
        summary = train_sparsectrl(params, variant)
        mlflow.log_metrics({k: float(summary[k]) for k in ("seconds", "seconds_per_step", "final_loss",
                                                              "trainable_parameters") if summary[k] is not None})
        mlflow.log_metrics({f"condition_sensitivity_{k}": v for k, v in summary["condition_sensitivity"].items()})
        mlflow.log_artifact(f"{ts.out_dir}/{variant}/train_summary.json")
