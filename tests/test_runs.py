"""Run names and the names below them: each grammar written and read in ``animatelab.runs`` only."""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

import pytest

from animatelab.config import load_params
from animatelab.runs import (
    KEYFRAMES_GLOB,
    SCALE_GLOB,
    RunId,
    keyframes_name,
    parse_keyframes,
    parse_scale,
    scale_folder,
    scale_name,
    seed_variant,
    sparsectrl_name,
    sparsectrl_variant,
    study_runs,
)
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
    names = [r.name for r in study_runs(params.train_motion.runs, params.train_motion_lora.n_videos,
                                       params.train_direction_lora.directions)]
    assert names[: len(params.train_motion.runs)] == list(params.train_motion.runs)
    assert {f"lora_n{n}" for n in params.train_motion_lora.n_videos} <= set(names)
    assert {f"dir_{d}" for d in params.train_direction_lora.directions} <= set(names)
    assert all(RunId.parse(n).name == n for n in names)


@pytest.mark.parametrize("scale", [0.0, 0.25, 0.5, 1.0, 2.0])
def test_scale_names_round_trip(scale):
    assert parse_scale(scale_name(scale)) == scale and fnmatch(scale_name(scale), SCALE_GLOB)


def test_scale_names_as_written():
    assert scale_name(1) == scale_name("1.0") == "scale_1.0"
    assert scale_folder("samples", "with_adapter_s0", 0) == Path("samples/with_adapter_s0/scale_0.0")
    assert parse_scale("scale_0.5") == 0.5 and parse_scale("real_heldout") is None and parse_scale("scale_x") is None


@pytest.mark.parametrize("variant", ["rgb", "sketch", "rgb_keep_latent"])
def test_sparsectrl_names_round_trip(variant):
    assert sparsectrl_variant(sparsectrl_name(variant)) == variant


def test_sparsectrl_names_as_written():
    assert sparsectrl_name("rgb_no_mask") == "sparsectrl_rgb_no_mask"
    assert sparsectrl_variant("with_adapter_s0") is None and sparsectrl_variant("sparsectrl_") is None


@pytest.mark.parametrize("count", [1, 2, 16])
def test_keyframe_names_round_trip(count):
    assert parse_keyframes(keyframes_name(count)) == count and fnmatch(keyframes_name(count), KEYFRAMES_GLOB)


def test_keyframe_names_as_written():
    assert keyframes_name(2) == "k2" and parse_keyframes("k12") == 12
    assert parse_keyframes("baseline_k2") is None and parse_keyframes("k") is None and parse_keyframes("kx") is None
