"""Stage ``sample_controlnet@{target}``: videos with the image ControlNet on every frame (no video training)."""

from __future__ import annotations

from animatelab.config import Params, check_paths
from animatelab.stages.controlnet_checks import check_target
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    from pathlib import Path

    import mlflow
    import numpy as np
    from PIL import Image

    from animatelab.controlnet_layout import CONTROL_FILE, EDGES_FILE
    from animatelab.sampling import frame_grid
    from animatelab.sampling_controlnet import sample_target

    target = check_target(params, args.run)
    check_paths(params, "sample_controlnet")
    group = {"sample_controlnet": params.sample_controlnet.model_dump(mode="json"),
             "sample": params.sample.model_dump(mode="json")}
    with stage_run("sample_controlnet", group, target):
        res = sample_target(params, target)
        out = Path(res["dir"])
        mlflow.log_metrics({k: v for k, v in res.items() if k.endswith("seconds")})
        videos = np.load(out / "videos.npy")
        grid = out.parent / f"grid_{out.name}.png"
        Image.fromarray(frame_grid(videos)).save(grid)
        mlflow.log_artifact(str(grid), "grids")
        for i in range(min(params.sample.log_videos, len(videos))):
            mlflow.log_artifact(str(out / "mp4" / f"{i:03d}.mp4"), f"{out.name}/mp4")
            mlflow.log_artifact(str(out / "gif" / f"{i:03d}.gif"), f"{out.name}/gif")
        for name in ("prompts.json", CONTROL_FILE, EDGES_FILE):
            mlflow.log_artifact(str(out / name), out.name)
    print(f"sample_controlnet@{target}: {res['videos']} videos -> {out}")
