"""Known answers of the watermark leakage measures on frames drawn with the synthetic world's own
watermark (``animatelab.data.synth``): what a person would call a watermark scores clearly above 0,
frames without one score ~ 0. Scores are fractions of the full-strength watermark's score."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from animatelab.data import synth
from animatelab.eval.watermark import LatentSignature, Watermark, latent_scores, watermark_scores
from tests.conftest import core_group

P = core_group("synth_data", frames=8)
TEMPLATE, _ = synth.watermark_template(P.resolution)
WM = Watermark(TEMPLATE, P.watermark_alpha, np.asarray(synth.WATERMARK_COLOUR, np.float32))


def _clean(split: str, n: int) -> list[np.ndarray]:
    return [synth.render_clip(s, P) for s in synth.clip_specs(P, split, n)]


@pytest.fixture(scope="module")
def clean() -> list[np.ndarray]:
    return _clean("heldout", 40)


def _videos(clean: list[np.ndarray], template: np.ndarray, alpha: float) -> np.ndarray:
    return np.stack([synth.degrade(c, template, alpha, P.blur_sigma) for c in clean])


def _objects_in_the_box(n: int = 40, seed: int = 1) -> np.ndarray:
    """Objects crossing the watermark's rows, no watermark: edges where the bars would be."""
    rng = np.random.default_rng(seed)
    _, (_, y0, _, y1) = synth.watermark_template(P.resolution)
    out = []
    for _ in range(n):
        shape, colour, bg = (str(rng.choice(x)) for x in (P.shapes, P.colours, P.backgrounds))
        t = np.arange(P.frames)
        centres = np.stack([rng.uniform(5, 12) + 0.8 * t, np.full(P.frames, rng.uniform(y0 - 1, y1))], 1)
        frames = synth.render(shape, colour, bg, centres, np.full(P.frames, rng.uniform(6, 12)), P.resolution)
        out.append(synth.degrade(frames, TEMPLATE, 0.0, P.blur_sigma))
    return np.stack(out)


def _relative(videos: np.ndarray, clean: list[np.ndarray], max_shift: int = 1) -> float:
    full = watermark_scores(_videos(clean, TEMPLATE, P.watermark_alpha), WM, max_shift).mean()
    return float(watermark_scores(videos, WM, max_shift).mean() / full)


@pytest.mark.parametrize("name, make, low", [
    ("blurred sigma=1", lambda: cv2.GaussianBlur(TEMPLATE, (0, 0), 1.0), 0.5),  # measured 0.74
    ("shifted +1 px in x", lambda: np.roll(TEMPLATE, 1, axis=1), 0.8),  # 1.00
    ("shifted -1 px in x", lambda: np.roll(TEMPLATE, -1, axis=1), 0.8),  # 1.00
    ("shifted +1 px in y", lambda: np.roll(TEMPLATE, 1, axis=0), 0.5),  # 0.69
])
def test_a_visible_watermark_scores_clearly_above_zero(clean, name, make, low):
    assert _relative(_videos(clean, make(), P.watermark_alpha), clean) >= low, name


def test_half_alpha_still_reads_as_the_watermark(clean):
    # a correlation is scale-free: on plain backgrounds a faint watermark is the watermark (0.88)
    assert _relative(_videos(clean, TEMPLATE, P.watermark_alpha / 2), clean) >= 0.7


def test_clean_and_object_only_frames_score_about_zero(clean):
    assert abs(_relative(_videos(clean, TEMPLATE, 0.0), clean)) < 0.1  # measured 0.03
    assert abs(_relative(_objects_in_the_box(), clean)) < 0.1  # measured 0.01


def test_the_unshifted_template_misses_a_one_pixel_shift(clean):
    """Why the measure maximises over shifts: 2-px bars of period 4 shifted by a quarter period are
    orthogonal to the template, and a half-period shift flips the sign."""
    shifted = _videos(clean, np.roll(TEMPLATE, 1, axis=1), P.watermark_alpha)
    assert _relative(shifted, clean, max_shift=0) < 0.3  # measured 0.14
    flipped = _videos(clean, np.roll(TEMPLATE, 2, axis=1), P.watermark_alpha)
    assert _relative(flipped, clean, max_shift=0) < -0.5  # measured -0.70


def test_real_score_is_unchanged_by_the_shift_search(clean):
    full = _videos(clean, TEMPLATE, P.watermark_alpha)
    assert watermark_scores(full, WM, 1).mean() == pytest.approx(watermark_scores(full, WM, 0).mean(), abs=0.02)


# --------------------------------------------------------------------------- latent space
def _encode(frames: np.ndarray) -> np.ndarray:
    """A stand-in linear encoder with a VAE's shape contract (f = 4): (..., H, W, 3) uint8 ->
    (..., 16, H/4, W/4), each 4x4 luma block as 16 channels (the bars are texture within a block)."""
    x = _luma01(frames)
    h, w = x.shape[-2:]
    x = np.moveaxis(x.reshape(*x.shape[:-2], h // 4, 4, w // 4, 4), -3, -2)
    return np.moveaxis(x.reshape(*x.shape[:-4], h // 4, w // 4, 16), -1, -3)


def _luma01(frames: np.ndarray) -> np.ndarray:
    return np.asarray(frames, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 127.5 - 1


@pytest.fixture(scope="module")
def signature() -> LatentSignature:
    fit = _clean("train", 40)
    return LatentSignature.from_latents(_encode(_videos(fit, TEMPLATE, P.watermark_alpha)), _encode(_videos(fit, TEMPLATE, 0.0)))


def test_latent_score_is_one_for_the_watermark_half_at_half_alpha_zero_when_clean(clean, signature):
    """Signature fitted on other clips than the scored ones; measured 1.07, 0.53 of it, 0.05."""
    full = latent_scores(_encode(_videos(clean, TEMPLATE, P.watermark_alpha)), signature).mean()
    half = latent_scores(_encode(_videos(clean, TEMPLATE, P.watermark_alpha / 2)), signature).mean()
    none = latent_scores(_encode(_videos(clean, TEMPLATE, 0.0)), signature).mean()
    assert full == pytest.approx(1.0, abs=0.2)
    assert half / full == pytest.approx(0.5, abs=0.1)
    assert abs(none / full) < 0.15


def test_the_matched_filter_beats_the_plain_projection(clean):
    """Content moves latents along the signature; weighing by the clean covariance cuts that spread."""
    fit = _clean("train", 40)
    a, b = (_encode(_videos(fit, TEMPLATE, x)) for x in (P.watermark_alpha, 0.0))
    plain, matched = (LatentSignature.from_latents(a, b, s) for s in (1.0, 0.1))
    np.testing.assert_allclose(float((plain.filter * plain.signature).sum()), 1.0, rtol=1e-4)
    videos = _encode(_videos(clean, TEMPLATE, 0.0))
    assert latent_scores(videos, matched).std() < 0.5 * latent_scores(videos, plain).std()  # 0.15 vs 0.76


def test_latent_signature_round_trips(tmp_path, signature):
    signature.save(tmp_path / "sig.npz")
    back = LatentSignature.load(tmp_path / "sig.npz")
    np.testing.assert_array_equal(back.signature, signature.signature)
    with pytest.raises(ValueError, match="do not match"):
        latent_scores(np.zeros((1, 2, 4, 8, 8), np.float32), back)
