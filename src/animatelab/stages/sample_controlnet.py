"""Stage ``sample_controlnet@{target}``: videos with the image ControlNet on every frame (no video training)."""

from __future__ import annotations

from animatelab.config import Params, check_paths
from animatelab.stages.controlnet_checks import check_target
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    from pathlib import Path

    from animatelab.controlnet.layout import CONTROL_FILE, EDGES_FILE, baseline_folder
    from animatelab.models.scheduler import study_schedule
    from animatelab.moonshot.sampling import MoonShotWeights
    from animatelab.sampling import StudyModels, log_sample_dir
    from animatelab.controlnet.sampling import sample_target

    target = check_target(params, args.run)
    check_paths(params, "sample_controlnet")
    group = {"sample_controlnet": params.sample_controlnet.model_dump(mode="json"),
             "sample": params.sample.model_dump(mode="json")}
    with stage_run("sample_controlnet", group, target):
        sc = params.sample_controlnet
        models = StudyModels(params.base.path, params.train_adapter.out_dir, study_schedule(params.base))
        weights = MoonShotWeights(params.train_moonshot_image.out_dir, params.train_moonshot_video.out_dir,
                                  params.train_moonshot_image.image_encoder)
        baseline = baseline_folder(sc.targets[target], sc.adapter_scale, params.sample.out_dir,
                                   params.sample_moonshot.out_dir)
        res = sample_target(sc, target, s=params.sample, models=models, motion_dir=params.train_motion.out_dir,
                            controlnet_dir=params.train_controlnet_image.out_dir, moonshot=params.sample_moonshot,
                            weights=weights, baseline=baseline)
        out = Path(res["dir"])
        log_sample_dir(out, out.name, params.sample.log_videos, ("prompts.json", CONTROL_FILE, EDGES_FILE), timings=res,
                       fps=params.sample.fps)
    print(f"sample_controlnet@{target}: {res['videos']} videos -> {out}")
