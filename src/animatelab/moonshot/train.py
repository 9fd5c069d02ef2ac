"""MoonShot's two training stages, both through the one loop (``train.loop.fit``).

* ``train_moonshot_image``: the decoupled cross-attention's image K/V and the image projection on
  the clean images (``images.npz`` + captions, VAE- and text-encoded once at the start), each image
  conditioning its own reconstruction (IP-Adapter's objective); the base UNet is frozen.
* ``train_moonshot_video``: temporal attention and the widened conv_in on the encoded clips, the
  caption as text and the first frame as the image condition (CLIP of the prepared frame 0) and,
  for ``animate_p`` of the clips, as the 9-channel first-frame input; spatial weights (base,
  domain adapter merged at scale 1 when ``with_adapter``, stage-1 image attention) frozen.
Image embeddings are dropped (zeros) with probability ``image_dropout`` for classifier-free guidance.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Dataset

from animatelab.data.latents import EncodedClips
from animatelab.moonshot import model as ms
from animatelab.outputs import content_digest, without_wall_clock
from animatelab.models.scheduler import training_scheduler
from animatelab.train.diffusion import (
    add_noise_one_timestep_per_video,
    diffusion_loss,
    diffusion_target,
    drop_captions,
)

if TYPE_CHECKING:
    from animatelab.moonshot.schema import TrainMoonShotImageParams, TrainMoonShotVideoParams
    from animatelab.train.randomness import StepRandom


class ImageSet(Dataset):
    """Clean images: ``{"latents": (C, h, w), "text": (L, D), "image": (E,)}`` held in memory."""

    def __init__(self, latents: torch.Tensor, text: torch.Tensor, image: torch.Tensor, empty_text: torch.Tensor) -> None:
        self.latents, self.text, self.image, self.empty_text = latents, text, image, empty_text

    def __len__(self) -> int:
        return len(self.latents)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"latents": self.latents[i], "text": self.text[i], "image": self.image[i]}


class FirstFrameClips(EncodedClips):
    """Encoded clips plus the image embedding of each clip's prepared frame 0: ``"image"`` (E,)."""

    def __init__(self, encoded: str | Path, prepared: str | Path, frames: int, encoder: ms.ImageEncoder) -> None:
        from animatelab.eval.suite import load_clips

        super().__init__(encoded, frames=frames)
        pixels, meta = load_clips(prepared)
        if [m.get("videoid") for m in meta] != [m.get("videoid") for m in self.meta]:
            raise ValueError(f"{prepared} and {encoded} do not hold the same clips in the same order")
        self.image = encoder(np.ascontiguousarray(pixels[:, 0])).float()

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {**super().__getitem__(i), "image": self.image[self.indices[i]]}


def drop_images(image: torch.Tensor, p: float, rng: "StepRandom") -> torch.Tensor:
    """Zero each sample's image embedding with probability ``p``."""
    if p <= 0:
        return image
    keep = (rng.rand(image.shape[0]) >= p).to(image)
    return image * keep.view(-1, 1)


def image_loss_fn(unet: torch.nn.Module, schedule: dict[str, Any], empty_text: torch.Tensor,
                  cfg_dropout: float, image_dropout: float) -> Callable[[dict, "StepRandom"], torch.Tensor]:
    """``compute_loss`` of stage 1: a 2-D UNet, latents (B, C, h, w), text and image of the same picture."""
    scheduler = training_scheduler(schedule)

    def compute_loss(batch: dict, rng: "StepRandom") -> torch.Tensor:
        latents = batch["latents"]
        text = drop_captions(batch["text"], empty_text, cfg_dropout, rng)
        image = drop_images(batch["image"], image_dropout, rng)
        noisy, eps, t = add_noise_one_timestep_per_video(scheduler, latents, rng)
        pred = unet(noisy, t, encoder_hidden_states=text, added_cond_kwargs=ms.image_kwargs(image)).sample
        return diffusion_loss(pred, diffusion_target(scheduler, latents, eps, t))

    return compute_loss


def video_loss_fn(unet: torch.nn.Module, schedule: dict[str, Any], empty_text: torch.Tensor, cfg_dropout: float,
                  image_dropout: float, animate_p: float) -> Callable[[dict, "StepRandom"], torch.Tensor]:
    """``compute_loss`` of stage 2: latents (B, F, C, h, w); frame 0 is both image condition and input."""
    scheduler = training_scheduler(schedule)

    def compute_loss(batch: dict, rng: "StepRandom") -> torch.Tensor:
        latents = batch["latents"]
        text = drop_captions(batch["text"], empty_text, cfg_dropout, rng)
        image = drop_images(batch["image"], image_dropout, rng) if "image" in batch else None
        animate = rng.rand(latents.shape[0]) < animate_p
        noisy, eps, t = add_noise_one_timestep_per_video(scheduler, latents, rng)
        pred = ms.predict(unet, noisy.transpose(1, 2), t, text, image, latents[:, 0], animate)
        return diffusion_loss(pred.transpose(1, 2), diffusion_target(scheduler, latents, eps, t))

    return compute_loss


def image_encoder_for(image_encoder: str, encoder: tuple[ms.ImageEncoder, int] | None) -> tuple[ms.ImageEncoder, int]:
    """The given ``(encode, dim)`` or the CLIP at ``image_encoder`` (``train_moonshot_image.image_encoder``)."""
    return encoder if encoder is not None else ms.clip_image_encoder(image_encoder)


@torch.no_grad()
def clean_image_set(p: "TrainMoonShotImageParams", base_path: str | Path, encode: ms.ImageEncoder) -> ImageSet:
    """The first ``p.max_images`` clean images of ``p.synth_dir``, VAE- and text-encoded once by the base at
    ``base_path`` and image-encoded by ``encode``."""
    from animatelab.models.encode import encode_captions, encode_frames
    from animatelab.models.base import load_base
    from animatelab.train.pretrain_base import load_synth_images

    images, rows = load_synth_images(p.synth_dir)
    images, captions = images[: p.max_images], [r["caption"] for r in rows[: p.max_images]]
    comps = load_base(base_path)
    latents = encode_frames(comps, images[:, None], p.encode_batch_size)[:, 0]
    text = encode_captions(comps, captions, p.encode_batch_size)
    empty = encode_captions(comps, [""], 1)[0]
    return ImageSet(latents, text, encode(np.ascontiguousarray(images)).float(), empty)


def _summary(result: Any, module: torch.nn.Module, names: list[str], extra: dict) -> dict[str, Any]:
    wanted = set(names)
    return result.summary(**extra, trainable_parameters=int(sum(p.numel() for n, p in module.named_parameters()
                                                                if n in wanted)))


def train_moonshot_image(p: "TrainMoonShotImageParams", *, base_path: str | Path, schedule: dict[str, Any],
                         encoder: tuple[ms.ImageEncoder, int] | None = None) -> dict[str, Any]:
    """Stage 1 of ``p`` (the ``train_moonshot_image`` group) on the base at ``base_path`` and the study's noise
    ``schedule``; writes ``{out_dir}`` (image adapter weights + info + loss + summary). ``encoder``: an
    ``(encode, dim)`` in place of the CLIP at ``p.image_encoder``."""
    from animatelab.train.checkpoint import params_fingerprint
    from animatelab.train.loop import fit
    from animatelab.train.motion import load_frozen_unet2d
    from animatelab.utils import write_json

    encode, dim = image_encoder_for(p.image_encoder, encoder)
    data = clean_image_set(p, base_path, encode)
    unet = load_frozen_unet2d(base_path)
    ms.add_image_cross_attention(unet, dim, p.num_image_tokens, p.image_scale, seed=p.loop.seed)
    names = ms.train_only(unet, ms.IMAGE_KEYS)
    unet.train()
    files = [content_digest(Path(base_path) / "unet"), content_digest(Path(p.synth_dir) / "images.npz")]
    result = fit(trainable=unet, compute_loss=image_loss_fn(unet, schedule, data.empty_text, p.loop.cfg_dropout,
                                                             p.image_dropout),
                 dataset=data, loop=p.loop, checkpoint_dir=Path(p.checkpoint_dir),
                 fingerprint=params_fingerprint(p, schedule, dim, *files), run_name="train_moonshot_image",
                 loss_csv=Path(p.out_dir) / "loss.csv")
    info = {"image_embed_dim": dim, "num_image_tokens": p.num_image_tokens, "image_scale": p.image_scale,
            "images": len(data)}
    ms.save_weights(unet.eval(), ms.IMAGE_KEYS, p.out_dir, ms.IMAGE_FILE, info)
    summary = _summary(result, unet, names, info)
    write_json(Path(p.out_dir) / "train_summary.json", without_wall_clock(summary))
    return summary


def train_moonshot_video(p: "TrainMoonShotVideoParams", *, image_dir: str | Path, image_encoder: str,
                         encoded_dir: str | Path, prepared_dir: str | Path, base_path: str | Path,
                         adapter_dir: str | Path, schedule: dict[str, Any],
                         encoder: tuple[ms.ImageEncoder, int] | None = None) -> dict[str, Any]:
    """Stage 2 of ``p`` (the ``train_moonshot_video`` group) on stage 1's image attention (``image_dir``,
    ``train_moonshot_image.out_dir``; its CLIP at ``image_encoder`` unless ``encoder`` is given), on the
    encode cache and prepared clips (``encoded_dir``, ``prepared_dir``) of ``p.dataset``, over the base at
    ``base_path`` (+ the domain adapter of ``adapter_dir`` when ``p.with_adapter``) and the study's noise
    ``schedule``; writes ``{out_dir}`` (motion modules + conv_in + info)."""
    from animatelab.models.assemble import adapter_file
    from animatelab.train.checkpoint import params_fingerprint
    from animatelab.train.loop import fit
    from animatelab.train.motion import load_frozen_unet2d
    from animatelab.utils import write_json

    image_dir = Path(image_dir)
    encode, _ = image_encoder_for(image_encoder, encoder)
    data = FirstFrameClips(Path(encoded_dir) / p.dataset, Path(prepared_dir) / p.dataset, p.frames, encode)
    unet2d = load_frozen_unet2d(base_path, adapter_dir if p.with_adapter else None)
    ms.load_image_adapter(unet2d, image_dir)
    unet = ms.build_moonshot_unet(unet2d, p.module, seed=p.loop.seed, first_frame_input=p.first_frame_input)
    names = [n for n, q in unet.named_parameters() if q.requires_grad]
    files = [Path(base_path) / "unet"]
    if p.with_adapter:
        files.append(adapter_file(adapter_dir))
    stage1 = content_digest(image_dir / ms.IMAGE_FILE)  # a resumed stage 1 rewrites the same bytes
    result = fit(trainable=unet, compute_loss=video_loss_fn(unet, schedule, data.empty_text, p.loop.cfg_dropout,
                                                             p.image_dropout, p.animate_p),
                 dataset=data, loop=p.loop, checkpoint_dir=Path(p.checkpoint_dir),
                 fingerprint=params_fingerprint(p, schedule, stage1, *(content_digest(f) for f in files)),
                 run_name="train_moonshot_video", loss_csv=Path(p.out_dir) / "loss.csv")
    info = {"module": p.module.model_dump(mode="json"), "with_adapter": p.with_adapter, "frames": p.frames,
            "first_frame_input": p.first_frame_input,
            "image_dir": str(image_dir), "clips": len(data)}
    ms.save_weights(unet.eval(), ms.VIDEO_KEYS, p.out_dir, ms.VIDEO_FILE, info)
    summary = _summary(result, unet, names, info)
    write_json(Path(p.out_dir) / "train_summary.json", without_wall_clock(summary))
    return summary
