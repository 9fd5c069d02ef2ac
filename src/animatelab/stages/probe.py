"""Stage ``probe``: RQ1 "why" measurements on every motion run (see ``animatelab.probes``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from animatelab.config import Params, check_paths
from animatelab.tracking import flatten, stage_run


def run(params: Params, args) -> None:
    import mlflow

    from animatelab.parallel import launch_local, shard_of, stage_argv
    from animatelab.models.scheduler import study_schedule
    from animatelab.probes.run import merge_shards, probe_runs, run_probes

    check_paths(params, "probe")
    p, tm = params.probe, params.train_motion
    runs = probe_runs(p.runs, tm.runs)

    def measure(runs: list[str], out_dir: Path | None = None, adapter_gap: bool = True) -> dict:
        return run_probes(p, runs, motion_runs=tm.runs, motion_dir=tm.out_dir, motion_frames=tm.frames,
                          encoded_dir=params.encode.out_dir, base_path=params.base.path,
                          adapter_dir=params.train_adapter.out_dir, schedule=study_schedule(params.base),
                          synth=params.synth_data, out_dir=out_dir, adapter_gap=adapter_gap)

    index, count = shard_of(args)
    if count is not None:  # one process of a launch: its share of the runs, into its own folder
        # every count-th run (not a contiguous slice): the with-adapter runs, which the probes also read at
        # their training condition, spread over the processes; the adapter's domain gap is measured once
        measure(runs[index::count], shard_dir(p.out_dir, index), adapter_gap=index == count - 1)
        return
    with stage_run("probe", {"probe": p.model_dump(), "base": params.base.model_dump()}, args.run):
        if p.processes > 1:
            launch_local(stage_argv("probe", args), p.processes, p.threads, distributed=False)
            shards = [shard_dir(p.out_dir, k) for k in range(p.processes)]
            results = merge_shards(p.probes, runs, p.out_dir, shards)
            for d in shards:
                shutil.rmtree(d)
        else:
            results = measure(runs)
        metrics = {
            f"{probe}.{run}.{key}": value["mean"]
            for probe, per_run in results.items()
            for run, values in per_run.items()
            for key, value in values.items()
        }
        mlflow.log_metrics({k: v for k, v in flatten(metrics).items() if v == v})
        mlflow.log_artifacts(params.probe.out_dir, "probes")


def shard_dir(out_dir: str, index: int) -> Path:
    """Where process ``index`` of a launch writes its runs' probe files (removed once merged)."""
    return Path(out_dir).parent / f".{Path(out_dir).name}-shard-{index}"
