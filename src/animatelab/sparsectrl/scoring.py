"""SparseCtrl metrics: fidelity at the conditioned frames, propagation to the others.

Per video (bootstrapped over videos, as every metric here):

* ``psnr_cond`` / ``ssim_cond``: torchmetrics PSNR and SSIM (data range 255) of each conditioned
  frame against the real keyframe it was given (a sketch encoder is scored against the frame its
  sketch was drawn from), averaged over the conditioned frames;
* ``pos_err_cond`` / ``pos_err_free``: px distance of the tracked object centroid
  (``eval.tracking_gt.track_video``) from the ground-truth position, at conditioned / other frames;
* ``traj_err_d{d}``: the same distance at frames d frames away from the nearest keyframe (the
  propagation curve; d = 0 are the keyframes themselves);
* ``object_found``, ``flicker``, ``warp_error``, ``watermark_leakage`` (relative to the held-out
  real clips' mean score, as ``evaluate``).

Ground truth is the synthetic world's per-frame position (``ground_truth.json``) at the prepared
clip's frames (its ``start`` / ``stride``), rescaled to the prepared resolution. Frames where no
object is found count in ``object_found`` and are left out of the distances.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from animatelab.data.synth import read_ground_truth
from animatelab.eval import temporal
from animatelab.eval.bootstrap import bootstrap_ci
from animatelab.eval.tracking_gt import track_video
from animatelab.eval.watermark import Watermark, watermark_scores


@dataclass
class Truth:
    """Held-out real clips with their ground-truth positions, the reference of every score."""

    clips: np.ndarray  # uint8 (N, F, H, W, 3)
    positions: np.ndarray  # (N, F, 2) x, y px at the prepared resolution
    watermark: Watermark
    wm_mean: float  # mean watermark score of the real clips (the leakage normaliser)


def written_frames(m: dict, frames: int) -> np.ndarray:
    """Indices into the written video (and its ground truth) of a prepared clip's ``frames`` frames."""
    return m.get("start", 0) + m.get("stride", 1) * np.arange(frames)


def gt_positions(meta: list[dict], truth: dict, frames: int, scale: float) -> np.ndarray:
    """(N, F, 2) ground-truth centres of prepared clips (pixel i centred on i, as the tracker)."""
    out = []
    for m in meta:
        pos = np.asarray(truth[str(m["videoid"])]["positions"], np.float64)
        out.append((pos[written_frames(m, frames)] + 0.5) * scale - 0.5)
    return np.stack(out)


def load_truth(synth_dir: str | Path, clips: np.ndarray, meta: list[dict]) -> Truth:
    synth = Path(synth_dir)
    truth = read_ground_truth(synth)
    wm = Watermark.load(synth / "watermark.npz")
    scale = clips.shape[2] / wm.template.shape[0]  # prepared / written resolution
    positions = gt_positions(meta, truth, clips.shape[1], scale)
    wm_mean = float(watermark_scores(clips, wm).mean())
    return Truth(clips, positions, wm, wm_mean)


def nearest_keyframe_distance(frames: int, indices: list[int]) -> np.ndarray:
    """(F,) frames to the nearest conditioned frame."""
    f = np.arange(frames)[:, None]
    return np.abs(f - np.asarray(indices)[None]).min(axis=1)


def _psnr_ssim(video: np.ndarray, real: np.ndarray, indices: list[int]) -> tuple[float, float]:
    from torchmetrics.functional import peak_signal_noise_ratio, structural_similarity_index_measure

    a = torch.from_numpy(video[indices]).permute(0, 3, 1, 2).double()
    b = torch.from_numpy(real[indices]).permute(0, 3, 1, 2).double()
    psnr = [float(peak_signal_noise_ratio(x[None], y[None], data_range=255.0)) for x, y in zip(a, b)]
    ssim = float(structural_similarity_index_measure(a, b, data_range=255.0))
    return float(np.mean(psnr)), ssim


def per_video(videos: np.ndarray, truth: Truth, indices: list[int], pixels: bool = True) -> dict[str, np.ndarray]:
    """Per-video values of every metric (``pixels`` False: skip PSNR/SSIM, e.g. for the real clips)."""
    n, frames = videos.shape[:2]
    dist = nearest_keyframe_distance(frames, indices)
    cond = np.isin(np.arange(frames), indices)
    err = np.full((n, frames), np.nan)
    found = np.zeros(n)
    for i, video in enumerate(videos):
        c = track_video(video, truth.watermark).centroids
        err[i] = np.linalg.norm(c - truth.positions[i], axis=1)
        found[i] = np.isfinite(c[:, 0]).mean()
    out = {"pos_err_cond": _nanmean(err[:, cond]), "pos_err_free": _nanmean(err[:, ~cond]), "object_found": found,
           **{f"traj_err_d{d}": _nanmean(err[:, dist == d]) for d in range(int(dist.max()) + 1)},
           "flicker": np.array([temporal.flicker(v) for v in videos]),
           "warp_error": np.array([temporal.warping_error(v) for v in videos]),
           "watermark_leakage": watermark_scores(videos, truth.watermark) / truth.wm_mean}
    if pixels:
        scores = np.array([_psnr_ssim(v, truth.clips[i], indices) for i, v in enumerate(videos)])
        out["psnr_cond"], out["ssim_cond"] = scores[:, 0], scores[:, 1]
    return out


def _nanmean(x: np.ndarray) -> np.ndarray:
    """Row means over finite entries (NaN where a row has none)."""
    ok = np.isfinite(x)
    return np.where(ok.any(1), np.where(ok, x, 0).sum(1) / np.maximum(ok.sum(1), 1), np.nan)


def summarise(values: dict[str, np.ndarray], bootstrap: int, seed: int) -> dict[str, dict]:
    """``{metric: {mean, ci_low, ci_high, n}}`` (95 % bootstrap over videos)."""
    return {k: bootstrap_ci(v, bootstrap, seed) for k, v in values.items()}


def paired_difference(a: np.ndarray, b: np.ndarray, bootstrap: int, seed: int) -> dict:
    """Mean of a - b over videos where both are finite (same prompts and initial noise), with its interval."""
    return bootstrap_ci(np.asarray(a, float) - np.asarray(b, float), bootstrap, seed)
