"""Cache VAE latents and text embeddings of prepared clips, once, so no training step runs
the VAE or text encoder (the official trainer encodes every step).

Latents are the VAE posterior **mean** by default (``latent: sample`` draws one seeded
sample per clip instead), times ``vae.config.scaling_factor``. They and the text states are
stored in ``cache_dtype`` (float32, or half precision to halve the cache at real scale);
``animatelab.data.latents`` casts them back to float32 for training.

Writing the cache runs the base's VAE and text encoder, so it sits with the models; reading it
(``data.latents``) needs no model and stays with the data.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from animatelab.data.shards import list_shards, load_shard
from animatelab.models.base import BaseComponents, encode_prompts

if TYPE_CHECKING:
    from animatelab.config import EncodeParams


def frames_to_pixels(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [-1, 1], as SD's VAE expects."""
    x = torch.as_tensor(frames).float().div(127.5).sub(1.0)
    return x.movedim(-1, -3)


@torch.no_grad()
def encode_frames(components: BaseComponents, frames: np.ndarray, batch_size: int,
                  latent: str = "mean", generator: torch.Generator | None = None) -> torch.Tensor:
    """uint8 clips (N, F, H, W, 3) -> scaled latents float32 (N, F, C, h, w)."""
    vae = components.vae
    n, f = frames.shape[:2]
    flat = frames.reshape(n * f, *frames.shape[2:])
    out = []
    for i in range(0, len(flat), batch_size):
        x = frames_to_pixels(flat[i : i + batch_size]).to(vae.device, vae.dtype)
        dist = vae.encode(x).latent_dist
        z = dist.mean if latent == "mean" else dist.sample(generator)
        out.append(z.float().cpu() * vae.config.scaling_factor)
    z = torch.cat(out)
    return z.view(n, f, *z.shape[1:])


@torch.no_grad()
def encode_captions(components: BaseComponents, captions: list[str], batch_size: int) -> torch.Tensor:
    return torch.cat([encode_prompts(components, captions[i : i + batch_size]).float().cpu()
                      for i in range(0, len(captions), batch_size)])


def cache_dtype(p: "EncodeParams") -> torch.dtype:
    """The torch dtype the cache is stored in (``encode.cache_dtype``)."""
    return getattr(torch, p.cache_dtype)


def encode_dataset(components: BaseComponents, in_dir: str | Path, out_dir: str | Path, p: "EncodeParams",
                   shard_index: int | None = None, num_shards: int | None = None) -> dict[str, int]:
    """Encode every ``shard-*`` of a prepared dataset (or this process's share: shard i goes to
    process ``i % num_shards``); output shards keep the input shard names, so processes never collide."""
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    in_dir, out_dir = Path(in_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shards = list_shards(in_dir)
    if num_shards:
        shards = [s for i, s in enumerate(shards) if i % num_shards == (shard_index or 0)]
    dtype = cache_dtype(p)
    empty = encode_prompts(components, [""])[0].cpu().to(dtype).contiguous()
    save_file({"text": empty}, str(out_dir / "empty_text.safetensors"))
    clips = 0
    for shard in tqdm(shards, desc=f"encode {in_dir.name}"):
        frames, meta = load_shard(shard)
        gen = torch.Generator().manual_seed(p.seed * 100_003 + sum(map(ord, shard.stem)))
        latents = encode_frames(components, frames, p.batch_size, p.latent, gen)
        text = encode_captions(components, [m.get("caption", "") for m in meta], p.batch_size)
        save_file({"latents": latents.to(dtype).contiguous(), "text": text.to(dtype).contiguous()},
                  str(out_dir / f"{shard.stem}.safetensors"))
        shutil.copyfile(shard.with_suffix(".jsonl"), out_dir / f"{shard.stem}.jsonl")
        clips += len(meta)
    info = {"clips": clips, "shards": len(shards), "scaling_factor": float(components.vae.config.scaling_factor),
            "latent": p.latent, "cache_dtype": p.cache_dtype}
    suffix = "" if not num_shards else f"-h{shard_index or 0:03d}"
    (out_dir / f"encode_info{suffix}.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return info
