"""check-repro: key-by-key differences with their sizes, judged against a tolerance or the committed CI."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from animatelab.repro_check import compare, main

COMMITTED = {"fvd": {"mean": 10.0, "ci_low": 8.0, "ci_high": 12.0, "n": 96}, "acc": [0.5, 0.25],
             "run": "a", "seconds": 5.0, "nan": float("nan")}
FRESH = {"fvd": {"mean": 11.0, "ci_low": 8.0, "ci_high": 12.0, "n": 96}, "acc": [0.5, 0.3],
         "run": "b", "seconds": 9.0, "nan": float("nan"), "new": 1}


def test_compare_reports_each_differing_key_with_its_size():
    diffs = {d.key: d for d in compare(COMMITTED, FRESH)}
    assert sorted(diffs) == ["acc[1]", "fvd.mean", "new", "run"]  # timings and equal NaNs are skipped
    assert diffs["fvd.mean"].abs == pytest.approx(1.0) and diffs["fvd.mean"].rel == pytest.approx(0.1)
    assert diffs["acc[1]"].rel == pytest.approx(0.2)
    assert diffs["run"].abs is None and diffs["new"].committed == "<missing>"
    assert not any(d.ok for d in diffs.values())  # zero tolerance


def test_tolerance_and_committed_interval():
    ok = {d.key: d.ok for d in compare(COMMITTED, FRESH, rel_tol=0.15)}
    assert ok == {"acc[1]": False, "fvd.mean": True, "new": False, "run": False}
    ok = {d.key: d.ok for d in compare(COMMITTED, FRESH, abs_tol=0.06)}
    assert ok["acc[1]"] and not ok["fvd.mean"]
    assert {d.key: d.ok for d in compare(COMMITTED, FRESH, within_ci=True)}["fvd.mean"]
    outside = {"fvd": {**FRESH["fvd"], "mean": 12.5}}
    assert not compare({"fvd": COMMITTED["fvd"]}, outside, within_ci=True)[0].ok
    assert math.isinf(compare({"x": 0}, {"x": 1})[0].rel)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                   capture_output=True)


def test_main_compares_work_tree_with_commit(tmp_path, monkeypatch, capsys):
    lock = "stages:\n  synth_data:\n    outs:\n    - path: data/synth\n      md5: {}.dir\n"
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/run.json").write_text(json.dumps({"acc": 0.5, "seconds": 3}))
    (tmp_path / "dvc.lock").write_text(lock.format("aaa"))
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "results")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "metrics/run.json").write_text(json.dumps({"acc": 0.51, "seconds": 7}))
    assert main(["--lock-outs", "data/synth"]) == 1
    assert main(["--lock-outs", "data/synth", "--rel-tol", "0.05"]) == 0
    assert "metrics/run.json: 1 differing key(s)" in capsys.readouterr().out
    (tmp_path / "dvc.lock").write_text(lock.format("bbb"))
    assert main(["--lock-outs", "data/synth", "--rel-tol", "0.05"]) == 1
    assert "dvc.lock:data/synth: 'aaa.dir' -> 'bbb.dir'" in capsys.readouterr().out


def test_outputs_that_differ_only_in_wall_clock_keys_are_told_apart(tmp_path, monkeypatch, capsys):
    """A hash mismatch is opened file by file: recorded seconds are not another result; bytes are."""
    lock = ("stages:\n  train:\n    outs:\n    - path: models/m\n      md5: {}.dir\n"
            "  evaluate:\n    outs:\n    - path: metrics/r.json\n      md5: {}\n")
    committed, fresh = tmp_path / "committed", tmp_path / "fresh"
    for root, seconds, weight in ((committed, 5.0, b"\x00\x01"), (fresh, 9.0, b"\x00\x01")):
        (root / "models/m").mkdir(parents=True)
        (root / "models/m/summary.json").write_text(json.dumps({"loss": 0.1, "seconds": seconds}))
        (root / "models/m/w.bin").write_bytes(weight)
        (root / "metrics").mkdir()
        (root / "metrics/r.json").write_text(json.dumps({"acc": 0.5, "wall_s": seconds}))
    (fresh / "dvc.lock").write_text(lock.format("aaa", "ccc"))
    _git(fresh, "init", "-q")
    _git(fresh, "add", "dvc.lock")
    _git(fresh, "commit", "-q", "-m", "results")
    (fresh / "dvc.lock").write_text(lock.format("bbb", "ddd"))
    monkeypatch.chdir(fresh)
    assert main(["--lock-outs", "--metrics-dir", "none", "--outputs-from", str(committed)]) == 0
    assert "2 output(s) differ from the committed lock only in wall-clock keys" in capsys.readouterr().out
    (fresh / "models/m/w.bin").write_bytes(b"\x00\x02")
    (fresh / "models/m/summary.json").write_text(json.dumps({"loss": 0.2, "seconds": 9.0}))
    assert main(["--lock-outs", "--metrics-dir", "none", "--outputs-from", str(committed)]) == 1
    out = capsys.readouterr().out
    assert "output models/m: 2 differing key(s)" in out and "summary.json:loss" in out and "w.bin" in out
