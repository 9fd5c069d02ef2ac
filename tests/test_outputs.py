"""What goes into a DVC output: no durations, no modification times (animatelab.outputs)."""

from __future__ import annotations

import os

from animatelab.outputs import content_digest, wall_clock, without_wall_clock


def test_durations_are_dropped_at_every_depth_and_kept_for_mlflow():
    record = {"loss": 0.5, "seconds": 3.2, "seconds_per_step": 0.1, "unet_seconds": 9.0, "steps": 10,
              "inner": {"wall_s": 1.0, "acc": 0.9, "runs": [{"elapsed_s": 2, "n": 3}]}, "seconds_total": 5.0, "secondary": "kept"}
    assert without_wall_clock(record) == {"loss": 0.5, "steps": 10, "inner": {"acc": 0.9, "runs": [{"n": 3}]},
                                          "secondary": "kept"}
    assert wall_clock(record) == {"seconds": 3.2, "seconds_per_step": 0.1, "unet_seconds": 9.0, "seconds_total": 5.0}


def test_the_resume_point_is_run_history_not_a_result():
    """A re-run that resumed a finished checkpoint wrote ``resumed_from: 300`` where a fresh run wrote 0."""
    summary = {"steps": 300, "resumed_from": 300, "final_loss": 0.04}
    assert without_wall_clock(summary) == {"steps": 300, "final_loss": 0.04}
    assert wall_clock(summary) == {"resumed_from": 300.0}


def test_content_digest_follows_bytes_and_names_not_mtimes(tmp_path):
    folder = tmp_path / "unet"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "weights.bin").write_bytes(b"\x00\x01")
    before = content_digest(folder)
    os.utime(folder / "weights.bin", (1, 1))
    assert content_digest(folder) == before
    (folder / "weights.bin").write_bytes(b"\x00\x02")
    assert content_digest(folder) != before
    (folder / "weights.bin").write_bytes(b"\x00\x01")
    (folder / "weights.bin").rename(folder / "other.bin")
    assert content_digest(folder) != before
    assert content_digest(folder / "config.json") != content_digest(folder / "other.bin")


def test_training_fingerprints_use_the_content_digest(tmp_path):
    """The base/adapter identity inside a checkpoint's fingerprint (``state.json``, a DVC output) is the
    content digest above (mtime-blind), not size + mtime as before."""
    from animatelab.train.motion import _file_identity

    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "weights.safetensors").write_bytes(b"abc")
    assert _file_identity(tmp_path / "unet") == content_digest(tmp_path / "unet")
    assert _file_identity(tmp_path / "absent") == "missing"
