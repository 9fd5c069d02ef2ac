"""Stage ``sample@{run}``: AnimateDiffPipeline videos of a motion run (or ``lora_n{N}``) per adapter scale."""

from __future__ import annotations

from animatelab.config import Params, ParamsError, check_paths
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    from pathlib import Path

    from animatelab.sampling import log_sample_dir, resolve_run, sample_run

    try:
        resolve_run(params, str(args.run))
    except KeyError as err:
        raise ParamsError(f"--run: {err.args[0]}") from None
    check_paths(params, "sample")
    s = params.sample
    with stage_run("sample", {"sample": s.model_dump(mode="json")}, args.run):
        results = sample_run(params, args.run)
        for key, res in results.items():
            log_sample_dir(Path(res["dir"]), key, s.log_videos, timings=res, metric_prefix=f"{key}.", fps=s.fps)
