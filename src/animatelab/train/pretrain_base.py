"""Pre-train the tiny SD-format base on the clean synthetic images, with the shared loop.

Phase 1: the VAE (MSE + a tiny KL), then its ``scaling_factor`` set to 1/std of the latents
(as SD's 0.18215 was chosen). Phase 2: UNet + CLIP text encoder jointly, on the cached VAE
posterior means, with the official noise schedule and 10 % caption dropout.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from animatelab.models.base import BaseComponents, tokenize
from animatelab.models.encode import frames_to_pixels
from animatelab.train.checkpoint import params_fingerprint
from animatelab.models.scheduler import scheduler_config, training_scheduler
from animatelab.train.diffusion import (
    add_noise_one_timestep_per_video,
    diffusion_loss,
    diffusion_target,
    drop_captions,
)
from animatelab.train.loop import FitResult, TensorDict, fit
from animatelab.train.randomness import StepRandom

if TYPE_CHECKING:
    from animatelab.config import PretrainBaseParams

# uint8 images (N, H, W, 3) and the synth rows they were drawn for -> scores by name
QualityReader = Callable[[np.ndarray, list[dict[str, Any]]], dict[str, float]]


def load_synth_images(folder: str | Path) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """``images.npz`` (uint8 N×H×W×3) and the ``images.csv`` rows (caption, shape, colour, background)."""
    import csv

    from animatelab.data.synth import read_images

    folder = Path(folder)
    images = read_images(folder)
    with (folder / "images.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if len(rows) != len(images):
        raise ValueError(f"{folder}: {len(images)} images but {len(rows)} csv rows")
    return images, rows


def load_video_frames(folder: str | Path, num_clips: int, seed: int) -> np.ndarray:
    """Every frame of ``num_clips`` prepared clips (uint8 N×H×W×3), chosen by ``seed``.

    SD's VAE saw watermarked web images; the default's VAE must likewise be able to *draw* the
    video domain (watermark, blur, codec artefacts), or no pixel metric can see a model copy it.
    """
    from animatelab.data.shards import list_shards, load_shard

    if num_clips == 0:
        return np.zeros((0, 1, 1, 3), np.uint8)
    shards = list_shards(folder)
    if not shards:
        raise FileNotFoundError(f"{folder}: no prepared shards (pretrain_base.vae_video_dir)")
    clips = np.concatenate([load_shard(s)[0] for s in shards])
    if len(clips) < num_clips:
        raise ValueError(f"{folder}: {len(clips)} clips, pretrain_base.vae_video_clips asks for {num_clips}")
    pick = np.sort(np.random.default_rng(seed).choice(len(clips), size=num_clips, replace=False))
    return clips[pick].reshape(-1, *clips.shape[2:])


def train_vae(comps: BaseComponents, pixels: torch.Tensor, p: "PretrainBaseParams", ckpt_dir: Path,
              loss_csv: Path | None = None) -> FitResult:
    vae = comps.vae
    vae.requires_grad_(True)

    def loss_fn(batch: dict, rng: StepRandom) -> torch.Tensor:
        dist = vae.encode(batch["pixels"]).latent_dist
        # dist.sample(generator) drawn through the loop's StepRandom (same numbers on one process)
        rec = vae.decode(dist.mean + dist.std * rng.randn(dist.mean.shape, dtype=dist.mean.dtype)).sample
        return F.mse_loss(rec, batch["pixels"]) + p.vae_kl_weight * dist.kl().mean()

    result = fit(trainable=vae, compute_loss=loss_fn, dataset=TensorDict(pixels=pixels), loop=p.vae,
                 checkpoint_dir=ckpt_dir, fingerprint=phase_fingerprint(p, "vae"), run_name="vae", loss_csv=loss_csv,
                 component="vae")
    vae.requires_grad_(False).eval()
    return result


# Params that change neither phase's weights (where files go, how many threads, the quality check).
_NOT_TRAINING = {"checkpoint_dir", "threads", "quality_samples", "quality_steps", "quality_guidance"}
# Params the VAE phase never reads (it trains before the UNet and text encoder exist).
_UNET_ONLY = {"unet", "motion_phrase_prob", "noise", "text_hidden_size", "text_layers", "text_heads",
              "text_max_length", "unet_block_out_channels", "unet_layers_per_block", "unet_attention_heads",
              "unet_norm_num_groups"}


def phase_fingerprint(p: "PretrainBaseParams", phase: str) -> str:
    """What a phase's checkpoint must match to be resumed: the params that phase's weights depend on.

    So a new UNet recipe reuses a finished VAE, and moving the checkpoint folder keeps it resumable.
    """
    skip = _NOT_TRAINING | (_UNET_ONLY if phase == "vae" else set())
    return params_fingerprint(p.model_dump(exclude=skip), phase)


@torch.no_grad()
def encode_images(vae: nn.Module, pixels: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Posterior means (unscaled)."""
    return torch.cat([vae.encode(pixels[i : i + batch_size]).latent_dist.mean for i in range(0, len(pixels), batch_size)])


@torch.no_grad()
def reconstruct(vae: nn.Module, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """uint8 VAE reconstructions (posterior mean): what any sample drawn through this VAE can look like."""
    means = encode_images(vae, frames_to_pixels(images), batch_size)
    out = torch.cat([vae.decode(means[i : i + batch_size]).sample for i in range(0, len(means), batch_size)])
    return ((out.clamp(-1, 1) + 1) * 127.5).round().byte().movedim(1, -1).numpy()


def pick_caption_variant(n: int, variants: int, p: float, rng: StepRandom) -> torch.Tensor:
    """Per sample, the variant index: 0 (the plain caption), or with probability ``p`` a random phrased one.

    Draws nothing when ``p`` is 0, so a run without phrases draws what it drew before they existed.
    """
    if p <= 0 or variants < 2:
        return torch.zeros(n, dtype=torch.long)
    phrased = rng.rand(n) < p
    which = 1 + rng.randint(variants - 1, n)
    return torch.where(phrased, which, 0).cpu()  # StepRandom draws on the loop's device


def train_unet_and_text(comps: BaseComponents, latents: torch.Tensor, captions: list[list[str]],
                        p: "PretrainBaseParams", ckpt_dir: Path, fingerprint: str,
                        loss_csv: Path | None = None) -> FitResult:
    """``captions``: each image's caption variants, the plain caption first (``world.caption_variants``)."""
    unet, te = comps.unet, comps.text_encoder
    trainable = nn.ModuleDict({"unet": unet, "text_encoder": te}).requires_grad_(True)
    counts = {len(c) for c in captions}
    if len(counts) != 1:
        raise ValueError(f"every image needs the same number of caption variants, got {sorted(counts)}")
    n_variants = counts.pop()
    ids = tokenize(comps.tokenizer, [c for variants in captions for c in variants]).view(len(captions), n_variants, -1)
    empty_ids = tokenize(comps.tokenizer, [""])
    scheduler = training_scheduler(scheduler_config(p.noise))

    def loss_fn(batch: dict, rng: StepRandom) -> torch.Tensor:
        rows = batch["ids"]
        pick = pick_caption_variant(len(rows), n_variants, p.motion_phrase_prob, rng).to(rows.device)
        text = te(rows[torch.arange(len(rows), device=rows.device), pick])[0]
        empty = te(empty_ids.to(text.device))[0][0]
        text = drop_captions(text, empty, p.unet.cfg_dropout, rng)
        noisy, noise, t = add_noise_one_timestep_per_video(scheduler, batch["latents"], rng)
        pred = unet(noisy, t, text).sample
        return diffusion_loss(pred, diffusion_target(scheduler, batch["latents"], noise, t))

    result = fit(trainable=trainable, compute_loss=loss_fn, dataset=TensorDict(latents=latents, ids=ids),
                 loop=p.unet, checkpoint_dir=ckpt_dir, fingerprint=fingerprint, run_name="unet",
                 loss_csv=loss_csv, component=None)
    trainable.requires_grad_(False).eval()
    return result


def pretrain(comps: BaseComponents, images: np.ndarray, captions: list[list[str]], p: "PretrainBaseParams",
             checkpoint_dir: str | Path, plots_dir: str | Path | None = None,
             video_frames: np.ndarray | None = None) -> dict[str, Any]:
    """Both phases; resumable (each phase resumes from its own checkpoint folder).

    The VAE trains on the clean images plus ``video_frames``; the UNet and text encoder see the
    clean images only (the T2I base never sees a video frame, as in AnimateDiff). ``captions``: each
    image's caption variants, the plain one first (see ``train_unet_and_text``).
    """
    checkpoint_dir = Path(checkpoint_dir)
    plots = Path(plots_dir) if plots_dir is not None else None
    pixels = frames_to_pixels(images).contiguous()
    vae_pixels = pixels if video_frames is None or len(video_frames) == 0 else \
        torch.cat([pixels, frames_to_pixels(video_frames)]).contiguous()
    vae_res = train_vae(comps, vae_pixels, p, checkpoint_dir / "vae", plots / "vae_loss.csv" if plots else None)
    mean = encode_images(comps.vae, pixels)
    comps.vae.register_to_config(scaling_factor=float(1.0 / mean.std()))
    latents = mean * comps.vae.config.scaling_factor
    fp = phase_fingerprint(p, "unet")
    unet_res = train_unet_and_text(comps, latents, captions, p, checkpoint_dir / "unet", fp,
                                   plots / "unet_loss.csv" if plots else None)
    return {"vae_final_loss": float(np.mean(vae_res.losses[-20:])), "unet_final_loss": float(np.mean(unet_res.losses[-20:])),
            "scaling_factor": float(comps.vae.config.scaling_factor), "vae_seconds": vae_res.seconds,
            "unet_seconds": unet_res.seconds, "vae_images": len(pixels), "vae_video_frames": len(vae_pixels) - len(pixels)}


@torch.no_grad()
def sample_quality(comps: BaseComponents, rows: list[dict[str, Any]], p: "PretrainBaseParams",
                   reader: QualityReader, motion_phrases: bool = False) -> tuple[dict[str, float], np.ndarray, list[str]]:
    """DDIM samples for ``quality_samples`` random captions, read back by ``reader`` against the rows they
    were drawn for; returns (its scores, images, their captions). The reader is handed in by the stage: it
    is evaluation code (``eval.base_quality.accuracy``), a floor above training.

    ``motion_phrases``: the same images' captions, each with a random motion phrase, as the video
    prompts word them: how well the base draws what a video prompt asks for.
    """
    from animatelab.world import CAPTION_MOTIONS, caption_for

    rng = np.random.default_rng(p.seed)
    pick = [rows[i] for i in rng.choice(len(rows), size=min(p.quality_samples, len(rows)), replace=False)]
    captions = [r["caption"] for r in pick]
    if motion_phrases:
        motions = np.random.default_rng([p.seed, 1]).choice(len(CAPTION_MOTIONS), size=len(pick))
        captions = [caption_for(r["shape"], r["colour"], r["background"], CAPTION_MOTIONS[m])
                    for r, m in zip(pick, motions)]
    pipe = comps.pipeline()
    pipe.set_progress_bar_config(disable=True)
    out = pipe(captions, height=p.resolution, width=p.resolution,
               num_inference_steps=p.quality_steps, guidance_scale=p.quality_guidance,
               generator=torch.Generator().manual_seed(p.seed), output_type="np")
    images = (np.clip(out.images, 0, 1) * 255).round().astype(np.uint8)
    return reader(images, pick), images, captions
