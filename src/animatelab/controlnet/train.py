"""``train_controlnet_image``: an image ControlNet (edge maps -> image) on the frozen base, through ``fit``.

The first ``max_images`` clean images (``images.npz``) are VAE-encoded (posterior mean x scaling
factor, as the encode cache), their captions text-encoded, and their Canny edge maps computed once.
Each step: one timestep per image, captions dropped with ``loop.cfg_dropout``, the ControlNet's
residuals from the noisy latent + text + edges added to the frozen base UNet's down/mid blocks, the
noise loss of that prediction. Only the ControlNet trains.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.data import Dataset

from animatelab.controlnet import model as cn
from animatelab.models.scheduler import training_scheduler
from animatelab.train.diffusion import (
    add_noise_one_timestep_per_video,
    diffusion_loss,
    diffusion_target,
    drop_captions,
)

if TYPE_CHECKING:
    from animatelab.controlnet.schema import TrainControlNetImageParams
    from animatelab.train.randomness import StepRandom


class EdgeImageSet(Dataset):
    """``{"latents": (C, h, w), "text": (L, D), "edges": uint8 (H, W)}`` per clean image, in memory."""

    def __init__(self, latents: torch.Tensor, text: torch.Tensor, edges: torch.Tensor, empty_text: torch.Tensor) -> None:
        if not len(latents) == len(text) == len(edges):
            raise ValueError(f"{len(latents)} latents, {len(text)} captions, {len(edges)} edge maps")
        self.latents, self.text, self.edges, self.empty_text = latents, text, edges, empty_text

    def __len__(self) -> int:
        return len(self.latents)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"latents": self.latents[i], "text": self.text[i], "edges": self.edges[i]}


@torch.no_grad()
def edge_image_set(p: "TrainControlNetImageParams", base_path: str | Path) -> EdgeImageSet:
    """The first ``p.max_images`` clean images of ``p.synth_dir``, encoded by the base at ``base_path``, with
    their captions' embeddings and Canny edges (``p``: the ``train_controlnet_image`` group)."""
    from animatelab.models.encode import encode_captions, encode_frames
    from animatelab.models.base import load_base
    from animatelab.train.pretrain_base import load_synth_images

    images, rows = load_synth_images(p.synth_dir)
    images, captions = images[: p.max_images], [r["caption"] for r in rows[: p.max_images]]
    comps = load_base(base_path)
    latents = encode_frames(comps, images[:, None], p.encode_batch_size)[:, 0]
    text = encode_captions(comps, captions, p.encode_batch_size)
    empty = encode_captions(comps, [""], 1)[0]
    edges = torch.from_numpy(cn.edge_maps(images, tuple(p.canny_thresholds)))
    return EdgeImageSet(latents, text, edges, empty)


class ControlNetTrainee(nn.Module):
    """The ControlNet (trainable) and the frozen base UNet in one module, so ``fit`` places both."""

    def __init__(self, controlnet: nn.Module, unet: nn.Module) -> None:
        super().__init__()
        self.controlnet, self.unet = controlnet, unet.requires_grad_(False)

    def enable_gradient_checkpointing(self) -> None:
        self.controlnet.enable_gradient_checkpointing()
        self.unet.enable_gradient_checkpointing()

    def forward(self, noisy: torch.Tensor, t: torch.Tensor, text: torch.Tensor, cond: torch.Tensor,
                scale: float = 1.0) -> torch.Tensor:
        down, mid = self.controlnet(noisy, t, encoder_hidden_states=text, controlnet_cond=cond,
                                    conditioning_scale=scale, return_dict=False)
        return self.unet(noisy, t, encoder_hidden_states=text, down_block_additional_residuals=down,
                         mid_block_additional_residual=mid).sample


def controlnet_loss_fn(model: ControlNetTrainee, p: "TrainControlNetImageParams", empty_text: torch.Tensor,
                       schedule: dict[str, Any]):
    """``compute_loss(batch, rng)`` for ``fit``: caption dropout of ``p.loop``, noise on the study's ``schedule``."""
    scheduler = training_scheduler(schedule)

    def compute_loss(batch: dict, rng: "StepRandom") -> torch.Tensor:
        latents = batch["latents"]
        text = drop_captions(batch["text"], empty_text, p.loop.cfg_dropout, rng)
        noisy, eps, t = add_noise_one_timestep_per_video(scheduler, latents, rng)
        pred = model(noisy, t, text, cn.edge_condition(batch["edges"]).to(latents))
        return diffusion_loss(pred, diffusion_target(scheduler, latents, eps, t))

    return compute_loss


def new_trainee(p: "TrainControlNetImageParams", base_path: str | Path) -> ControlNetTrainee:
    """A fresh ControlNet (seeded by ``p.loop.seed``) on the frozen base UNet of ``base_path``."""
    from animatelab.train.motion import load_frozen_unet2d

    unet = load_frozen_unet2d(base_path)
    controlnet = cn.build_controlnet(unet, p.conditioning_embedding_out_channels, cn.vae_levels(base_path),
                                     seed=p.loop.seed)
    return ControlNetTrainee(controlnet, unet)


def train_controlnet_image(p: "TrainControlNetImageParams", *, base_path: str | Path,
                           schedule: dict[str, Any]) -> dict[str, Any]:
    """Train ``p`` (the ``train_controlnet_image`` group) on the base at ``base_path`` and the study's noise
    ``schedule``, and write ``{out_dir}`` (diffusers ControlNet folder + info + loss.csv + summary)."""
    from animatelab.outputs import content_digest, without_wall_clock
    from animatelab.train.checkpoint import params_fingerprint
    from animatelab.train.loop import fit
    from animatelab.utils import write_json

    data = edge_image_set(p, base_path)
    model = new_trainee(p, base_path)
    files = [content_digest(Path(base_path) / "unet"), content_digest(Path(p.synth_dir) / "images.npz")]
    result = fit(trainable=model, compute_loss=controlnet_loss_fn(model, p, data.empty_text, schedule), dataset=data,
                 loop=p.loop, checkpoint_dir=Path(p.checkpoint_dir), fingerprint=params_fingerprint(p, *files),
                 run_name="train_controlnet_image", loss_csv=Path(p.out_dir) / "loss.csv")
    controlnet = model.controlnet.eval()
    info = {"canny_thresholds": list(p.canny_thresholds), "images": len(data), "conditioning_channels": 3,
            "condition": "cv2.Canny edges of the RGB image, white on black, 3 channels in [0, 1]"}
    cn.save_controlnet(controlnet, p.out_dir, info)
    summary = result.summary(**info, trainable_parameters=int(sum(q.numel() for q in controlnet.parameters())))
    write_json(Path(p.out_dir) / "train_summary.json", without_wall_clock(summary))
    return summary
