"""Stage ``evaluate_sparsectrl@{variant}``: ``metrics/sparsectrl_{variant}.json``.

Groups: ``k{K}`` (K keyframes), ``baseline_k{K}`` (the same prompts and initial noise without
control: ``samples/{motion_run}/scale_{adapter_scale}``, scored at the same frames),
``control_minus_baseline_k{K}`` (paired differences of the position errors) and ``real_heldout_k{K}``
(the keyframes' own clips, scored at the same frames: the tracker's error floor).
"""

from __future__ import annotations

import json
from pathlib import Path

from animatelab.config import Params, ParamsError
from animatelab.runs import KEYFRAMES_GLOB, scale_folder, scale_name, sparsectrl_name
from animatelab.stages.sparsectrl_checks import check_variant
from animatelab.tracking import stage_run


def _baseline(params: Params, prompts: list[dict]):
    import numpy as np

    folder = scale_folder(params.evaluate_sparsectrl.samples_dir, params.train_sparsectrl.motion_run,
                          params.sample_sparsectrl.adapter_scale)
    if not (folder / "videos.npy").is_file():
        raise ParamsError(f"evaluate_sparsectrl: no baseline {folder}/videos.npy (run sample@{params.train_sparsectrl.motion_run})")
    base = json.loads((folder / "prompts.json").read_text())[: len(prompts)]
    if [p["prompt"] for p in base] != [p["prompt"] for p in prompts]:
        raise ValueError(f"{folder}: its prompts are not the SparseCtrl samples' (sample params changed?)")
    return np.load(folder / "videos.npy")[: len(prompts)]


def _truth(params: Params, videoids: list):
    from animatelab.sparsectrl.scoring import load_truth
    from animatelab.eval.suite import load_clips

    clips, meta = load_clips(params.evaluate_sparsectrl.heldout_dir)
    where = {m["videoid"]: i for i, m in enumerate(meta)}
    take = [where[v] for v in videoids]
    return load_truth(params.evaluate_sparsectrl.synth_dir, clips[take], [meta[i] for i in take])


def sampled_conditioning_scale(folder: Path) -> float:
    """The ``controlnet_conditioning_scale`` the videos in ``folder/k*`` were sampled at (one for all)."""
    scales = {json.loads(f.read_text())["conditioning_scale"]
              for f in sorted(folder.glob(f"{KEYFRAMES_GLOB}/keyframes.json"))}
    if len(scales) != 1:
        raise ParamsError(f"{folder}: keyframe folders sampled at conditioning scales {sorted(scales)}, expected one")
    return float(scales.pop())


def score(params: Params, variant: str) -> dict[str, dict]:
    import numpy as np

    from animatelab.sparsectrl import scoring as sc

    p = params.evaluate_sparsectrl
    dirs = sorted((Path(p.samples_dir) / sparsectrl_name(variant)).glob(f"{KEYFRAMES_GLOB}/videos.npy"))
    if not dirs:
        raise ParamsError(f"evaluate_sparsectrl: no samples/{sparsectrl_name(variant)}/{KEYFRAMES_GLOB}/videos.npy")
    results: dict[str, dict] = {}
    for path in dirs:
        key, info = path.parent.name, json.loads((path.parent / "keyframes.json").read_text())
        videos, prompts = np.load(path), json.loads((path.parent / "prompts.json").read_text())
        truth = _truth(params, info["clips"])
        truth.clips = truth.clips[:, : videos.shape[1]]
        truth.positions = truth.positions[:, : videos.shape[1]]
        ours = sc.per_video(videos, truth, info["indices"])
        base = sc.per_video(_baseline(params, prompts), truth, info["indices"])
        results[key] = sc.summarise(ours, p.bootstrap, p.seed)
        results[f"baseline_{key}"] = sc.summarise(base, p.bootstrap, p.seed)
        results[f"control_minus_baseline_{key}"] = {
            m: sc.paired_difference(ours[m], base[m], p.bootstrap, p.seed) for m in ("pos_err_cond", "pos_err_free")}
        results[f"real_heldout_{key}"] = sc.summarise(sc.per_video(truth.clips, truth, info["indices"], pixels=False),
                                               p.bootstrap, p.seed)
    return results


def run(params: Params, args) -> None:
    import time

    from animatelab.eval.publish import publish_scores

    variant = check_variant(params, args.run)
    p = params.evaluate_sparsectrl
    with stage_run("evaluate_sparsectrl", p.model_dump(mode="json"), variant):
        start = time.perf_counter()
        results = score(params, variant)
        out = Path(p.out_dir) / f"{sparsectrl_name(variant)}.json"
        meta = {"variant": variant, "groups": list(results), "bootstrap": p.bootstrap, "seed": p.seed,
                "baseline": f"samples/{params.train_sparsectrl.motion_run}/{scale_name(params.sample_sparsectrl.adapter_scale)}",
                "conditioning_scale": sampled_conditioning_scale(Path(p.samples_dir) / sparsectrl_name(variant)),
                "seconds": round(time.perf_counter() - start, 2)}
        publish_scores(out, results, meta)
    print(f"evaluate_sparsectrl@{variant}: {len(results)} groups in {meta['seconds']:.1f}s -> {out}")
