"""The few multi-process helpers accelerate leaves to us: who am I, which part is mine.

Training goes through ``accelerate.Accelerator`` (DDP, multi-node). These helpers read the
launcher's environment (``RANK``/``WORLD_SIZE``, set by ``accelerate launch`` and
``torchrun``) without starting a process group, so CPU-only stages such as ``prepare`` and
``encode`` can split their input across ranks/hosts under the same launcher.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def rank() -> int:
    """Global rank of this process (0 when not launched distributed)."""
    return int(os.environ.get("RANK", 0))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", 1))


def is_main_process() -> bool:
    return rank() == 0


def shard_of(args: Any) -> tuple[int | None, int | None]:
    """``(shard_index, num_shards)``: the CLI's ``--shard-index/--num-shards`` if given,
    else this process's rank and world size when launched with several processes."""
    index, count = getattr(args, "shard_index", None), getattr(args, "num_shards", None)
    if count is not None or index is not None:
        return index, count
    if world_size() > 1:
        return rank(), world_size()
    return None, None


def rank_slice(items: Sequence[T], rank_: int | None = None, world: int | None = None) -> Sequence[T]:
    """This rank's contiguous slice of a global batch (sizes differ by at most one).

    Sampling the *global* batch with one generator on every rank and slicing it makes
    ``N processes x batch b`` see exactly the examples of ``1 process x batch N*b``.
    """
    rank_ = rank() if rank_ is None else rank_
    world = world_size() if world is None else world
    if not 0 <= rank_ < world:
        raise ValueError(f"rank {rank_} outside world of size {world}")
    base, extra = divmod(len(items), world)
    start = rank_ * base + min(rank_, extra)
    return items[start : start + base + (rank_ < extra)]


def main_process_only(fn: Callable[..., T]) -> Callable[..., T | None]:
    """Run ``fn`` on global rank 0 only (exports, MLflow logging); other ranks get ``None``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T | None:
        return fn(*args, **kwargs) if is_main_process() else None

    return wrapper
