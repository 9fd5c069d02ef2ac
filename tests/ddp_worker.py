"""Worker for tests/test_distributed.py: a tiny model trained with ``animatelab.train.loop.fit``.

Run once per process count (``torch.distributed.run --nproc_per_node 2`` or plain python);
global rank 0 writes the final trainable weights of each job to ``{out}/{job}.safetensors``.

    python tests/ddp_worker.py OUT BATCH JOB[,JOB...]   JOB = name:steps:loss[:ckpt_name]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn


def toy_dataset(n: int = 40) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(123)
    x = torch.randn(n, 6, generator=g)
    y = torch.sin(x @ torch.randn(6, 2, generator=g))
    return [{"x": x[i], "y": y[i]} for i in range(n)]


def toy_model() -> nn.Module:
    torch.manual_seed(7)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2))


def main(out: str, batch: int, jobs: str) -> None:
    from animatelab.config import LoopParams
    from animatelab.train.loop import fit, get_accelerator

    data = toy_dataset()
    for job in jobs.split(","):
        name, steps, loss_kind, *ckpt = job.split(":")
        model = toy_model()

        def compute_loss(b: dict, rng, model: nn.Module = model, kind: str = loss_kind) -> torch.Tensor:
            x = b["x"]
            if kind == "noisy":  # diffusion-like: noise drawn from the loop's StepRandom
                x = x + 0.5 * rng.randn(x.shape).to(x.device)
            return nn.functional.mse_loss(model(x), b["y"])

        loop = LoopParams(steps=int(steps), batch_size=batch, lr=1e-2, checkpoint_every=2, log_every=1, seed=3)
        result = fit(trainable=model, compute_loss=compute_loss, dataset=data, loop=loop,
                     checkpoint_dir=Path(out) / "ckpt" / (ckpt[0] if ckpt else name),
                     fingerprint=f"toy-{loss_kind}", run_name=name)
        if get_accelerator(loop).is_main_process:
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in result.state.items()}, str(Path(out) / f"{name}.safetensors"))
            (Path(out) / f"{name}.resumed").write_text(str(result.resumed_from))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
