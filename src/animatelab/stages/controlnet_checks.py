"""``--run`` of the ControlNet sample/evaluate stages: a key of ``sample_controlnet.targets``."""

from __future__ import annotations

from animatelab.config import Params, ParamsError


def check_target(params: Params, target: str | None) -> str:
    targets = params.sample_controlnet.targets
    if target not in targets:
        raise ParamsError(f"--run: {target!r} is not a sample_controlnet target ({', '.join(targets)})")
    spec = targets[target]
    if spec.model == "animatediff" and spec.motion_run not in params.train_motion.runs:
        raise ParamsError(f"sample_controlnet.targets.{target}.motion_run: {spec.motion_run!r} is not a train_motion run")
    if spec.model == "moonshot" and spec.moonshot_mode not in params.sample_moonshot.modes:
        raise ParamsError(f"sample_controlnet.targets.{target}.moonshot_mode: {spec.moonshot_mode!r} is not a "
                          "sample_moonshot mode")
    if params.sample_controlnet.num_videos > params.sample.num_videos:
        raise ParamsError(f"sample_controlnet.num_videos ({params.sample_controlnet.num_videos}) must be <= "
                          f"sample.num_videos ({params.sample.num_videos}): the baseline is sample's first videos")
    return str(target)
