"""Wall time of each DVC stage of the last ``dvc repro``, read from the MLflow runs the stages log.

Every stage opens one MLflow run (``animatelab.tracking.stage_run``), so start/end times are
already recorded; this prints the latest finished run of each stage and the total, and saves
them to ``reports/bench/pipeline_times.json``. Stages that ran no MLflow run (none today) are
not listed. Run after ``make repro``:

    python benchmarks/pipeline_times.py [--tracking-uri sqlite:///mlflow.db]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def stage_times(tracking_uri: str) -> dict[str, float]:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    runs = mlflow.search_runs(experiment_names=["animatelab"], filter_string="attributes.status = 'FINISHED'",
                              order_by=["attributes.start_time DESC"])
    times: dict[str, float] = {}
    for _, row in runs.iterrows():
        name = row.get("tags.dvc_stage") or row.get("tags.mlflow.runName")
        if name and name not in times and row["end_time"] is not None:
            times[name] = (row["end_time"] - row["start_time"]).total_seconds()
    return dict(sorted(times.items(), key=lambda kv: kv[0]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracking-uri", default=f"sqlite:///{REPO / 'mlflow.db'}")
    ap.add_argument("--out", default=str(REPO / "reports/bench/pipeline_times.json"))
    args = ap.parse_args()
    times = stage_times(args.tracking_uri)
    total = sum(times.values())
    width = max((len(k) for k in times), default=5)
    for name, seconds in times.items():
        print(f"{name:<{width}}  {seconds / 60:6.2f} min")
    print(f"{'total':<{width}}  {total / 60:6.2f} min")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"seconds": times, "total_seconds": round(total, 1)}, indent=1))
    print(json.dumps({"status": "ok", "stages": len(times), "total_min": round(total / 60, 1)}))


if __name__ == "__main__":
    main()
