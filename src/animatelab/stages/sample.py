"""Stage ``sample@{run}``: AnimateDiffPipeline videos of a motion run (or ``lora_n{N}``) per adapter scale."""

from __future__ import annotations

from animatelab.config import Params, ParamsError, check_paths
from animatelab.tracking import stage_run


def study_models(params: Params):
    """The base, the domain adapter and the noise schedule every video sampler builds on."""
    from animatelab.models.scheduler import study_schedule
    from animatelab.sampling import StudyModels

    return StudyModels(params.base.path, params.train_adapter.out_dir, study_schedule(params.base))


def sample_spec(params: Params, run: str):
    """``run`` resolved against the runs the params define (``sampling.resolve_run``); KeyError otherwise."""
    from animatelab.sampling import resolve_run

    return resolve_run(run, motion_runs=params.train_motion.runs, motion_lora=params.train_motion_lora,
                       direction_lora=params.train_direction_lora, lora_motion=params.sample.lora_motion)


def run(params: Params, args) -> None:
    from pathlib import Path

    from animatelab.sampling import log_sample_dir, sample_run

    try:
        spec = sample_spec(params, str(args.run))
    except KeyError as err:
        raise ParamsError(f"--run: {err.args[0]}") from None
    check_paths(params, "sample")
    s = params.sample
    with stage_run("sample", {"sample": s.model_dump(mode="json")}, args.run):
        trained = params.train_motion.runs[spec.motion_run].objective if spec.motion_run in params.train_motion.runs else None
        results = sample_run(s, spec, study_models(params), params.train_motion.out_dir, trained)
        for key, res in results.items():
            log_sample_dir(Path(res["dir"]), key, s.log_videos, timings=res, metric_prefix=f"{key}.", fps=s.fps)
