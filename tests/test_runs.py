"""Run names: one grammar, written and read in ``animatelab.runs`` only."""

from __future__ import annotations

import pytest

from animatelab.config import load_params
from animatelab.runs import RunId, seed_variant, study_runs
from tests.conftest import REPO


@pytest.mark.parametrize("name, kind, key, folder", [
    ("with_adapter_s0", "motion", "with_adapter_s0", "with_adapter_s0"),
    ("lora_n50", "motion_lora", "50", "n50"),
    ("dir_left", "direction_lora", "left", "left"),
    ("lora_nx", "motion", "lora_nx", "lora_nx"),  # not a number of videos: an ordinary motion run name
])
def test_parse_and_format_are_inverse(name, kind, key, folder):
    run = RunId.parse(name)
    assert (run.kind, run.key, run.train_folder, run.name) == (kind, key, folder, name)


def test_stage_items_from_dvc_foreach():
    assert RunId.from_stage_item("motion_lora", 5).name == "lora_n5"
    assert RunId.from_stage_item("motion_lora", "n5") == RunId.from_stage_item("motion_lora", "lora_n5")
    assert RunId.from_stage_item("direction_lora", "dir_left") == RunId("direction_lora", "left")
    with pytest.raises(ValueError, match="number of videos"):
        RunId.from_stage_item("motion_lora", "five")


def test_seed_variant():
    assert seed_variant("no_adapter_s3") == ("no_adapter", 3)
    assert seed_variant("lora_n5") is None and seed_variant("conv1d") is None


def test_study_runs_cover_every_sampled_run_of_params():
    params = load_params(REPO / "params.yaml")
    names = [r.name for r in study_runs(params)]
    assert names[: len(params.train_motion.runs)] == list(params.train_motion.runs)
    assert {f"lora_n{n}" for n in params.train_motion_lora.n_videos} <= set(names)
    assert {f"dir_{d}" for d in params.train_direction_lora.directions} <= set(names)
    assert all(RunId.parse(n).name == n for n in names)
