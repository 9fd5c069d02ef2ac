"""Stage ``sample_controlnet@{target}``: videos with the image ControlNet on every frame (no video training)."""

from __future__ import annotations

from animatelab.config import Params, check_paths
from animatelab.stages.controlnet_checks import check_target
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    from pathlib import Path

    from animatelab.controlnet.layout import CONTROL_FILE, EDGES_FILE
    from animatelab.sampling import log_sample_dir
    from animatelab.controlnet.sampling import sample_target

    target = check_target(params, args.run)
    check_paths(params, "sample_controlnet")
    group = {"sample_controlnet": params.sample_controlnet.model_dump(mode="json"),
             "sample": params.sample.model_dump(mode="json")}
    with stage_run("sample_controlnet", group, target):
        res = sample_target(params, target)
        out = Path(res["dir"])
        log_sample_dir(out, out.name, params.sample.log_videos, ("prompts.json", CONTROL_FILE, EDGES_FILE), timings=res,
                       fps=params.sample.fps)
    print(f"sample_controlnet@{target}: {res['videos']} videos -> {out}")
