"""MoonShot sampling: a small DDIM loop over the MVB UNet (no diffusers pipeline takes its 9-channel
first-frame input together with IP-style image embeddings), with classifier-free guidance whose
unconditional branch drops the text ("" embedding) and the image (zero embedding), as in training.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from animatelab.models.moonshot import predict

if TYPE_CHECKING:
    from diffusers import DDIMScheduler, UNetMotionModel


@torch.no_grad()
def sample_moonshot(unet: "UNetMotionModel", scheduler: "DDIMScheduler", text: torch.Tensor,
                    empty_text: torch.Tensor, image_embeds: torch.Tensor | None, first: torch.Tensor | None,
                    frames: int, steps: int, guidance: float, generator: torch.Generator,
                    latent_shape: tuple[int, int, int] | None = None) -> torch.Tensor:
    """Latents (B, 4, F, h, w) for text (B, L, D), image embeddings (B, E) or None, and a first-frame
    latent (B, 4, h, w) to animate or None (text(-and-image)-to-video)."""
    b = text.shape[0]
    c, h, w = latent_shape or tuple(first.shape[1:])
    x = torch.randn((b, c, frames, h, w), generator=generator).to(text) * scheduler.init_noise_sigma
    scheduler.set_timesteps(steps)
    guided = guidance != 1.0
    texts = torch.cat([empty_text.to(text).expand_as(text), text]) if guided else text
    images = None if image_embeds is None else (
        torch.cat([torch.zeros_like(image_embeds), image_embeds]) if guided else image_embeds)
    firsts = None if first is None else (torch.cat([first, first]) if guided else first)
    for t in scheduler.timesteps:
        inp = scheduler.scale_model_input(torch.cat([x, x]) if guided else x, t)
        eps = predict(unet, inp, t.expand(inp.shape[0]), texts, images, firsts)
        if guided:
            uncond, cond = eps.chunk(2)
            eps = uncond + guidance * (cond - uncond)
        x = scheduler.step(eps, t, x).prev_sample
    return x
