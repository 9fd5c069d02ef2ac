"""Ground-truth metrics on the synthetic world's own clips (animatelab.data.synth, rendered in memory
with WebVid's defects): direction ~ 100 %, motion realism ~ real, watermark leakage real = 1, clean ~ 0."""

from __future__ import annotations

import numpy as np
import pytest

from animatelab.config import EvaluateParams, SynthDataParams
from animatelab.data import synth
from animatelab.eval.suite import GroundTruthReference, _gt_metrics
from animatelab.eval.tracking_gt import AppearanceReader, analyse
from animatelab.eval.watermark import Watermark, watermark_scores


@pytest.fixture(scope="module")
def world():
    p = SynthDataParams(frames=16)
    tpl, _ = synth.watermark_template(p.resolution)
    wm = Watermark(tpl, p.watermark_alpha, np.asarray(synth.WATERMARK_COLOUR, np.float32))

    def clips(split: str, n: int):
        specs = synth.clip_specs(p, split, n)
        clean = [synth.render_clip(s, p) for s in specs]
        real = np.stack([synth.degrade(c, tpl, p.watermark_alpha, p.blur_sigma) for c in clean])
        clean = np.stack([np.clip(np.rint(c), 0, 255).astype(np.uint8) for c in clean])
        prompts = [{"prompt": synth.caption_for(s.shape, s.colour, s.background, s.motion), "shape": s.shape,
                    "colour": s.colour, "background": s.background, "motion": s.motion} for s in specs]
        return real, clean, prompts

    ref_real, _, ref_prompts = clips("train", 42)
    reports = [analyse(v, wm) for v in ref_real]
    reader = AppearanceReader().fit([r.features for r in reports], ref_prompts)
    gt = GroundTruthReference(wm, reader, reports, ref_prompts, float(watermark_scores(ref_real, wm).mean()), 0.2)
    return gt, clips("heldout", 28), ref_real


def test_real_clips_score_like_real(world):
    gt, (real, _, prompts), _ = world
    m = _gt_metrics(gt, real, prompts, EvaluateParams(bootstrap=50))
    assert m["gt_direction_acc"]["mean"] >= 0.95  # includes "static", grow and shrink
    assert m["gt_appearance_acc"]["mean"] >= 0.9
    assert m["gt_persistent_object"]["mean"] >= 0.9
    assert m["gt_moving_frac"]["mean"] == pytest.approx(6 / 7, abs=0.05)  # 1 in 7 clips is static
    assert m["gt_speed_w1"]["mean"] < 0.15  # px/frame: held-out speeds ~ reference speeds
    assert m["watermark_leakage"]["mean"] == pytest.approx(1.0, abs=0.1)
    for v in m.values():
        assert v["ci_low"] <= v["ci_high"] and v["n"] == len(real)


def test_watermark_leakage_of_reference_is_one_and_clean_is_zero(world):
    gt, (_, clean, prompts), ref_real = world
    assert watermark_scores(ref_real, gt.watermark).mean() / gt.wm_mean == pytest.approx(1.0, abs=1e-9)
    m = _gt_metrics(gt, clean, prompts, EvaluateParams(bootstrap=50))
    assert abs(m["watermark_leakage"]["mean"]) < 0.1
    assert m["gt_direction_acc"]["mean"] >= 0.95  # the watermark-aware tracker also reads clean clips


def test_frozen_and_reversed_videos_are_caught(world):
    gt, (real, _, prompts), _ = world
    frozen = np.repeat(real[:, :1], real.shape[1], axis=1)
    m = _gt_metrics(gt, frozen, prompts, EvaluateParams(bootstrap=50))
    assert m["gt_moving_frac"]["mean"] == 0.0
    assert m["gt_speed_w1"]["mean"] > 0.3
    reversed_ = real[:, ::-1]
    m = _gt_metrics(gt, reversed_, prompts, EvaluateParams(bootstrap=50))
    statics = np.mean([q["motion"] == "static" for q in prompts])
    assert m["gt_direction_acc"]["mean"] == pytest.approx(statics, abs=0.05)  # only "static" still right
