"""Time of the default pipeline, read from the MLflow runs its DVC stages log.

Every stage opens one MLflow run (``animatelab.tracking.stage_run``), so start/end times are
already recorded. This takes the latest finished run of each stage, sums them, and measures what
the runs do not see: the start-up of each stage's process (Python, torch, MLflow) and DVC's
bookkeeping, as the gap between one stage's end and the next one's start within a ``dvc repro``
(gaps over ``--max-gap`` seconds are pauses between two repros, not overhead). The estimate of a
whole ``make repro`` is ``sum of stages + stages x median gap``. Run after ``make repro``:

    python benchmarks/pipeline_times.py [--tracking-uri sqlite:///mlflow.db [--tracking-uri ...]]

Writes ``reports/bench/pipeline_times.json`` (per stage) and ``pipeline_times.png`` (per stage
family: bars a reader can compare against the budget).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from statistics import median

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_pinned_kernels import cpu_field  # noqa: E402  (the one /proc/cpuinfo reader of the benchmarks)


def stage_spans(tracking_uris: list[str]) -> dict[str, tuple[float, float]]:
    """``{stage: (start, end)}`` in seconds since the epoch, latest finished run of each stage over
    all stores (a study whose first stages were committed from another store's runs reads both)."""
    import mlflow

    spans: dict[str, tuple[float, float]] = {}
    for uri in tracking_uris:
        mlflow.set_tracking_uri(uri)
        runs = mlflow.search_runs(experiment_names=["animatelab"], filter_string="attributes.status = 'FINISHED'")
        for _, row in runs.iterrows():
            name = row.get("tags.dvc_stage") or row.get("tags.mlflow.runName")
            if name and row["end_time"] is not None:
                span = (row["start_time"].timestamp(), row["end_time"].timestamp())
                if name not in spans or span[0] > spans[name][0]:
                    spans[name] = span
    return spans


def cpu() -> dict[str, str]:
    """The CPU the times were measured on: they depend on it as much as on the settings."""
    return {name: cpu_field(name) for name in ("model name", "cpu family", "model")}


def startup_gaps(spans: dict[str, tuple[float, float]], max_gap: float) -> list[float]:
    """Seconds between consecutive stages (by start time) that ran in one repro."""
    ordered = sorted(spans.values())
    gaps = [b[0] - a[1] for a, b in zip(ordered, ordered[1:])]
    return [g for g in gaps if 0 <= g <= max_gap]


def by_family(seconds: dict[str, float]) -> dict[str, tuple[int, float]]:
    """``{stage family: (count, seconds)}``: ``sample@x`` and ``sample@y`` are one family."""
    out: dict[str, list] = defaultdict(lambda: [0, 0.0])
    for name, s in seconds.items():
        fam = out[name.split("@")[0]]
        fam[0] += 1
        fam[1] += s
    return {k: (int(c), float(s)) for k, (c, s) in sorted(out.items(), key=lambda kv: -kv[1][1])}


def plot(families: dict[str, tuple[int, float]], overhead: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [f"{k} (x{c})" if c > 1 else k for k, (c, _) in families.items()] + ["process start-up (all)"]
    minutes = [s / 60 for _, s in families.values()] + [overhead / 60]
    fig, ax = plt.subplots(figsize=(5.0, 0.22 * len(names) + 0.8))
    ax.barh(names[::-1], minutes[::-1], color="#4c72b0")
    ax.set_xlabel("minutes (2-core CPU)")
    ax.set_title(f"make repro: {sum(minutes):.1f} min", fontsize=9)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracking-uri", action="append", help=f"repeatable; default sqlite:///{REPO / 'mlflow.db'}")
    ap.add_argument("--out", default=str(REPO / "reports/bench/pipeline_times.json"))
    ap.add_argument("--max-gap", type=float, default=60.0)
    args = ap.parse_args()
    spans = stage_spans(args.tracking_uri or [f"sqlite:///{REPO / 'mlflow.db'}"])
    seconds = {k: round(e - s, 3) for k, (s, e) in sorted(spans.items())}
    gaps = startup_gaps(spans, args.max_gap)
    gap = median(gaps) if gaps else 0.0
    total = sum(seconds.values())
    families = by_family(seconds)
    for name, (count, s) in families.items():
        print(f"{name:<24} x{count:<3} {s / 60:6.2f} min")
    estimate = total + gap * len(seconds)
    print(f"stages {total / 60:.1f} min + start-up {len(seconds)} x {gap:.1f} s = {estimate / 60:.1f} min")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "cpu": cpu(), "seconds": seconds, "total_seconds": round(total, 1),
        "families": {k: {"stages": c, "seconds": round(s, 1)} for k, (c, s) in families.items()},
        "startup_gap_median_seconds": round(gap, 2), "startup_gaps_measured": len(gaps),
        "estimated_make_repro_seconds": round(estimate, 1),
    }, indent=1))
    plot(families, gap * len(seconds), out.with_suffix(".png"))
    print(json.dumps({"status": "ok", "stages": len(seconds), "total_min": round(total / 60, 1),
                      "estimated_make_repro_min": round(estimate / 60, 1)}))


if __name__ == "__main__":
    main()
