"""``animatelab encode``: cache VAE latents + text embeddings of every prepared dataset.

``--shard-index k --num-shards n`` (or ``accelerate launch``/``torchrun`` ranks) encodes input
shards ``i`` with ``i % n == k`` only; output shards keep their input names, so they never collide.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from animatelab.config import Params


def run(params: Params, args: Any) -> None:
    import mlflow
    import torch

    from animatelab.models.encode import encode_dataset
    from animatelab.models.base import load_base
    from animatelab.parallel import shard_of
    from animatelab.tracking import stage_run

    p = params.encode
    index, count = shard_of(args)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with stage_run("encode", {"encode": p.model_dump(), "base": params.base.model_dump()}, run=args.run):
        comps = load_base(params.base.path, device=device)
        for name in p.datasets:
            info = encode_dataset(comps, Path(p.in_dir) / name, Path(p.out_dir) / name, p, index, count)
            mlflow.log_metrics({f"{name}_clips": info["clips"], f"{name}_shards": info["shards"]})
            print(f"encode {name}: {info['clips']} clips in {info['shards']} shards -> {Path(p.out_dir) / name}")
