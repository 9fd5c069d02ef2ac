"""``animatelab train_adapter``: the domain-adapter LoRA, trained on single video frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from animatelab.config import Params


def run(params: Params, args: Any) -> None:
    import mlflow
    import torch

    from animatelab.tracking import stage_run
    from animatelab.train.adapter import train_domain_adapter

    p = params.train_adapter
    torch.set_num_threads(p.threads)
    with stage_run("train_adapter", {"train_adapter": p.model_dump(), "base": params.base.model_dump()}):
        result, path = train_domain_adapter(params.base.path, Path(params.encode.out_dir) / p.dataset, p,
                                            params.base.scheduler_overrides)
        mlflow.log_metric("final_loss", sum(result.losses[-20:]) / len(result.losses[-20:]))
        print(f"train_adapter: {result.steps} steps, saved {path}")
