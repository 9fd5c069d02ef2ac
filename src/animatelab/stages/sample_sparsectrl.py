"""Stage ``sample_sparsectrl@{variant}``: keyframe-conditioned videos per keyframe count."""

from __future__ import annotations

from animatelab.config import Params, ParamsError
from animatelab.stages.sparsectrl_checks import check_variant
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    from pathlib import Path

    from animatelab.models.scheduler import study_schedule
    from animatelab.sampling import StudyModels, log_sample_dir
    from animatelab.sparsectrl.sampling import sample_variant

    variant = check_variant(params, args.run)
    ss = params.sample_sparsectrl
    if ss.num_videos > params.sample.num_videos:
        raise ParamsError(f"sample_sparsectrl.num_videos ({ss.num_videos}) must be <= sample.num_videos "
                          f"({params.sample.num_videos}): the no-control baseline is sample's first videos")
    if max(ss.keyframes_for(variant)) > params.sample.frames:
        raise ParamsError(f"sample_sparsectrl keyframes {ss.keyframes_for(variant)} exceed sample.frames")
    with stage_run("sample_sparsectrl", {"sample_sparsectrl": ss.model_dump(mode="json")}, variant):
        ts = params.train_sparsectrl
        models = StudyModels(params.base.path, params.train_adapter.out_dir, study_schedule(params.base))
        results = sample_variant(ss, variant, s=params.sample, models=models,
                                 motion_dir=Path(params.train_motion.out_dir) / ts.motion_run,
                                 encoder_dir=Path(ts.out_dir) / variant, synth_dir=ts.synth_dir,
                                 synth_resolution=params.synth_data.resolution)
        for key, res in results.items():
            log_sample_dir(Path(res["dir"]), key, params.sample.log_videos, ("prompts.json", "keyframes.json"),
                           timings=res, metric_prefix=f"{key}.", fps=params.sample.fps)
