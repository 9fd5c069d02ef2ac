"""Params are validated before any compute: bad values are one-line errors naming the key."""

import subprocess
import sys

import pytest
import yaml

from animatelab.config import ParamsError, load_params, parse_params, study_params_files
from tests.conftest import REPO, write_params


def test_repo_params_validate():
    params = load_params(REPO / "params.yaml")
    assert params.prepare.frames >= 2 and params.train_motion.runs


def test_micro_params_validate(micro_params_dict):
    parse_params(micro_params_dict)


def _paths(node: dict, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for key, value in node.items():
        out.append((f"{prefix}{key}", value))
        if isinstance(value, dict):
            out += _paths(value, f"{prefix}{key}.")
    return out


def test_micro_overrides_only_resize_knobs_the_study_has():
    """An override of a knob the study no longer has (renamed, removed) would silently test something else."""
    from tests.micro import MICRO_OVERRIDES, merge_patch

    from tests.micro import STUDIES

    merged: dict = {}
    for s in STUDIES:  # the core's params with every study's laid over it
        merged = merge_patch(merged, load_params(study_params_files(s, REPO)).model_dump(mode="json"))
    study = dict(_paths(merged))
    overrides = yaml.safe_load(MICRO_OVERRIDES.read_text())
    unknown = [key for key, _ in _paths(overrides) if key not in study]
    assert not unknown, f"micro overrides name keys the study does not have: {unknown}"
    removed = {key for key, value in _paths(overrides) if value is None}
    assert removed and removed <= set(study)
    assert merge_patch({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": None, "e": 4}, "d": [5]}) == {"a": {"c": 2, "e": 4}, "d": [5]}


@pytest.mark.parametrize(
    "key, value, fragment",
    [
        ("prepare.frames", 1, "prepare.frames"),
        ("prepare.stride", 0, "prepare.stride"),
        ("prepare.bogus", 3, "prepare.bogus"),
        ("synth_data.resolution", 33, "even"),
        ("train_motion.loop.lr", "fast", "train_motion.loop.lr"),
    ],
)
def test_bad_values_are_one_line_errors(micro_params_dict, key, value, fragment):
    node = micro_params_dict
    *parents, last = key.split(".")
    for p in parents:
        node = node[p]
    node[last] = value
    with pytest.raises(ParamsError) as err:
        parse_params(micro_params_dict, "params.yaml")
    msg = str(err.value)
    assert fragment in msg and "\n" not in msg


def test_override_syntax(workdir):
    params = load_params("params.yaml", ["prepare.frames=4", "sample.adapter_scales=[0, 0.5]"])
    assert params.prepare.frames == 4 and params.sample.adapter_scales == [0.0, 0.5]


def test_cli_rejects_bad_params_before_compute(workdir, micro_params_dict):
    micro_params_dict["prepare"]["frames"] = 1
    write_params(workdir, micro_params_dict)
    proc = subprocess.run(
        [sys.executable, "-m", "animatelab.cli", "prepare"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "prepare.frames" in proc.stderr and not (workdir / "data").exists()


def test_cli_help_lists_every_dvc_stage():
    proc = subprocess.run([sys.executable, "-m", "animatelab.cli", "--help"], capture_output=True, text=True)
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name in stages:
        assert name in proc.stdout


def test_sample_scales_per_run_and_rejects_negative_scales():
    params = load_params("params.yaml", ["sample.adapter_scales=[0]", "sample.adapter_scales_by_run={r: [1, 0.5, 0]}"])
    assert params.sample.scales_for("r") == [0.0, 0.5, 1.0] and params.sample.scales_for("other") == [0.0]
    with pytest.raises(ParamsError, match="adapter_scales_by_run"):
        load_params("params.yaml", ["sample.adapter_scales_by_run={r: [-1]}"])


def _dotted(data: dict, key: str) -> bool:
    node = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_every_dvc_params_key_is_in_params_yaml():
    """DVC refuses a stage whose declared param is only a schema default: each must be in the file."""
    import re

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        body = stage.get("do", stage)
        keys = [k for k in body.get("params", []) if isinstance(k, str)]
        if "foreach" in stage:
            source = re.fullmatch(r"\$\{(.+)\}", stage["foreach"])[1]
            node = params
            for part in source.split("."):
                node = node[part]
            values = list(node) if isinstance(node, dict) else node
            keys = [k.replace("${key}", str(v)).replace("${item}", str(v)) for k in keys for v in values]
        for key in keys:
            assert _dotted(params, key), f"{name}: param {key} is not in params.yaml"


def test_yaml_1_2_no_is_read_as_no_mixed_precision():
    """DVC writes `mixed_precision: no` unquoted after `exp run -S`; PyYAML reads it as False."""
    params = load_params("params.yaml", ["train_adapter.loop.mixed_precision=no"])
    assert params.train_adapter.loop.mixed_precision == "no"
    with pytest.raises(ParamsError, match="mixed_precision"):
        load_params("params.yaml", ["train_adapter.loop.mixed_precision=yes"])


def test_probe_runs_must_name_train_motion_runs():
    params = load_params("params.yaml")
    assert set(params.probe.runs) <= set(params.train_motion.runs)
    with pytest.raises(ParamsError, match=r"probe\.runs: \['with_adaptr_s0'\]"):
        load_params("params.yaml", ["probe.runs=[with_adaptr_s0]"])


def test_snapshots_take_a_count_or_steps_within_the_loop(micro_params_dict):
    """``train_motion.snapshots``: a count or explicit steps, each within 1..loop.steps (micro: 4 steps)."""
    from animatelab.train.checkpoint import snapshot_steps

    micro_params_dict["train_motion"]["snapshots"] = [1, 4]
    assert parse_params(micro_params_dict, "params.yaml").train_motion.snapshots == [1, 4]
    for bad in ([2, 5], [0, 2], [2, 2], -1):
        micro_params_dict["train_motion"]["snapshots"] = bad
        with pytest.raises(ParamsError) as err:
            parse_params(micro_params_dict, "params.yaml")
        assert "snapshots" in str(err.value)
    assert snapshot_steps(300, [300, 10, 20]) == [10, 20, 300]
    assert snapshot_steps(100, [10, 200]) == [10]  # a run shorter than the loop keeps the steps it reaches
    assert snapshot_steps(300, 5) == [60, 120, 180, 240, 300]
