"""The base-quality reader's accuracies carry 95 % Wilson intervals (known answers)."""

from __future__ import annotations

import numpy as np
import pytest

from animatelab.eval.base_quality import accuracy, wilson_interval


def test_wilson_interval_known_answers():
    assert wilson_interval(0, 10) == pytest.approx((0.0, 3.8415 / 13.8415), abs=1e-4)  # z² / (n + z²)
    lo, hi = wilson_interval(10, 10)
    assert hi == pytest.approx(1.0) and lo == pytest.approx(10 / 13.8415, abs=1e-4)
    assert wilson_interval(20, 30) == pytest.approx((0.4878, 0.8077), abs=1e-4)
    assert wilson_interval(120, 240)[1] - 0.5 == pytest.approx(0.0628, abs=1e-4)  # the 240-sample half-width


def test_accuracy_keeps_its_keys_and_adds_intervals():
    image = np.full((32, 32, 3), 15, np.uint8)
    image[10:20, 10:20] = (220, 40, 40)  # a red square on black
    truth = [{"colour": "red", "shape": "square", "background": "black"},
             {"colour": "blue", "shape": "square", "background": "black"}]
    out = accuracy(np.stack([image, image]), truth)
    assert {k: out[k] for k in ("colour", "shape", "background", "all")} == \
        {"colour": 0.5, "shape": 1.0, "background": 1.0, "all": 0.5}
    assert (out["colour_lo"], out["colour_hi"]) == wilson_interval(1, 2)
    assert out["shape_lo"] < 1.0 and out["shape_hi"] == pytest.approx(1.0)
    assert set(out) == {f"{k}{s}" for k in ("colour", "shape", "background", "all") for s in ("", "_lo", "_hi")}
