"""benchmarks/pipeline_times.py: stage families and the start-up gaps that stage runs do not see."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("pipeline_times", Path(__file__).parents[1] / "benchmarks/pipeline_times.py")
pipeline_times = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pipeline_times)


def test_gaps_within_a_repro_count_and_pauses_between_repros_do_not():
    spans = {  # two repros: a..c, then d after a long pause
        "a": (0.0, 10.0), "b@x": (16.0, 30.0), "b@y": (35.0, 40.0), "d": (4000.0, 4001.0),
    }
    assert pipeline_times.startup_gaps(spans, max_gap=60) == pytest.approx([6.0, 5.0])
    families = pipeline_times.by_family({k: e - s for k, (s, e) in spans.items()})
    assert families == {"b": (2, 19.0), "a": (1, 10.0), "d": (1, 1.0)}  # largest first


def test_stages_read_from_two_stores_keep_each_stages_latest_run(tmp_path):
    """A study split over two MLflow stores (its first stages committed from one, the rest run into
    another) is timed from both: every stage once, its latest finished run wherever it is."""
    import mlflow

    uris = [f"sqlite:///{tmp_path / name}.db" for name in ("first", "second")]
    for uri, names in zip(uris, (["a", "b"], ["b", "c"])):
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment("animatelab")
        for name in names:
            with mlflow.start_run(run_name=name):
                mlflow.set_tag("dvc_stage", name)
    spans = pipeline_times.stage_spans(uris)
    mlflow.set_tracking_uri(uris[1])
    second_b = mlflow.search_runs(experiment_names=["animatelab"], filter_string="tags.dvc_stage = 'b'")
    assert sorted(spans) == ["a", "b", "c"]
    assert spans["b"][0] == pytest.approx(second_b["start_time"][0].timestamp())
    assert spans["a"][0] <= spans["b"][0] <= spans["c"][0]
