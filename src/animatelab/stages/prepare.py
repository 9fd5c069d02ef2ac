"""Stage ``prepare``: WebVid-format CSVs + videos -> clip shards and a kept/skipped summary.

``--shard-index/--num-shards`` process one host's part of every CSV (see data/prepare.py).
"""

from __future__ import annotations

import time

from animatelab.config import Params, ParamsError, check_paths
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    from animatelab.data.prepare import prepare

    check_paths(params, "prepare")
    p = params.prepare
    shard_index, num_shards = getattr(args, "shard_index", None), getattr(args, "num_shards", None)
    valid = num_shards is None or (shard_index is not None and 0 <= shard_index < num_shards)
    if not valid:
        raise ParamsError(f"--shard-index must be in [0, --num-shards) (got {shard_index} of {num_shards})")
    with stage_run("prepare", p.model_dump(mode="json"), getattr(args, "run", None)):
        import mlflow

        start = time.perf_counter()
        summary = prepare(p, shard_index, num_shards)
        metrics = {"kept": summary["kept"], "seconds": time.perf_counter() - start}
        for name, ds in summary["datasets"].items():
            metrics[f"{name}.kept"] = ds["kept"]
            metrics.update({f"{name}.skipped.{reason}": n for reason, n in ds["skipped"].items()})
        mlflow.log_metrics(metrics)
        if shard_index is not None:
            mlflow.set_tags({"shard_index": shard_index, "num_shards": num_shards})
