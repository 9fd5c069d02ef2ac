"""MoonShot's own measures (RQ7), scored beside every ``evaluate`` metric of the same videos.

* First-frame fidelity: PSNR (dB) and SSIM (torchmetrics, data range 255) of generated frame 0
  against the conditioning frame (frame 0 of the prompt's own held-out clip), with the same scores
  of that frame's VAE reconstruction as the ceiling (a latent model cannot draw the frame more
  exactly than its VAE does). Text-to-video samples are scored against the same frames: the
  number a prompt and the initial noise give without the image.
* Identity kept across frames: ``identity_clip``, 100 x cosine of CLIP image embeddings of frames
  1..F-1 and the conditioning frame (the evaluation CLIP); ``identity_frame_acc``, the fraction of
  frames whose object reads, frame by frame, as the prompt's ground-truth colour, shape and
  background (the tracker and appearance reader of ``eval.tracking_gt``, calibrated on real clips).
Every value is per video, summarised with ``evaluate``'s seeded bootstrap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from animatelab.eval.bootstrap import bootstrap_ci
from animatelab.eval.suite import ATTRS
from animatelab.eval.tracking_gt import shape_votes, track_video

if TYPE_CHECKING:
    from animatelab.config import EvaluateParams
    from animatelab.eval.suite import GroundTruthReference, Reference


def _nchw(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()


def psnr_ssim(images: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-image PSNR (dB; inf where identical) and SSIM of uint8 (N, H, W, 3) ``images`` vs ``targets``."""
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    x, y = _nchw(images), _nchw(targets)
    psnr = peak_signal_noise_ratio(x, y, data_range=255.0, reduction="none", dim=(1, 2, 3))
    ssim = structural_similarity_index_measure(x, y, data_range=255.0, reduction="none")
    return psnr.numpy().astype(np.float64), ssim.numpy().astype(np.float64)


def first_frame_fidelity(videos: np.ndarray, frames: np.ndarray, reconstructions: np.ndarray | None,
                         p: "EvaluateParams") -> dict[str, dict]:
    """``first_frame_psnr`` / ``_ssim`` of generated frame 0 vs ``frames`` (and ``*_vae_ceiling``)."""
    if len(frames) != len(videos) or frames.shape[1:] != videos.shape[2:]:
        raise ValueError(f"{len(frames)} conditioning frames {frames.shape[1:]} for {len(videos)} videos "
                         f"{videos.shape[2:]}")
    out = {}
    pairs = {"": videos[:, 0]} | ({"_vae_ceiling": reconstructions} if reconstructions is not None else {})
    for suffix, images in pairs.items():
        psnr, ssim = psnr_ssim(images, frames)
        out[f"first_frame_psnr{suffix}"] = bootstrap_ci(psnr, p.bootstrap, p.seed)
        out[f"first_frame_ssim{suffix}"] = bootstrap_ci(ssim, p.bootstrap, p.seed)
    return out


def identity_clip(clip, videos: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Per video: 100 x mean cosine of frames 1..F-1 with the conditioning frame (CLIP image space)."""
    n, f = videos.shape[:2]
    anchor = clip.embed_images(frames)
    out = []
    for i in range(n):
        emb = clip.embed_images(videos[i, 1:])
        out.append(100 * float((emb @ anchor[i]).mean()))
    return np.asarray(out) if f > 1 else np.full(n, np.nan)


def identity_frame_acc(gt: "GroundTruthReference", videos: np.ndarray, prompts: list[dict]) -> np.ndarray:
    """Per video: fraction of frames whose tracked object reads as the prompt's colour, shape and
    background (a frame without an object counts as lost identity)."""
    out = []
    for video, q in zip(videos, prompts):
        track = track_video(video, gt.watermark)
        hits = []
        for t in range(len(video)):
            feat = {"colour": track.colours[t], "shape": shape_votes(track.shape_misfit[t : t + 1]),
                    "background": track.background.reshape(-1)}
            read = gt.reader.predict(feat)
            hits.append(all(read[a] == q.get(a) for a in ATTRS))
        out.append(float(np.mean(hits)))
    return np.asarray(out)


def identity(ref: "Reference", videos: np.ndarray, frames: np.ndarray, prompts: list[dict],
             p: "EvaluateParams") -> dict[str, dict]:
    """``identity_clip`` (with a CLIP) and ``identity_frame_acc`` (in the synthetic world)."""
    out = {}
    if ref.clip is not None:
        out["identity_clip"] = bootstrap_ci(identity_clip(ref.clip, videos, frames), p.bootstrap, p.seed)
    if ref.gt is not None:
        acc = identity_frame_acc(ref.gt, videos, prompts)
        out["identity_frame_acc"] = bootstrap_ci(acc, p.bootstrap, p.seed)
    return out
