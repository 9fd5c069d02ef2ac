"""Clip shards: ``shard-*.safetensors`` (``frames`` uint8 N×F×H×W×3) + a jsonl line per clip.

The writer flushes every ``shard_size`` clips, so memory holds at most one shard; the reader
streams one shard at a time, so training memory does not grow with the dataset.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info


def shard_stem(index: int, host: int | None = None) -> str:
    """``shard-00003`` on one machine; ``shard-h002-00003`` for host shard 2 of a multi-host run."""
    return f"shard-{index:05d}" if host is None else f"shard-h{host:03d}-{index:05d}"


def list_shards(folder: str | Path) -> list[Path]:
    """Every shard of a prepared dataset folder (all hosts), in a fixed order."""
    return sorted(Path(folder).glob("shard-*.safetensors"))


def read_metadata(shard: str | Path) -> list[dict[str, Any]]:
    path = Path(shard).with_suffix(".jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def to_model_input(frames: torch.Tensor) -> torch.Tensor:
    """uint8 (..., F, H, W, 3) clip(s) -> float (..., F, 3, H, W) in [-1, 1], the range the VAE
    expects (AnimateDiff's loader: /255, then normalise with mean = std = 0.5)."""
    return frames.movedim(-1, -3).float().div(127.5).sub(1.0)


def load_shard(shard: str | Path) -> tuple[np.ndarray, list[dict[str, Any]]]:
    from safetensors.numpy import load_file

    return load_file(str(shard))["frames"], read_metadata(shard)


class ShardWriter:
    """Collects clips in order and writes a shard every ``shard_size`` clips (bytes depend only
    on the clips and their order: safetensors and sorted-key jsonl carry no timestamps)."""

    def __init__(self, folder: str | Path, shard_size: int, host: int | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.shard_size, self.host = shard_size, host
        self.frames: list[np.ndarray] = []
        self.meta: list[dict[str, Any]] = []
        self.num_shards = self.num_clips = 0
        prefix = shard_stem(0, host)[: -len("00000")]
        for old in self.folder.glob(f"{prefix}[0-9]*.*"):  # stale shards of an earlier run
            old.unlink()

    def add(self, frames: np.ndarray, meta: dict[str, Any]) -> None:
        self.frames.append(frames)
        self.meta.append(meta)
        if len(self.frames) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        if not self.frames:
            return
        from safetensors.numpy import save_file

        stem = self.folder / shard_stem(self.num_shards, self.host)
        frames = np.ascontiguousarray(np.stack(self.frames))
        save_file({"frames": frames}, str(stem.with_suffix(".safetensors")))
        lines = "".join(json.dumps(m, sort_keys=True, ensure_ascii=False) + "\n" for m in self.meta)
        stem.with_suffix(".jsonl").write_text(lines, encoding="utf-8")
        self.num_shards += 1
        self.num_clips += len(self.frames)
        self.frames, self.meta = [], []

    def close(self) -> None:
        self.flush()


class ShardDataset(IterableDataset):
    """Streams clips from shard files, one shard in memory at a time.

    Shards are split across DataLoader workers and, with ``rank``/``world_size``, across
    processes; ``shuffle`` reorders shards and clips within a shard with ``seed + epoch``.
    Yields ``{"frames": uint8 tensor (F, H, W, 3), **metadata}``, or ``transform(item)``.
    """

    def __init__(
        self,
        folders: str | Path | list[str | Path],
        shuffle: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        transform: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        folders = [folders] if isinstance(folders, (str, Path)) else folders
        self.shards = [s for f in folders for s in list_shards(f)]
        if not self.shards:
            raise FileNotFoundError(f"no shard-*.safetensors under {folders}")
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        self.rank, self.world_size, self.transform = rank, world_size, transform

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return sum(len(read_metadata(s)) for s in self.shards[self.rank :: self.world_size])

    def _my_shards(self) -> list[Path]:
        shards = list(self.shards)
        if self.shuffle:
            random.Random(self.seed + self.epoch).shuffle(shards)
        shards = shards[self.rank :: self.world_size]
        info = get_worker_info()
        return shards if info is None else shards[info.id :: info.num_workers]

    def __iter__(self) -> Iterator[Any]:
        rng = random.Random(self.seed + self.epoch + 7919 * self.rank)
        for shard in self._my_shards():
            frames, meta = load_shard(shard)
            order = list(range(len(meta)))
            if self.shuffle:
                rng.shuffle(order)
            for i in order:
                item = {"frames": torch.from_numpy(frames[i].copy()), **meta[i]}
                yield self.transform(item) if self.transform else item
            del frames
