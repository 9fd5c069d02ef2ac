"""Stage ``synth_data``: generate the embedded synthetic WebVid-format world (docs/world.md)."""

from __future__ import annotations

import time

from animatelab.config import Params
from animatelab.tracking import stage_run


def run(params: Params, args) -> None:
    from animatelab.data.synth import generate

    p = params.synth_data
    with stage_run("synth_data", p.model_dump(mode="json"), getattr(args, "run", None)):
        import mlflow

        start = time.perf_counter()
        counts = generate(p)
        mlflow.log_metrics({**counts, "seconds": time.perf_counter() - start})
