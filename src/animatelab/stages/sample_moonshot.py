"""Stage ``sample_moonshot@{mode}``: MoonShot videos of one mode on the sample stage's prompts and seeds."""

from __future__ import annotations

from animatelab.config import Params, check_paths
from animatelab.stages.moonshot_checks import check_mode
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    from pathlib import Path

    import mlflow
    import numpy as np
    from PIL import Image

    from animatelab.moonshot_layout import CONDITION_FILE, MODE_FILE
    from animatelab.sampling import frame_grid
    from animatelab.sampling_moonshot import sample_mode

    mode = check_mode(params, args.run)
    check_paths(params, "sample_moonshot")
    group = {"sample_moonshot": params.sample_moonshot.model_dump(mode="json"),
             "sample": params.sample.model_dump(mode="json")}
    with stage_run("sample_moonshot", group, mode):
        res = sample_mode(params, mode)
        out = Path(res["dir"])
        mlflow.log_metrics({k: v for k, v in res.items() if k.endswith("seconds")})
        videos = np.load(out / "videos.npy")
        grid = out.parent / f"grid_{out.name}.png"
        Image.fromarray(frame_grid(videos)).save(grid)
        mlflow.log_artifact(str(grid), "grids")
        for i in range(min(params.sample.log_videos, len(videos))):
            mlflow.log_artifact(str(out / "mp4" / f"{i:03d}.mp4"), f"{out.name}/mp4")
            mlflow.log_artifact(str(out / "gif" / f"{i:03d}.gif"), f"{out.name}/gif")
        for name in ("prompts.json", MODE_FILE, CONDITION_FILE):
            mlflow.log_artifact(str(out / name), out.name)
    print(f"sample_moonshot@{mode}: {res['videos']} videos -> {out}")
