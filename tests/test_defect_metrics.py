"""Known answers of the blur and codec leakage metrics: clip sets rendered by the world with one defect each."""

from __future__ import annotations

import decord
import numpy as np
import pytest

from animatelab.data.synth import clip_specs, degrade, render_clip, watermark_template, written_frames
from animatelab.data.video_io import write_mp4
from animatelab.eval.defects import blur_scores, codec_scores, exclusion_mask, leakage
from animatelab.eval.watermark import Watermark, watermark_scores
from tests.conftest import core_group

P = core_group("synth_data")  # the study's world: blur 0.5, watermark 0.35, crf 28
TEMPLATE, _ = watermark_template(P.resolution)
EXCLUDE = exclusion_mask(TEMPLATE, P.resolution)


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """Held-out specs (12 frames) rendered clean and with each defect alone or all together."""
    folder = tmp_path_factory.mktemp("defects")
    p = P.model_copy(update={"frames": 12})
    specs = clip_specs(p, "heldout", 24)
    out = {}
    for name, (alpha, sigma, h264) in {"clean": (0, 0, False), "blur": (0, P.blur_sigma, False),
                                       "watermark": (P.watermark_alpha, 0, False), "codec": (0, 0, True),
                                       "real": (P.watermark_alpha, P.blur_sigma, True)}.items():
        videos = []
        for spec in specs:
            frames = degrade(render_clip(spec, p), TEMPLATE, alpha, sigma)
            if h264:
                path = folder / f"{name}_{spec.videoid}.mp4"
                write_mp4(path, frames, p.fps, P.crf)
                r = decord.VideoReader(str(path), num_threads=1)
                frames = r.get_batch(list(range(len(r)))).asnumpy()
                # the stage's own path gives the same frames
                np.testing.assert_array_equal(frames, written_frames(spec, p, alpha, sigma, "h264"))
            videos.append(frames)
        out[name] = np.stack(videos)
    return out


def _leak(sets, fn, **kw):
    clean, real = fn(sets["clean"], **kw).mean(), fn(sets["real"], **kw).mean()
    return {k: float(leakage(fn(v, **kw), clean, real).mean()) for k, v in sets.items()}


def test_blur_leakage_known_answers(sets):
    leak = _leak(sets, blur_scores, exclude=EXCLUDE)
    assert leak["clean"] == pytest.approx(0, abs=1e-9) and leak["real"] == pytest.approx(1)
    assert leak["blur"] > 0.8  # the blur alone: at least most of the real clips' blur
    assert abs(leak["watermark"]) < 0.05  # the watermark's rows are left out
    assert leak["codec"] < leak["blur"] - 0.3


def test_codec_leakage_known_answers(sets):
    leak = _leak(sets, codec_scores)
    assert leak["real"] == pytest.approx(1)
    for name in ("clean", "blur", "watermark"):  # renders are exactly flat in flat regions, blurred or not
        assert abs(leak[name]) < 0.02, name
    assert leak["codec"] > 0.15


def test_watermark_leakage_ignores_blur_and_codec(sets):
    wm = Watermark(TEMPLATE, P.watermark_alpha, np.ones(3, np.float32))
    real = watermark_scores(sets["real"], wm).mean()
    leak = {k: watermark_scores(v, wm).mean() / real for k, v in sets.items()}
    assert leak["watermark"] > 0.8
    for name in ("clean", "blur", "codec"):
        assert abs(leak[name]) < 0.15, name


def test_scores_of_images_and_flat_frames():
    flat = np.full((2, 32, 32, 3), 100, np.uint8)
    assert blur_scores(flat).tolist() == [0.0, 0.0] and codec_scores(flat).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="undefined"):
        leakage(np.zeros(2), 1.0, 1.0)
