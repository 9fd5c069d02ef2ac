"""Datasets over the encoded cache (``encode`` stage): no VAE or text encoder at training time.

``data/encoded/{dataset}/shard-*.safetensors`` holds ``latents`` (N, F, C, h, w), already
scaled by the VAE's ``scaling_factor``, and ``text`` (N, L, D); ``empty_text.safetensors`` the
"" caption for classifier-free-guidance dropout. The cache is small (tens of MB for the
default), so it is held in memory as one tensor for O(1) random access, in its stored dtype
(``encode.cache_dtype``: a half-precision cache stays half the RAM); every item a dataset hands
out is float32, so training never computes in the storage precision.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset


def load_encoded(folder: str | Path, dtype: torch.dtype | None = torch.float32
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[dict[str, Any]]]:
    """``(latents, text, empty_text, meta)`` of every shard in ``folder``, in shard order, cast to
    ``dtype`` (None: as stored)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    shards = sorted(folder.glob("shard-*.safetensors"))
    if not shards:
        raise FileNotFoundError(f"no encoded shard-*.safetensors under {folder} (run `animatelab encode`)")
    lat, txt, meta = [], [], []
    for shard in shards:
        t = load_file(str(shard))
        lat.append(t["latents"])
        txt.append(t["text"])
        lines = shard.with_suffix(".jsonl").read_text(encoding="utf-8").splitlines()
        meta.extend(json.loads(line) for line in lines if line)
    empty = load_file(str(folder / "empty_text.safetensors"))["text"]
    latents, text = torch.cat(lat), torch.cat(txt)
    if len(meta) != len(latents):
        raise ValueError(f"{folder}: {len(latents)} clips but {len(meta)} metadata lines")
    if dtype is not None:
        latents, text = latents.to(dtype), text.to(dtype)
    return latents, text, empty.float(), meta


class EncodedClips(Dataset):
    """Video clips: ``{"latents": (F, C, h, w), "text": (L, D), "index": int}``.

    ``frames`` keeps the first F frames of each clip (None: all); ``indices`` a subset of clips.
    """

    def __init__(self, folder: str | Path, frames: int | None = None, indices: list[int] | None = None) -> None:
        latents, self.text, self.empty_text, meta = load_encoded(folder, dtype=None)
        if frames is not None:
            if frames > latents.shape[1]:
                raise ValueError(f"{folder}: clips have {latents.shape[1]} frames, {frames} requested")
            latents = latents[:, :frames]
        self.latents = latents
        self.indices = list(range(len(latents))) if indices is None else list(indices)
        self.meta = [meta[i] for i in self.indices]
        self.folder = Path(folder)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, Any]:
        j = self.indices[i]
        return {"latents": self.latents[j].float(), "text": self.text[j].float(), "index": j}


class EncodedFrames(Dataset):
    """Single frames of the encoded clips (domain-adapter training): ``{"latents": (C, h, w), "text": (L, D)}``."""

    def __init__(self, folder: str | Path) -> None:
        latents, self.text, self.empty_text, self.meta = load_encoded(folder, dtype=None)
        self.num_clips, self.num_frames = latents.shape[:2]
        self.latents = latents.flatten(0, 1)

    def __len__(self) -> int:
        return len(self.latents)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"latents": self.latents[i].float(), "text": self.text[i // self.num_frames].float()}
