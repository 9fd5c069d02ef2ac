"""All metrics of one set of generated videos against references computed once per evaluation.

:func:`build_reference` reads the real clips, the FVD feature net, the CLIP and the synthetic
ground truth once; :func:`score_videos` scores one ``videos.npy`` + ``prompts.json`` and returns
``{metric: {mean, ci_low, ci_high, n}}`` (95 % seeded bootstrap over videos).

In the synthetic world, watermark leakage is read three ways: in pixels (``watermark_leakage``,
beside ``watermark_leakage_vae_ceiling``: the same score of VAE reconstructions of real clips,
all a latent model can show), in latents (``watermark_leakage_latent``, when the samples folder
holds ``latents.npy``), and template-free (``domain_video_frac``: frames a classifier calls video).
The world's other two defects are read like the pixel watermark score: ``blur_leakage`` and
``codec_leakage`` (``eval.defects``), 0 = the clean images' mean score, 1 = the real clips', each
beside its ``_vae_ceiling`` (the VAE reconstructions of real clips on the same scale).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from animatelab.config import EvaluateParams
from animatelab.data.synth import read_ground_truth, read_images
from animatelab.eval import temporal
from animatelab.eval.bootstrap import bootstrap_ci, bootstrap_indices
from animatelab.eval.features import FVD_METRIC, VideoFeatures, feature_net_path, load_feature_net
from animatelab.eval.fvd import FrechetDistance, check_enough, extract_features
from animatelab.eval.tracking_gt import AppearanceReader, VideoReport, analyse, normalise_motion
from animatelab.eval.watermark import LatentSignature, Watermark, latent_scores, watermark_scores

ATTRS = ("shape", "colour", "background")
DOMAIN_REFERENCE = "clean synthetic images (images.npz) with the prompt's shape, colour and background"


def load_clips(folder: str | Path, max_videos: int | None = None) -> tuple[np.ndarray, list[dict]]:
    """Prepared clips of one split (contract: shard-*.safetensors + jsonl)."""
    from animatelab.data.shards import list_shards, load_shard

    frames, meta = [], []
    for shard in list_shards(folder):
        x, m = load_shard(shard)
        frames.append(x)
        meta += m
        if max_videos is not None and sum(len(f) for f in frames) >= max_videos:
            break
    if not frames:
        raise FileNotFoundError(f"no clip shards in {folder}")
    x = np.concatenate(frames)[:max_videos]
    return x, meta[: len(x)]


@dataclass
class GroundTruthReference:
    watermark: Watermark
    reader: AppearanceReader
    reports: list[VideoReport]
    labels: list[dict[str, str]]
    wm_mean: float
    still: float
    max_shift: int = 1
    ceiling: dict | None = None  # watermark_leakage of VAE reconstructions of real clips
    latent: LatentSignature | None = None
    latent_mean: float = float("nan")  # real clips' mean latent score (the normaliser)
    # blur / codec: metric -> (clean images' mean score, real clips' mean score), and the rows blur skips
    defects: dict[str, tuple[float, float]] = field(default_factory=dict)
    exclude: np.ndarray | None = None
    defect_ceilings: dict[str, dict] = field(default_factory=dict)
    # "{metric}_vae_clean" / "_vae_degraded": the VAE's reconstructions of held-out clean twins / degraded
    # clips (train_eval_models' report): what the decoder draws by itself, the floor of pixel leakage
    vae_floors: dict[str, dict] = field(default_factory=dict)

    def defect_leakage(self, videos: np.ndarray) -> dict[str, np.ndarray]:
        """Per-video ``blur_leakage`` and ``codec_leakage`` of (N, F, H, W, 3) uint8 videos."""
        from animatelab.eval.defects import blur_scores, codec_scores, leakage

        raw = {"blur_leakage": blur_scores(videos, self.exclude), "codec_leakage": codec_scores(videos)}
        return {k: leakage(v, *self.defects[k]) for k, v in raw.items() if k in self.defects}

    @property
    def speeds(self) -> np.ndarray:
        return np.array([r.motion.path_speed for r in self.reports])


@dataclass
class Reference:
    fvd_net: VideoFeatures
    fvd_name: str
    real_feats: np.ndarray
    heldout_feats: np.ndarray
    clip: object | None = None  # ClipScorer
    clip_refs: dict = field(default_factory=dict)
    gt: GroundTruthReference | None = None
    domain: object | None = None  # DomainNet
    domain_ceiling: dict | None = None  # domain_video_frac of VAE reconstructions of real clips
    meta: dict = field(default_factory=dict)


def _first_per_group(keys: list[tuple], k: int) -> list[int]:
    seen: dict[tuple, int] = {}
    keep = []
    for i, key in enumerate(keys):
        if seen.get(key, 0) < k:
            seen[key] = seen.get(key, 0) + 1
            keep.append(i)
    return keep


def build_reference(p: EvaluateParams, frames: int) -> Reference:
    """Everything that does not depend on the generated videos, computed once per run."""
    backbone = p.fvd_backbone
    net = load_feature_net(backbone, feature_net_path(p), p.fvd_frames)
    real, real_meta = load_clips(p.real_dir, p.max_real_videos)
    heldout, _ = load_clips(p.heldout_dir)
    real_feats = extract_features(net, real[:, :frames], p.batch_size, "real features")
    heldout_feats = extract_features(net, heldout[:, :frames], p.batch_size, "heldout features")
    ref = Reference(net, FVD_METRIC[backbone], real_feats, heldout_feats)
    ref.meta = {"fvd_backbone": backbone, "fvd_feature_dim": int(net.num_features),
                "fvd_real_reference": f"{p.real_dir} ({len(real)} clips)",
                "fvd_floor": f"{p.heldout_dir} clips vs the same reference, same N as generated"}
    if backbone == "synthetic":
        ref.meta["fvd_note"] = "synthetic-world feature net: not comparable to published (I3D) FVD"
    if p.clip:
        from animatelab.eval.clip_scores import ClipScorer, load_clip

        ref.clip = ClipScorer(load_clip(p.clip), p.clip_name)
        ref.meta["clip_backbone"] = f"{p.clip_name} ({p.clip})"
    if p.synthetic_ground_truth:
        synth = Path(p.synth_dir)
        if p.clip:
            images = read_images(synth)
            with open(synth / "images.csv", newline="") as fh:
                rows = list(csv.DictReader(fh))
            attrs = [tuple(r[a] for a in ATTRS) for r in rows]
            keep = _first_per_group(attrs, p.domain_images_per_prompt)
            ref.clip_refs = ref.clip.reference_embeddings(images[keep], [attrs[i] for i in keep])
            ref.meta["clip_domain_reference"] = DOMAIN_REFERENCE
            ref.meta["clip_text"] = "appearance caption (shape, colour, background) of the prompt"
        truth = read_ground_truth(synth)
        labels = [truth[str(m["videoid"])] for m in real_meta[: p.gt_reference_videos]]
        wm = Watermark.load(synth / "watermark.npz")
        clips = real[: p.gt_reference_videos, :frames]
        reports = [analyse(v, wm, p.still_threshold) for v in tqdm(clips, desc="track real", leave=False)]
        reader = AppearanceReader().fit([r.features for r in reports], labels)
        wm_mean = float(watermark_scores(clips, wm, p.watermark_max_shift).mean())
        ref.gt = GroundTruthReference(wm, reader, reports, labels, wm_mean, p.still_threshold, p.watermark_max_shift)
        _defect_reference(ref.gt, read_images(synth)[:DEFECT_REFERENCE_IMAGES], clips)
        ref.meta["defect_reference"] = (f"blur/codec leakage: first {DEFECT_REFERENCE_IMAGES} clean images score 0, "
                                        f"{p.real_dir} (first {len(clips)} clips) score 1")
        ref.meta["ground_truth_reference"] = f"{p.real_dir} (first {len(clips)} clips, tracked with the same tracker)"
        _vae_domain_reference(ref, p)
    return ref


DEFECT_REFERENCE_IMAGES = 1000
VAE_FLOOR_SETS = {"clean": "defect_clean", "degraded": "defect_all_defects"}


def vae_floors(report_path: Path) -> dict[str, dict]:
    """``{metric}_vae_clean`` / ``{metric}_vae_degraded`` from ``train_eval_models``' report (written
    beside the reconstructions): every pixel leakage of the VAE's reconstructions of held-out clean
    twins and of the same clips degraded as synth_data writes them; {} when the report has none."""
    if not report_path.is_file():
        return {}
    report = json.loads(report_path.read_text())
    out = {}
    for tag, key in VAE_FLOOR_SETS.items():
        for metric, value in report.get(key, {}).get("vae_reconstructions", {}).items():
            out[f"{metric}_vae_{tag}"] = value
    return out


def _defect_reference(gt: GroundTruthReference, images: np.ndarray, real: np.ndarray) -> None:
    """The normalisers of blur and codec leakage: clean images' and real clips' mean scores."""
    from animatelab.eval.defects import blur_scores, codec_scores, exclusion_mask

    gt.exclude = exclusion_mask(gt.watermark.template, real.shape[2])
    gt.defects = {"blur_leakage": (float(blur_scores(images, gt.exclude).mean()), float(blur_scores(real, gt.exclude).mean())),
                  "codec_leakage": (float(codec_scores(images).mean()), float(codec_scores(real).mean()))}


def _eval_model_file(p: EvaluateParams, key: str) -> Path | None:
    """A ``train_eval_models`` output named by ``evaluate.{key}``; None when set to ""."""
    value = getattr(p, key)
    if not value:
        return None
    if not Path(value).is_file():
        raise FileNotFoundError(f"evaluate.{key}: {value} not found (run train_eval_models, or set it to '' to skip)")
    return Path(value)


def _vae_domain_reference(ref: Reference, p: EvaluateParams) -> None:
    """The VAE ceiling, latent signature (normalised by real clips' latents) and domain classifier."""
    from animatelab.eval import domain_classifier as dc

    gt = ref.gt
    recon_path, sig_path, net_path = (_eval_model_file(p, k) for k in ("vae_reconstructions", "latent_signature", "domain_classifier"))
    recon = None
    if recon_path is not None:
        with np.load(recon_path) as z:
            recon = z["videos"]
        gt.ceiling = bootstrap_ci(watermark_scores(recon, gt.watermark, gt.max_shift) / gt.wm_mean, p.bootstrap, p.seed)
        gt.defect_ceilings = {k: bootstrap_ci(v, p.bootstrap, p.seed) for k, v in gt.defect_leakage(recon).items()}
        gt.vae_floors = vae_floors(recon_path.parent / "report.json")
        ref.meta["watermark_vae_ceiling"] = f"VAE reconstructions of the first {len(recon)} {p.real_dir} clips ({recon_path})"
    if sig_path is not None:
        from animatelab.data.latents import load_encoded

        gt.latent = LatentSignature.load(sig_path)
        real = load_encoded(p.real_latents)[0][: p.gt_reference_videos].numpy()
        gt.latent_mean = float(latent_scores(real, gt.latent).mean())
        ref.meta["watermark_latent_reference"] = f"{p.real_latents} (first {len(real)} clips' latents score 1)"
    if net_path is not None:
        ref.domain = dc.DomainNet.load(net_path)
        ref.meta["domain_classifier"] = f"{net_path}: clean images (0) vs real video frames (1); P > 0.5 counts as video"
        if recon is not None:
            ref.domain_ceiling = bootstrap_ci(dc.domain_video_frac(ref.domain, recon), p.bootstrap, p.seed)


def _fvd_metrics(ref: Reference, videos: np.ndarray, p: EvaluateParams) -> dict[str, dict]:
    name = ref.fvd_name
    check_enough(len(videos), ref.fvd_net.num_features, f"{name} on generated videos")
    fake = extract_features(ref.fvd_net, videos, p.batch_size, "generated features")
    fd = FrechetDistance(ref.real_feats)
    out = {name: bootstrap_indices(len(fake), lambda i: fd(fake[i]), p.bootstrap, p.seed)}
    rng = np.random.default_rng(p.seed)
    take = rng.choice(len(ref.heldout_feats), size=min(len(fake), len(ref.heldout_feats)), replace=False)
    other = ref.heldout_feats[take]
    check_enough(len(other), ref.fvd_net.num_features, f"{name} floor (held-out clips)")
    out[f"{name}_floor"] = bootstrap_indices(len(other), lambda i: fd(other[i]), p.bootstrap, p.seed + 1)
    return out


def _gt_metrics(gt: GroundTruthReference, videos: np.ndarray, prompts: list[dict], p: EvaluateParams, tag: str = "") -> dict[str, dict]:
    reports = [analyse(v, gt.watermark, gt.still) for v in tqdm(videos, desc="track", leave=False)]
    ci = lambda x, k=0: bootstrap_ci(np.asarray(x, float), p.bootstrap, p.seed + k)  # noqa: E731
    speeds = np.array([r.motion.path_speed for r in reports])
    real_speeds = gt.speeds[np.isfinite(gt.speeds)]
    from scipy.stats import wasserstein_distance

    def w1(idx: np.ndarray) -> float:
        s = speeds[idx]
        s = s[np.isfinite(s)]
        return float(wasserstein_distance(s, real_speeds)) if s.size else np.nan

    preds = [gt.reader.predict(r.features) for r in reports]
    out = {
        "gt_moving_frac": ci([r.motion.direction not in ("static", "none") for r in reports]),
        "gt_speed": ci(speeds),
        "gt_speed_w1": bootstrap_indices(len(reports), w1, p.bootstrap, p.seed),
        "gt_jerk": ci([r.motion.jerk for r in reports]),
        "gt_single_object": ci([r.single_object for r in reports]),
        # why a video is not one object: frames where it vanished, frames with a duplicate or a split
        "gt_no_object_frac": ci([r.no_object for r in reports]),
        "gt_extra_object_frac": ci([r.extra_objects for r in reports]),
        "gt_persistent_object": ci([r.persistent for r in reports]),
        "gt_direction_acc": ci([r.motion.direction == normalise_motion(q["motion"]) for r, q in zip(reports, prompts)]),
        # d sqrt(area) / d frame, px/frame: how much the object grows (a zoom-in or grow > 0, shrink < 0),
        # read on a continuous scale where gt_direction_acc only says whether growth beat translation
        "gt_growth_rate": ci([r.motion.size_rate for r in reports]),
        "watermark_leakage": ci(watermark_scores(videos, gt.watermark, gt.max_shift) / gt.wm_mean),
    }
    if gt.ceiling is not None:
        out["watermark_leakage_vae_ceiling"] = dict(gt.ceiling)
    out.update({k: dict(v) for k, v in gt.vae_floors.items()})
    for name, scores in gt.defect_leakage(videos).items():
        out[name] = ci(scores)
        if name in gt.defect_ceilings:
            out[f"{name}_vae_ceiling"] = dict(gt.defect_ceilings[name])
    for a in ATTRS:
        out[f"gt_{a}_acc"] = ci([pr[a] == q[a] for pr, q in zip(preds, prompts)])
    out["gt_appearance_acc"] = ci([all(pr[a] == q[a] for a in ATTRS) for pr, q in zip(preds, prompts)])
    return out


def clip_text(prompt: dict, p: EvaluateParams) -> str:
    """Text for the CLIP text score: in the synthetic world the appearance caption (one frame cannot
    show motion, and the tiny CLIP is trained on appearance captions); else the prompt itself."""
    if p.synthetic_ground_truth and all(a in prompt for a in ATTRS):
        return f"a {prompt['colour']} {prompt['shape']} on a {prompt['background']} background"
    return prompt["prompt"]


def _domain_latent_metrics(ref: Reference, videos: np.ndarray, latents: np.ndarray | None, p: EvaluateParams) -> dict[str, dict]:
    from animatelab.eval.domain_classifier import domain_video_frac

    out = {}
    if ref.domain is not None:
        out["domain_video_frac"] = bootstrap_ci(domain_video_frac(ref.domain, videos), p.bootstrap, p.seed)
        if ref.domain_ceiling is not None:
            out["domain_video_frac_vae_ceiling"] = dict(ref.domain_ceiling)
    if latents is not None and ref.gt is not None and ref.gt.latent is not None:
        if len(latents) != len(videos):
            raise ValueError(f"{len(latents)} latents but {len(videos)} videos")
        scores = latent_scores(latents, ref.gt.latent) / ref.gt.latent_mean
        out["watermark_leakage_latent"] = bootstrap_ci(scores, p.bootstrap, p.seed)
    return out


def score_videos(ref: Reference, videos: np.ndarray, prompts: list[dict], p: EvaluateParams, timings: dict | None = None,
                 latents: np.ndarray | None = None) -> dict[str, dict]:
    """Every metric of (N, F, H, W, 3) uint8 ``videos`` generated from ``prompts`` (and their
    (N, F, C, h, w) ``latents``, when the sampler saved them)."""
    import time

    timings = {} if timings is None else timings
    t = time.perf_counter()
    out = _fvd_metrics(ref, videos, p)
    timings["fvd"] = time.perf_counter() - t
    n = len(videos)
    out["num_videos"] = {"mean": n, "ci_low": n, "ci_high": n, "n": n}
    if ref.clip is not None:
        t = time.perf_counter()
        refs = [ref.clip_refs.get(tuple(q[a] for a in ATTRS)) for q in prompts] if ref.clip_refs else None
        scores = ref.clip.score_videos(videos, [clip_text(q, p) for q in prompts], refs)
        for k, v in scores.items():
            out[f"clip_{ref.clip.name}_{k}"] = bootstrap_ci(v, p.bootstrap, p.seed)
        timings["clip"] = time.perf_counter() - t
    t = time.perf_counter()
    out["flicker"] = bootstrap_ci([temporal.flicker(v) for v in videos], p.bootstrap, p.seed)
    timings["flicker"] = time.perf_counter() - t
    t = time.perf_counter()
    out["warp_error"] = bootstrap_ci([temporal.warping_error(v) for v in tqdm(videos, desc="flow", leave=False)], p.bootstrap, p.seed)
    timings["warp_error"] = time.perf_counter() - t
    if ref.gt is not None:
        t = time.perf_counter()
        out.update(_gt_metrics(ref.gt, videos, prompts, p))
        timings["ground_truth"] = time.perf_counter() - t
    t = time.perf_counter()
    out.update(_domain_latent_metrics(ref, videos, latents, p))
    timings["domain_latent"] = time.perf_counter() - t
    return out


def real_heldout_set(p: EvaluateParams, frames: int) -> tuple[np.ndarray, list[dict]]:
    """Held-out real clips with prompts built from their ground truth, to be scored like samples:
    the 'real' row every generated number is read against (direction ~ 1, leakage ~ 1, ...)."""
    return real_clip_set(p.heldout_dir, p.synth_dir, frames)


def real_clip_set(folder: str | Path, synth_dir: str | Path, frames: int) -> tuple[np.ndarray, list[dict]]:
    """The prepared clips of ``folder`` with prompts built from the world's ground truth."""
    clips, meta = load_clips(folder)
    truth = read_ground_truth(synth_dir)
    prompts = []
    for m in meta:
        g = truth[str(m["videoid"])]
        prompts.append({"prompt": m.get("caption") or g["caption"], **{a: g[a] for a in (*ATTRS, "motion")}})
    return clips[:, :frames], prompts
