"""Stage ``train_eval_models`` (embedded default only): the feature net behind ``fvd_synth`` and a
tiny CLIP, trained on the synthetic training split; held-out accuracies logged and saved."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from animatelab.config import Params
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    import mlflow
    import numpy as np
    import torch

    from animatelab.eval import eval_models as em
    from animatelab.eval.features import SynthVideoNetConfig
    from animatelab.utils import seed_everything, write_json

    p = params.train_eval_models
    torch.set_num_threads(p.threads)
    seed_everything(p.seed)
    out = Path(p.out_dir)
    synth = Path(p.synth_dir)
    truth = json.loads((synth / "ground_truth.json").read_text())
    with stage_run("train_eval_models", p.model_dump(mode="json"), getattr(args, "run", None)):
        start = time.perf_counter()
        train = em.load_labelled_clips(p.train_dir, truth)
        heldout = em.load_labelled_clips(p.heldout_dir, truth)

        config = SynthVideoNetConfig(resolution=train.frames.shape[2], channels=tuple(p.video_net_channels),
                                     feature_dim=p.video_net_feature_dim)
        net, video_acc = em.train_video_net(train, heldout, p.video_net, config, p.seed)
        net.save(out / "video_net.safetensors")
        video_seconds = time.perf_counter() - start

        # CLIP pairs: clean images with their captions, and one random frame of each training clip
        with np.load(synth / "images.npz") as z:
            images = z["images"]
        with open(synth / "images.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        rng = np.random.default_rng(p.seed)
        frame_idx = rng.integers(0, train.frames.shape[1], len(train.frames))
        frames = train.frames[np.arange(len(train.frames)), frame_idx]
        clip_images = np.concatenate([images, frames])
        # appearance captions for frames too: a motion phrase would otherwise mark "video data"
        # (watermarked) frames, and the text score would reward the watermark
        clip_captions = [r["caption"] for r in rows] + [
            em.appearance_caption(lab["shape"], lab["colour"], lab["background"]) for lab in train.labels]
        clip_cfg = em.TinyClipConfig(embed_dim=p.clip_embed_dim, width=p.clip_width, layers=p.clip_layers,
                                     patch_size=p.clip_patch_size, image_resolution=images.shape[1],
                                     context_length=p.clip_context_length)
        model = em.train_clip(clip_images, clip_captions, p.clip, clip_cfg, p.seed)
        em.save_clip(model, out / "clip.pt")

        mid = heldout.frames[:, heldout.frames.shape[1] // 2]
        truth_caps = [em.appearance_caption(lab["shape"], lab["colour"], lab["background"]) for lab in heldout.labels]
        candidates = sorted({em.appearance_caption(r["shape"], r["colour"], r["background"]) for r in rows} | set(truth_caps))
        clip_acc = em.clip_retrieval_accuracy(model, mid, truth_caps, candidates)

        report = {
            "video_net_heldout_accuracy": video_acc,
            "clip_heldout_top1": clip_acc,
            "clip_num_candidates": len(candidates),
            "num_train_clips": len(train.frames),
            "num_heldout_clips": len(heldout.frames),
            "seconds_video_net": round(video_seconds, 1),
            "seconds_total": round(time.perf_counter() - start, 1),
        }
        write_json(out / "report.json", report)
        mlflow.log_metrics({**{f"video_net_acc_{k}": v for k, v in video_acc.items()},
                            "clip_heldout_top1": clip_acc, "seconds": report["seconds_total"]})
        mlflow.log_artifact(str(out / "report.json"))
    print(json.dumps(report, indent=2))
