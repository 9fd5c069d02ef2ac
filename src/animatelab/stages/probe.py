"""Stage ``probe``: RQ1 "why" measurements on every motion run (see ``animatelab.probes``)."""

from __future__ import annotations

from animatelab.config import Params, check_paths
from animatelab.tracking import flatten, stage_run


def run(params: Params, args) -> None:
    import mlflow

    from animatelab.probes.run import run_probes

    check_paths(params, "probe")
    with stage_run("probe", {"probe": params.probe.model_dump(), "base": params.base.model_dump()}, args.run):
        results = run_probes(params)
        metrics = {
            f"{probe}.{run}.{key}": value["mean"]
            for probe, per_run in results.items()
            for run, values in per_run.items()
            for key, value in values.items()
        }
        mlflow.log_metrics({k: v for k, v in flatten(metrics).items() if v == v})
        mlflow.log_artifacts(params.probe.out_dir, "probes")
