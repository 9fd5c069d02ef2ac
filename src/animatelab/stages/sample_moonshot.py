"""Stage ``sample_moonshot@{mode}``: MoonShot videos of one mode on the sample stage's prompts and seeds."""

from __future__ import annotations

from animatelab.config import Params, check_paths
from animatelab.stages.moonshot_checks import check_mode
from animatelab.tracking import stage_run


def moonshot_weights(params: Params):
    """The trained MoonShot stages and the CLIP image encoder a MoonShot sampler loads."""
    from animatelab.moonshot.sampling import MoonShotWeights

    return MoonShotWeights(params.train_moonshot_image.out_dir, params.train_moonshot_video.out_dir,
                           params.train_moonshot_image.image_encoder)


def run(params: Params, args) -> None:
    from pathlib import Path

    from animatelab.moonshot.layout import CONDITION_FILE, MODE_FILE
    from animatelab.models.scheduler import study_schedule
    from animatelab.sampling import StudyModels, log_sample_dir
    from animatelab.moonshot.sampling import sample_mode

    mode = check_mode(params, args.run)
    check_paths(params, "sample_moonshot")
    group = {"sample_moonshot": params.sample_moonshot.model_dump(mode="json"),
             "sample": params.sample.model_dump(mode="json")}
    with stage_run("sample_moonshot", group, mode):
        models = StudyModels(params.base.path, params.train_adapter.out_dir, study_schedule(params.base))
        res = sample_mode(params.sample_moonshot, mode, s=params.sample, models=models,
                          weights=moonshot_weights(params))
        out = Path(res["dir"])
        log_sample_dir(out, out.name, params.sample.log_videos, ("prompts.json", MODE_FILE, CONDITION_FILE), timings=res,
                       fps=params.sample.fps)
    print(f"sample_moonshot@{mode}: {res['videos']} videos -> {out}")
