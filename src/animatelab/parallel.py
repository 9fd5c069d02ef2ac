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


def stage_argv(stage: str, args: Any) -> list[str]:
    """The ``animatelab`` command line that ran ``stage`` with ``args`` (params files, overrides, run)."""
    argv = [stage]
    for path in getattr(args, "params", None) or []:
        argv += ["--params", str(path)]
    for override in getattr(args, "overrides", None) or []:
        argv += ["--set", override]
    if getattr(args, "run", None) is not None:
        argv += ["--run", str(args.run)]
    return argv


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_local(argv: list[str], processes: int, threads: int, distributed: bool) -> None:
    """Run ``animatelab *argv`` as ``processes`` processes on this machine, ``threads`` torch threads each,
    and wait for all of them; raises if one fails.

    On a 2-core CPU two 1-thread processes get ~1.2-1.3x the throughput of one 2-thread process on small
    batches (``benchmarks/bench_processes.py``). ``distributed``: the processes get the environment
    ``torchrun`` sets (rank, world size, a local rendezvous), so ``accelerate`` joins them with DDP
    (gloo on CPU) and each trains on its slice of the global batch; otherwise process ``k`` gets
    ``--shard-index k --num-shards processes`` and does its share of the stage's items.
    ``torchrun`` itself is not used: its parser takes ``--run`` for its own ``--run-path``.
    """
    import subprocess
    import sys

    import torch

    base = {k: v for k, v in os.environ.items() if k != "ANIMATELAB_WARM"}  # children start cold, together
    base |= {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if distributed:
        base |= {"WORLD_SIZE": str(processes), "LOCAL_WORLD_SIZE": str(processes), "MASTER_ADDR": "127.0.0.1",
                 "MASTER_PORT": str(_free_port()), "GROUP_RANK": "0", "ROLE_RANK": "0"}
        if not torch.cuda.is_available():
            base["ACCELERATE_USE_CPU"] = "true"
    children = []
    for k in range(processes):
        env = base | ({"RANK": str(k), "LOCAL_RANK": str(k)} if distributed else {})
        extra = [] if distributed else ["--shard-index", str(k), "--num-shards", str(processes)]
        children.append(subprocess.Popen([sys.executable, "-m", "animatelab.cli", *argv, *extra], env=env))
    codes = _wait_all(children)
    if any(codes):
        raise RuntimeError(f"animatelab {' '.join(argv)}: {processes} local processes exited with {codes}")


def _wait_all(children: list) -> list[int]:
    """Exit codes of every child; when one fails the others are stopped (a DDP peer would wait forever)."""
    import time

    while True:
        codes = [child.poll() for child in children]
        if all(c is not None for c in codes):
            return codes
        if any(c not in (None, 0) for c in codes):
            for child in children:
                if child.poll() is None:
                    child.terminate()
            return [child.wait() for child in children]
        time.sleep(0.2)
