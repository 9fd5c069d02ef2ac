"""RQ8's lever reader, figure, table and findings on fabricated metrics with known answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import core_group
from tests.fabricate import metric


def _run_file(folder: Path, run: str, persist: float, speed: float, real_speed: float, direction: float = 0.1) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    at = {"gt_persistent_object": metric(persist), "gt_speed": metric(speed, half=0.2),
          "gt_direction_acc": metric(direction), "fvd_synth": metric(100.0, half=10)}
    real = {"gt_persistent_object": metric(0.95), "gt_speed": metric(real_speed), "gt_direction_acc": metric(1.0)}
    (folder / f"{run}.json").write_text(json.dumps({"scale_0.0": at, "scale_1.0": {k: metric(9.0) for k in at},
                                                    "real_heldout": real}))


def _summary(motion: Path, run: str, steps: int) -> None:
    (motion / run).mkdir(parents=True, exist_ok=True)
    (motion / run / "train_summary.json").write_text(json.dumps({"steps": steps}))


@pytest.fixture
def world(tmp_path):
    m, motion = tmp_path / "metrics", tmp_path / "models/motion"
    _run_file(m, "base_s0", 0.30, 2.0, 0.4)
    _run_file(m, "base_s1", 0.40, 2.4, 0.4)
    _run_file(m, "fast_s0", 0.85, 2.6, 2.5, direction=0.7)
    _run_file(m, "fast_s1", 0.95, 2.4, 2.5, direction=0.4)
    _run_file(m / "free_init", "base_s0", 0.5, 1.0, 0.4)
    split = {r: {"temporal_gain": metric(t), "appearance_gain": metric(0.2)}
             for r, t in (("base_s0", 0.01), ("base_s1", 0.02), ("fast_s0", 0.06), ("fast_s1", 0.08))}
    (tmp_path / "split.json").write_text(json.dumps(split))
    for run, steps in (("base_s0", 300), ("base_s1", 300), ("fast_s0", 300), ("fast_s1", 300)):
        _summary(motion, run, steps)
    return tmp_path


def _specs(root: Path):
    from animatelab.schema.evaluate import LeverSpec

    split = str(root / "split.json")
    return [LeverSpec(name="core", runs=["base_s0", "base_s1"], loss_split=split, train_cost=1),
            LeverSpec(name="free init", runs=["base_s0"], metrics_dir=str(root / "metrics/free_init"), sampling_passes=3,
                      sampling_steps=10),
            LeverSpec(name="fast", runs=["fast_s0", "fast_s1"], loss_split=split, train_cost=4),
            LeverSpec(name="absent", runs=["nope_s0"])]


def test_lever_reads_each_run_against_its_own_world(world):
    from animatelab.figures.levers import load_lever

    core, free, fast, absent = (load_lever(s, str(world / "metrics"), str(world / "models/motion")) for s in _specs(world))
    assert core.mean("gt_persistent_object") == pytest.approx(0.35)
    # speed over the real clips' speed of the run's own world: 2.0/0.4 and 2.4/0.4; 2.6/2.5 and 2.4/2.5
    assert [m.mean for m in core.values["speed_ratio"]] == pytest.approx([5.0, 6.0])
    assert fast.mean("speed_ratio") == pytest.approx(1.0)
    assert core.values["speed_ratio"][0].ci_low == pytest.approx(1.8 / 0.4)
    # order share: temporal over appearance gain, per run
    assert core.mean("order_share") == pytest.approx((0.05 + 0.10) / 2)
    assert fast.mean("order_share") == pytest.approx(0.35)
    # the union of the runs' intervals over videos
    assert fast.spread("gt_persistent_object") == pytest.approx((0.80, 1.00))
    # the sampling lever: its own metrics folder, no loss split, the passes carried; scale 1.0 never read
    assert free.mean("gt_persistent_object") == pytest.approx(0.5) and "order_share" not in free.values
    assert free.sampling_passes == 3 and core.steps == [300, 300]
    assert absent.values == {} and absent.steps == []
    # compute along each curve: as given for training; UNet passes x steps per video (unknown: not on the curve)
    assert core.cost("training") == 1 and fast.cost("training") == 4 and free.cost("sampling") == 30
    assert np.isnan(core.cost("sampling")) and np.isnan(free.cost("training"))


def test_findings_name_the_levers_that_meet_each_goal(world):
    from animatelab.figures.levers import findings, load_lever

    from animatelab.schema.evaluate import LeverSpec

    specs = [*_specs(world)[:3], LeverSpec(name="ceiling", runs=["fast_s1"], reference=True)]
    read = [load_lever(s, str(world / "metrics"), str(world / "models/motion")) for s in specs]
    lines = findings(read, ["gt_persistent_object", "speed_ratio", "order_share", "gt_direction_acc", "fvd_synth"])
    assert len(lines) == 4  # fvd_synth has no goal
    persist, speed, order, direction = lines
    assert "met by fast (0.9)" in persist and "free init" not in persist.split(";")[0]
    # a reference is quoted, never counted as meeting a goal
    assert persist.endswith("(ceiling: 0.95)") and "ceiling (" not in persist
    assert "met by fast (1)" in speed
    assert "met by fast (0.35)" in order
    # no lever's mean reaches 0.6 on direction: the closest is named
    assert "no lever reaches it" in direction and "closest fast (0.55)" in direction


def test_rq8_section_draws_figure_table_and_readme(world, monkeypatch):
    from animatelab.figures.build import build_all
    from animatelab.reports_readme import write_readme

    monkeypatch.chdir(world)
    specs = _specs(world)
    specs[0] = specs[0].model_copy(update={"sampling_steps": 10})
    p = core_group("figures", sections=["rq8"], rq8_levers=specs, figures_dir="r/figures", tables_dir="r/tables",
                      readme="r/README.md", findings=None, summary_file=None, summary=[], metrics_dir="metrics",
                      rq8_curves={"sampling": ["core", "free init"], "training": ["core", "fast"]})
    manifest = build_all(p)
    assert (world / "r/figures/rq8_levers.png").stat().st_size > 1000
    assert (world / "r/figures/rq8_compute.png").stat().st_size > 1000
    table = (world / "r/tables/rq8_levers.md").read_text()
    assert "fast" in table and "2.5" in table  # the fast world's real speed
    assert any("absent" in m for m in manifest["missing"])
    text = write_readme(p, manifest).read_text()
    assert "## RQ8" in text and "rq8_levers.png" in text and "rq8_compute.png" in text and "met by fast" in text
    # a curve needs two levers with a known cost: none here, so no compute figure and it is said
    p2 = p.model_copy(update={"rq8_curves": {"sampling": ["core", "fast"]}, "figures_dir": "r2/figures"})
    assert any("rq8_compute" in m for m in build_all(p2)["missing"])
