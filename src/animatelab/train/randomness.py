"""The randomness of a training step, a function of (seed, step) alone.

Noise, timesteps and caption dropout of step ``s`` come from a generator seeded by ``step_seed(seed, s)``,
so a run resumed from a checkpoint draws exactly what the uninterrupted run drew, and the same rows go to
the same clips whatever the number of processes.
"""

from __future__ import annotations

import torch

from animatelab.parallel import rank_slice


def step_seed(seed: int, step: int, rank: int = 0) -> int:
    """The seed of step ``step``'s generator: a resumed run draws what the uninterrupted one did."""
    return (seed * 1_000_003 + step * 7_919 + rank * 104_729) % (2**63 - 1)


class StepRandom:
    """The randomness of one optimisation step (noise, timesteps, caption dropout).

    Every rank seeds the same generator and draws each tensor for the whole global batch, then
    keeps its own rows (``rank_slice``), so a clip's noise does not depend on the process count.
    With one process the draws are exactly ``torch.randn(shape, generator=g)`` and friends.
    The first dimension of every request must be this rank's batch size.
    """

    def __init__(self, seed: int, global_batch: int, device: torch.device | str = "cpu", rank: int = 0,
                 world: int = 1) -> None:
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.device = self.generator.device
        rows = rank_slice(range(global_batch), rank, world)
        self.global_batch, self.start, self.rows = global_batch, (rows[0] if len(rows) else 0), len(rows)

    def _mine(self, full: torch.Tensor, n: int) -> torch.Tensor:
        if n != self.rows:
            raise ValueError(f"StepRandom: asked for {n} rows, but this rank's batch has {self.rows}")
        return full[self.start : self.start + n]

    def randn(self, shape: tuple[int, ...] | torch.Size, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        full = torch.randn((self.global_batch, *shape[1:]), generator=self.generator, device=self.device, dtype=dtype)
        return self._mine(full, shape[0])

    def rand(self, n: int) -> torch.Tensor:
        return self._mine(torch.rand(self.global_batch, generator=self.generator, device=self.device), n)

    def randint(self, high: int, n: int) -> torch.Tensor:
        return self._mine(torch.randint(0, high, (self.global_batch,), generator=self.generator, device=self.device), n)
