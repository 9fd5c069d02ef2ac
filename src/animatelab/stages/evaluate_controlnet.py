"""Stage ``evaluate_controlnet@{target}``: ``{evaluate_controlnet.out_dir}/{target}.json``.

Groups: ``scale_{s}`` (the ControlNet-guided samples: every ``evaluate`` metric, with ``evaluate``'s
params, plus edge agreement with the condition edges), ``uncontrolled`` (the same for the first
``num_videos`` of the baseline folder: same prompts, seeds and initial noise, no ControlNet, scored
against the same condition edges) and ``controlled_minus_uncontrolled`` (paired differences of the
edge metrics). The baseline's prompts and seeds are checked against the controlled samples'.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from animatelab.config import Params, ParamsError, check_paths
from animatelab.stages.controlnet_checks import check_target
from animatelab.tracking import stage_run


def load_baseline(params: Params, target: str, prompts: list[dict], control: dict):
    """``(videos, latents or None)``: the first ``len(prompts)`` uncontrolled videos, after checking
    that they are the same prompts from the same seeds."""
    import numpy as np

    from animatelab.controlnet.layout import baseline_folder
    from animatelab.stages.evaluate import load_latents

    sc = params.sample_controlnet
    folder = baseline_folder(sc.targets[target], sc.adapter_scale, params.sample.out_dir,
                             params.sample_moonshot.out_dir)
    if not (folder / "videos.npy").is_file():
        raise ParamsError(f"evaluate_controlnet: no baseline {folder}/videos.npy (the uncontrolled samples)")
    base = json.loads((folder / "prompts.json").read_text())[: len(prompts)]
    if base != prompts:
        raise ValueError(f"{folder}: its prompts are not the ControlNet samples' (sample params changed?)")
    seeds = [params.sample.seed + i for i in range(len(prompts))]  # what sample / sample_moonshot use
    if control["seeds"] != seeds:
        raise ValueError(f"ControlNet samples drawn from seeds {control['seeds'][:3]}..., the baseline from {seeds[:3]}...")
    latents = load_latents(folder, params.evaluate)
    return np.load(folder / "videos.npy")[: len(prompts)], None if latents is None else latents[: len(prompts)]


def score(params: Params, target: str) -> tuple[dict[str, dict], dict]:
    import numpy as np

    from animatelab.controlnet.layout import CONTROL_FILE, EDGES_FILE
    from animatelab.eval.suite import build_reference, score_videos
    from animatelab.controlnet.scoring import paired, summarise, video_edge_agreement
    from animatelab.stages.evaluate import load_latents, scale_dirs

    p, pc = params.evaluate, params.evaluate_controlnet
    dirs = scale_dirs(pc.samples_dir, target)
    frames = int(np.load(dirs[0] / "videos.npy", mmap_mode="r").shape[1])
    ref = build_reference(p, frames)
    thresholds = tuple(params.train_controlnet_image.canny_thresholds)
    results: dict[str, dict] = {}
    for d in dirs:
        videos, prompts = np.load(d / "videos.npy"), json.loads((d / "prompts.json").read_text())
        if len(prompts) != len(videos):
            raise ValueError(f"{d}: {len(videos)} videos but {len(prompts)} prompts")
        control = json.loads((d / CONTROL_FILE).read_text())
        with np.load(d / EDGES_FILE) as z:
            edges = z["edges"]
        base_videos, base_latents = load_baseline(params, target, prompts, control)
        ours = video_edge_agreement(videos, edges, thresholds, pc.edge_tolerance)
        base = video_edge_agreement(base_videos, edges, thresholds, pc.edge_tolerance)
        results[d.name] = {**score_videos(ref, videos, prompts, p, latents=load_latents(d, p)),
                           **summarise(ours, p.bootstrap, p.seed)}
        results["uncontrolled"] = {**score_videos(ref, base_videos, prompts, p, latents=base_latents),
                                   **summarise(base, p.bootstrap, p.seed)}
        results["controlled_minus_uncontrolled"] = paired(ours, base, p.bootstrap, p.seed)
    meta = {**ref.meta, "target": target, "scales": [d.name for d in dirs], "frames": frames,
            "baseline": json.loads((dirs[0] / CONTROL_FILE).read_text())["baseline"],
            "edge_tolerance_px": pc.edge_tolerance, "canny_thresholds": list(thresholds),
            "bootstrap": p.bootstrap, "seed": p.seed}
    return results, meta


def run(params: Params, args) -> None:
    from animatelab.eval.publish import publish_scores

    target = check_target(params, args.run)
    check_paths(params, "evaluate_controlnet")
    pc = params.evaluate_controlnet
    group = {"evaluate": params.evaluate.model_dump(mode="json"), "evaluate_controlnet": pc.model_dump(mode="json")}
    with stage_run("evaluate_controlnet", group, target):
        start = time.perf_counter()
        results, meta = score(params, target)
        seconds = round(time.perf_counter() - start, 2)
        out = Path(pc.out_dir) / f"{target}.json"
        publish_scores(out, results, {**meta, "seconds": seconds})
    print(f"evaluate_controlnet@{target}: {len(results)} groups in {seconds:.1f}s -> {out}")
