"""Flicker and warping error against cases with a known answer."""

from __future__ import annotations

import cv2
import numpy as np

from animatelab.eval.temporal import flicker, frame_difference_error, warping_error


def _texture(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.integers(0, 256, (96, 96, 3)).astype(np.uint8), (0, 0), 1.5)
    return ((tex.astype(float) - tex.mean()) * 4 + 128).clip(0, 255).astype(np.uint8)


def test_flicker_of_static_video_is_one_and_drops_with_flashes():
    frame = _texture()[:32, :32]
    static = np.repeat(frame[None], 8, axis=0)
    assert flicker(static) == 1.0
    flashing = static.copy()
    flashing[1::2] = 255 - flashing[1::2]
    assert flicker(flashing) < 0.9


def test_warping_error_of_pure_translation_is_near_zero():
    tex = _texture()
    video = np.stack([tex[20 + t : 52 + t, 30 + 2 * t : 62 + 2 * t] for t in range(8)])
    err = warping_error(video)
    assert err < 1e-3
    assert err < 0.05 * frame_difference_error(video)  # the flow explains the motion


def test_warping_error_sees_appearing_content():
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (8, 32, 32, 3)).astype(np.uint8)
    assert warping_error(noise) > 0.02
