"""Stage ``sample@{run}``: AnimateDiffPipeline videos of a motion run (or ``lora_n{N}``) per adapter scale."""

from __future__ import annotations

from animatelab.config import Params, ParamsError, check_paths
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    from pathlib import Path

    import mlflow
    import numpy as np
    from PIL import Image

    from animatelab.sampling import frame_grid, resolve_run, sample_run

    try:
        resolve_run(params, str(args.run))
    except KeyError as err:
        raise ParamsError(f"--run: {err.args[0]}") from None
    check_paths(params, "sample")
    s = params.sample
    with stage_run("sample", {"sample": s.model_dump(mode="json")}, args.run):
        results = sample_run(params, args.run)
        for key, res in results.items():
            out = Path(res["dir"])
            mlflow.log_metrics({f"{key}.{k}": v for k, v in res.items() if k.endswith("seconds")})
            videos = np.load(out / "videos.npy")
            grid = out.parent / f"grid_{key}.png"
            Image.fromarray(frame_grid(videos)).save(grid)
            mlflow.log_artifact(str(grid), "grids")
            for i in range(min(s.log_videos, len(videos))):
                mlflow.log_artifact(str(out / "mp4" / f"{i:03d}.mp4"), f"{key}/mp4")
                mlflow.log_artifact(str(out / "gif" / f"{i:03d}.gif"), f"{key}/gif")
            mlflow.log_artifact(str(out / "prompts.json"), key)
