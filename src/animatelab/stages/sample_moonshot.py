"""Stage ``sample_moonshot@{mode}``: MoonShot videos of one mode on the sample stage's prompts and seeds."""

from __future__ import annotations

from animatelab.config import Params, check_paths
from animatelab.stages.moonshot_checks import check_mode
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    from pathlib import Path

    from animatelab.moonshot.layout import CONDITION_FILE, MODE_FILE
    from animatelab.sampling import log_sample_dir
    from animatelab.moonshot.sampling import sample_mode

    mode = check_mode(params, args.run)
    check_paths(params, "sample_moonshot")
    group = {"sample_moonshot": params.sample_moonshot.model_dump(mode="json"),
             "sample": params.sample.model_dump(mode="json")}
    with stage_run("sample_moonshot", group, mode):
        res = sample_mode(params, mode)
        out = Path(res["dir"])
        log_sample_dir(out, out.name, params.sample.log_videos, ("prompts.json", MODE_FILE, CONDITION_FILE), timings=res,
                       fps=params.sample.fps)
    print(f"sample_moonshot@{mode}: {res['videos']} videos -> {out}")
