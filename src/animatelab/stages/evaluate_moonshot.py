"""Stage ``evaluate_moonshot@{mode}``: ``{evaluate_moonshot.out_dir}/{mode}.json``.

The layout and every metric of ``evaluate`` (same functions, same ``evaluate`` params, so the numbers
sit beside AnimateDiff's ``metrics/{run}.json``): ``{"scale_{s}": {...}, "real_heldout": {...}}``, plus
first-frame fidelity and identity (``animatelab.moonshot.scoring``). ``real_heldout`` gets the
identity scores of the held-out clips against their own frame 0 (what real video keeps).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from animatelab.config import Params, check_paths
from animatelab.stages.moonshot_checks import check_mode
from animatelab.tracking import stage_run


def score_folder(ref, folder: Path, p) -> dict[str, dict]:
    """Every ``evaluate`` metric of one samples folder plus the MoonShot measures of ``condition.npz``."""
    import numpy as np

    from animatelab.eval.suite import score_videos
    from animatelab.moonshot.layout import CONDITION_FILE
    from animatelab.moonshot.scoring import first_frame_fidelity, identity
    from animatelab.stages.evaluate import load_latents

    videos = np.load(folder / "videos.npy")
    prompts = json.loads((folder / "prompts.json").read_text())
    if len(prompts) != len(videos):
        raise ValueError(f"{folder}: {len(videos)} videos but {len(prompts)} prompts")
    out = score_videos(ref, videos, prompts, p, latents=load_latents(folder, p))
    with np.load(folder / CONDITION_FILE) as z:
        frames, recon = z["frames"], z["reconstruction"]
    out.update(first_frame_fidelity(videos, frames, recon, p))
    out.update(identity(ref, videos, frames, prompts, p))
    return out


def run(params: Params, args) -> None:
    import mlflow
    import numpy as np

    from animatelab.eval.publish import publish_scores
    from animatelab.eval.suite import build_reference, real_heldout_set, score_videos
    from animatelab.moonshot.scoring import identity
    from animatelab.stages.evaluate import real_heldout_latents, scale_dirs

    mode = check_mode(params, args.run)
    check_paths(params, "evaluate_moonshot")
    p, pm = params.evaluate, params.evaluate_moonshot
    dirs = scale_dirs(pm.samples_dir, mode)
    frames = int(np.load(dirs[0] / "videos.npy", mmap_mode="r").shape[1])
    group = {"evaluate": p.model_dump(mode="json"), "evaluate_moonshot": pm.model_dump(mode="json")}
    with stage_run("evaluate_moonshot", group, mode):
        start = time.perf_counter()
        ref = build_reference(p, frames)
        results = {d.name: score_folder(ref, d, p) for d in dirs}
        if p.synthetic_ground_truth:
            clips, prompts = real_heldout_set(p, frames)
            latents = real_heldout_latents(p, len(clips))
            latents = latents if latents is not None and len(latents) == len(clips) else None
            results["real_heldout"] = {**score_videos(ref, clips, prompts, p, latents=latents),
                                       **identity(ref, clips, clips[:, 0], prompts, p)}
        out = Path(pm.out_dir) / f"{mode}.json"
        seconds = round(time.perf_counter() - start, 2)
        meta = {**ref.meta, "mode": mode, "scales": [d.name for d in dirs], "frames": frames,
                "bootstrap": p.bootstrap, "seed": p.seed,
                "first_frame_reference": "frame 0 of each prompt's held-out clip (condition.npz)", "seconds": seconds}
        mlflow.set_tags({f"eval.{k}": str(v)[:250] for k, v in ref.meta.items()})
        publish_scores(out, results, meta)
    print(f"evaluate_moonshot@{mode}: {len(dirs)} scale(s) in {seconds:.1f}s -> {out}")
