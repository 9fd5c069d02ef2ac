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
