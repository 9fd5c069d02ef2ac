"""Stage ``train_eval_models`` (embedded default only): the feature net behind ``fvd_synth``, a
tiny CLIP and the domain classifier, trained on the synthetic world; plus, from the base's VAE,
the watermark's latent signature and VAE reconstructions of real clips (the pixel leakage
ceiling). Held-out accuracies and the ceiling go to ``report.json``. The stage's one seed
(``train_eval_models.seed``) drives every net's loop."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from animatelab.config import Params, TrainEvalModelsParams
from animatelab.data.synth import read_ground_truth, read_images
from animatelab.outputs import without_wall_clock
from animatelab.tracking import stage_run

if TYPE_CHECKING:
    from animatelab.eval.eval_models import LabelledClips
    from animatelab.eval.watermark import Watermark


def _clip_model(p: TrainEvalModelsParams, em: ModuleType, synth: Path, train: LabelledClips, heldout: LabelledClips,
                images: np.ndarray) -> dict:
    """Tiny CLIP on clean images and one random frame per training clip; held-out top-1."""
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
    model = em.train_clip(clip_images, clip_captions, p.clip.for_run(p.seed), clip_cfg, Path(p.checkpoint_dir) / "clip")
    em.save_clip(model, Path(p.out_dir) / "clip.pt")
    mid = heldout.frames[:, heldout.frames.shape[1] // 2]
    truth_caps = [em.appearance_caption(lab["shape"], lab["colour"], lab["background"]) for lab in heldout.labels]
    candidates = sorted({em.appearance_caption(r["shape"], r["colour"], r["background"]) for r in rows} | set(truth_caps))
    return {"clip_heldout_top1": em.clip_retrieval_accuracy(model, mid, truth_caps, candidates),
            "clip_num_candidates": len(candidates)}


def _vae_reference(params: Params, vae: Any, train: LabelledClips, watermark: Watermark) -> tuple[np.ndarray, dict]:
    """Latent signature + reconstructions of real train clips; returns them and their report."""
    from animatelab.eval import vae_reference as vr
    from animatelab.eval.bootstrap import bootstrap_ci
    from animatelab.eval.watermark import latent_scores, watermark_scores

    p = params.train_eval_models
    out = Path(p.out_dir)
    sig = vr.latent_signature(vae, params.synth_data, p.latent_signature_clips, train.frames.shape[2], p.latent_shrinkage)
    sig.save(out / "watermark_latent.npz")
    real = train.frames[: p.vae_ceiling_clips]
    latents = vr.encode(vae, real)
    recon = vr.decode(vae, latents)
    vr.save_reconstructions(out / "vae_reconstructions.npz", recon)
    own = watermark_scores(real, watermark).mean()
    return recon, {
        "watermark_leakage_vae_ceiling": bootstrap_ci(watermark_scores(recon, watermark) / own, 1000, p.seed),
        "watermark_latent_real_score": bootstrap_ci(latent_scores(latents, sig), 1000, p.seed),
        "vae_ceiling_clips": len(real),
    }


DEFECT_CLIPS = 32  # held-out specs rendered once per defect
DEFECT_FRAMES = 8  # of each, the first frames
# one defect at a time (the others off), none, and all three as synth_data writes them
DEFECT_SETS = {"clean": {"watermark_alpha": 0.0, "blur_sigma": 0.0, "codec": "lossless"},
               "blur_only": {"watermark_alpha": 0.0, "codec": "lossless"},
               "watermark_only": {"blur_sigma": 0.0, "codec": "lossless"},
               "codec_only": {"watermark_alpha": 0.0, "blur_sigma": 0.0},
               "all_defects": {}}


def _defect_report(params: Params, vae: Any, domain_net: Any, watermark: Watermark, images: np.ndarray,
                   real: np.ndarray, resolution: int) -> dict:
    """Held-out specs rendered with each defect alone: what the domain classifier calls them (fraction
    of frames called video), every leakage score of them, and of their VAE reconstructions, as
    fractions of the real clips' score (``real``: prepared train clips; clean images = 0 for blur and
    codec). The reconstructions of ``clean`` are the floor an untrained model sits on: whatever the
    decoder draws by itself on clean content."""
    from animatelab.data.synth import clip_specs, written_frames
    from animatelab.eval import defects, domain_classifier as dc
    from animatelab.eval.bootstrap import bootstrap_ci
    from animatelab.eval.vae_reference import _resize, reconstruct
    from animatelab.eval.watermark import watermark_scores

    p, sp = params.train_eval_models, params.synth_data
    specs = clip_specs(sp, "heldout", min(DEFECT_CLIPS, sp.num_heldout_videos))
    sets = {name: np.stack([_resize(written_frames(s, sp, **override)[:DEFECT_FRAMES], resolution) for s in specs])
            for name, override in DEFECT_SETS.items()}
    exclude = defects.exclusion_mask(watermark.template, resolution)
    wm_real = float(watermark_scores(real, watermark).mean())
    norm = {"blur_leakage": (defects.blur_scores(images, exclude).mean(), defects.blur_scores(real, exclude).mean()),
            "codec_leakage": (defects.codec_scores(images).mean(), defects.codec_scores(real).mean())}

    def leak(videos: np.ndarray) -> dict:
        ci = lambda x: bootstrap_ci(np.asarray(x, float), 1000, p.seed)  # noqa: E731
        return {"watermark_leakage": ci(watermark_scores(videos, watermark) / wm_real),
                "blur_leakage": ci(defects.leakage(defects.blur_scores(videos, exclude), *norm["blur_leakage"])),
                "codec_leakage": ci(defects.leakage(defects.codec_scores(videos), *norm["codec_leakage"]))}

    out = {"defect_clips": {"clips": len(specs), "frames": DEFECT_FRAMES, "split": "heldout",
                            "sets": {k: v or "synth_data's defects" for k, v in DEFECT_SETS.items()}}}
    for name, videos in sets.items():
        out[f"defect_{name}"] = {"domain_video_frac": bootstrap_ci(dc.domain_video_frac(domain_net, videos), 1000, p.seed),
                                 **leak(videos), "vae_reconstructions": leak(reconstruct(vae, videos))}
    return out


def _domain_net(p: TrainEvalModelsParams, vae: Any, images: np.ndarray, train: LabelledClips, heldout: LabelledClips,
                recon: np.ndarray) -> dict:
    """Clean images (the last ``domain_heldout_frac`` held out) vs frames of train / held-out clips."""
    from animatelab.eval import domain_classifier as dc
    from animatelab.eval import eval_models as em
    from animatelab.eval.vae_reference import reconstruct

    n_held = max(1, round(p.domain_heldout_frac * len(images)))
    img_train, img_held = images[:-n_held], images[-n_held:]
    frames_train = train.frames.reshape(-1, *train.frames.shape[2:])
    frames_held = heldout.frames.reshape(-1, *heldout.frames.shape[2:])
    recon_frames = recon.reshape(-1, *recon.shape[2:])
    if p.domain_vae_mix:  # the decoder's rendering of each domain, labelled by its source
        img_train = np.concatenate([img_train, reconstruct(vae, img_train[: len(recon_frames)])])
        frames_train = np.concatenate([frames_train, recon_frames])
    net = em.train_domain_net(img_train, frames_train, p.domain_net.for_run(p.seed),
                              dc.DomainNetConfig(tuple(p.domain_net_channels)), Path(p.checkpoint_dir) / "domain_net")
    net.save(Path(p.out_dir) / "domain_net.safetensors")
    k = min(len(img_held), len(frames_held), 256)
    decoded = dc.heldout_accuracy(net, reconstruct(vae, img_held[:k]), reconstruct(vae, frames_held[:k]))
    return net, {"domain_heldout": dc.heldout_accuracy(net, img_held, frames_held),
            "domain_heldout_vae_reconstructions": decoded,
            "domain_num_heldout": {"images": len(img_held), "frames": len(frames_held)},
            "domain_vae_mix": p.domain_vae_mix}


def run(params: Params, args: Any) -> None:
    import mlflow

    from animatelab.eval import eval_models as em
    from animatelab.eval.features import SynthVideoNetConfig
    from animatelab.eval.vae_reference import load_vae
    from animatelab.eval.watermark import Watermark
    from animatelab.utils import seed_everything, write_json

    p = params.train_eval_models
    seed_everything(p.seed)
    out = Path(p.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    synth = Path(p.synth_dir)
    truth = read_ground_truth(synth)
    vae = load_vae(params.base.path)
    with stage_run("train_eval_models", p.model_dump(mode="json"), getattr(args, "run", None)):
        start = time.perf_counter()
        train = em.load_labelled_clips(p.train_dir, truth)
        heldout = em.load_labelled_clips(p.heldout_dir, truth)

        config = SynthVideoNetConfig(resolution=train.frames.shape[2], channels=tuple(p.video_net_channels),
                                     feature_dim=p.video_net_feature_dim)
        net, video_acc = em.train_video_net(train, heldout, p.video_net.for_run(p.seed), config,
                                            Path(p.checkpoint_dir) / "video_net")
        net.save(out / "video_net.safetensors")
        seconds = {"video_net": time.perf_counter() - start}

        images = read_images(synth)
        t = time.perf_counter()
        report = {"video_net_heldout_accuracy": video_acc, **_clip_model(p, em, synth, train, heldout, images)}
        seconds["clip"] = time.perf_counter() - t
        t = time.perf_counter()
        watermark = Watermark.load(synth / "watermark.npz")
        recon, vae_report = _vae_reference(params, vae, train, watermark)
        seconds["vae_reference"] = time.perf_counter() - t
        t = time.perf_counter()
        report.update(vae_report)
        domain_net, domain_report = _domain_net(p, vae, images, train, heldout, recon)
        report.update(domain_report)
        seconds["domain_net"] = time.perf_counter() - t
        t = time.perf_counter()
        report.update(_defect_report(params, vae, domain_net, watermark, images,
                                     train.frames[: p.vae_ceiling_clips], train.frames.shape[2]))
        seconds["defects"] = time.perf_counter() - t
        report.update({"num_train_clips": len(train.frames), "num_heldout_clips": len(heldout.frames),
                       "seconds_video_net": round(seconds["video_net"], 1),
                       "seconds": {k: round(v, 1) for k, v in seconds.items()},
                       "seconds_total": round(time.perf_counter() - start, 1)})
        write_json(out / "report.json", without_wall_clock(report))
        mlflow.log_metrics({**{f"video_net_acc_{k}": v for k, v in video_acc.items()},
                            "clip_heldout_top1": report["clip_heldout_top1"],
                            "domain_heldout_accuracy": report["domain_heldout"]["accuracy"],
                            "watermark_leakage_vae_ceiling": report["watermark_leakage_vae_ceiling"]["mean"],
                            "seconds": report["seconds_total"]})
        mlflow.log_artifact(str(out / "report.json"))
    print(json.dumps(report, indent=2))
