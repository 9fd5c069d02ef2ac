"""Ground-truth metrics on the synthetic world's own clips (animatelab.data.synth, rendered in memory
with WebVid's defects): direction ~ 100 %, motion realism ~ real, watermark leakage real = 1, clean ~ 0."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from animatelab.data import synth
from animatelab.eval.suite import GroundTruthReference, _gt_metrics
from animatelab.eval.tracking_gt import AppearanceReader, analyse, track_video
from animatelab.eval.watermark import Watermark, watermark_scores
from animatelab.world import PLAIN_BACKGROUNDS
from tests.conftest import core_group


@pytest.fixture(scope="module")
def world():
    p = core_group("synth_data", frames=16)
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
    m = _gt_metrics(gt, real, prompts, core_group("evaluate", bootstrap=50))
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
    m = _gt_metrics(gt, clean, prompts, core_group("evaluate", bootstrap=50))
    assert abs(m["watermark_leakage"]["mean"]) < 0.1
    assert m["gt_direction_acc"]["mean"] >= 0.95  # the watermark-aware tracker also reads clean clips


def test_frozen_and_reversed_videos_are_caught(world):
    gt, (real, _, prompts), _ = world
    frozen = np.repeat(real[:, :1], real.shape[1], axis=1)
    m = _gt_metrics(gt, frozen, prompts, core_group("evaluate", bootstrap=50))
    assert m["gt_moving_frac"]["mean"] == 0.0
    assert m["gt_speed_w1"]["mean"] > 0.3
    reversed_ = real[:, ::-1]
    m = _gt_metrics(gt, reversed_, prompts, core_group("evaluate", bootstrap=50))
    statics = np.mean([q["motion"] == "static" for q in prompts])
    assert m["gt_direction_acc"]["mean"] == pytest.approx(statics, abs=0.05)  # only "static" still right


def test_checker_whose_light_cells_straddle_a_histogram_bin_edge_is_still_background(world):
    """Generated checkers draw their light cells a few levels either side of 144 (a 16-level bin edge) in
    each channel independently; a per-RGB-bin count then left every bin under 20 %, lost the light colour,
    and read half the checker as the object (3 of 32 ``with_adapter_s0`` videos)."""
    gt, (real, _, prompts), _ = world
    rng = np.random.default_rng(0)
    checker = [i for i, q in enumerate(prompts) if q["background"] == "checker"]
    assert checker
    for i in checker:
        video = real[i].astype(np.int16)
        light = np.abs(video.astype(np.float32) - 140).max(axis=-1) < 12  # the light cells (and their blur)
        jitter = rng.choice([1, 7], size=video.shape)  # 141 or 147 per channel: 8 RGB bins, ~6 % of the border each
        video = np.where(light[..., None], 140 + jitter, video).astype(np.uint8)
        track, clean_track = track_video(video, gt.watermark), track_video(real[i], gt.watermark)
        assert np.abs(track.background[1] - 144).max() < 4, track.background  # the light cells' colour
        assert np.median(track.areas) < 1.5 * np.median(clean_track.areas), i  # the object, not the checker
        assert analyse(video, gt.watermark).persistent == analyse(real[i], gt.watermark).persistent, i


def test_vanished_and_duplicated_objects_are_told_apart(world):
    """The breakdown of a non-persistent video: frames without the object vs frames with a second one."""
    gt, (real, clean, prompts), _ = world
    m = _gt_metrics(gt, real, prompts, core_group("evaluate", bootstrap=50))
    assert m["gt_no_object_frac"]["mean"] <= 0.02 and m["gt_extra_object_frac"]["mean"] <= 0.02
    plain = [i for i, q in enumerate(prompts) if q["background"] != "checker"][:6]
    for i in plain:
        bg = np.asarray(PLAIN_BACKGROUNDS[prompts[i]["background"]], np.float32)
        drawn = np.linalg.norm(clean[i].astype(np.float32) - bg, axis=-1) > 10  # (F, H, W), anti-aliased edge too
        obj = np.stack([cv2.dilate(f.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0 for f in drawn])  # + blur
        vanished = real[i].copy()
        vanished[8:][obj[8:]] = bg.astype(np.uint8)  # the object gone from the second half
        r = analyse(vanished, gt.watermark)
        assert r.no_object == pytest.approx(0.5, abs=0.07) and r.extra_objects == 0.0, (i, r.no_object)
        assert not r.persistent
        copy = np.roll(obj, 16, axis=2) & ~obj  # a second object half a frame to the right
        twin = real[i].copy()
        twin[copy] = np.roll(real[i], 16, axis=2)[copy]
        r = analyse(twin, gt.watermark)
        assert r.extra_objects >= 0.8 and r.no_object == 0.0, (i, r.extra_objects)


def test_an_object_that_teleports_is_not_one_persistent_object(world):
    """Same colour and shape in every frame but anywhere in the frame (what independently sampled frames
    look like) is not one object; the same object moving along a path is."""
    from animatelab.data.render import render

    gt = world[0]
    rng = np.random.default_rng(0)
    for shape in ("square", "circle", "triangle"):
        for background in ("black", "gray"):
            sizes = np.full(16, 9.0)
            path = np.stack([np.linspace(10, 22, 16), np.full(16, 16.0)], axis=1)
            jumps = rng.uniform(9, 23, (16, 2))  # fully inside the 32-px frame, a new place every frame
            smooth, teleported = (np.clip(np.rint(render(shape, "red", background, c, sizes, 32)), 0, 255).astype(np.uint8)
                                  for c in (path, jumps))
            assert analyse(smooth, gt.watermark).persistent, (shape, background)
            assert not analyse(teleported, gt.watermark).persistent, (shape, background)


def test_growth_rate_reads_zoom_in_positive_zoom_out_negative_and_frozen_zero(world):
    """RQ3's continuous readout: the world's zoom-in clips grow (d sqrt(area)/d frame > 0, as their
    ground-truth sizes do), the same clips played backwards shrink by as much, and frozen ones read 0."""
    gt = world[0]
    p = core_group("synth_data", frames=16)
    tpl, _ = synth.watermark_template(p.resolution)
    specs = synth.clip_specs(p, "motion_lora", 12)
    zoom = np.stack([synth.degrade(synth.render_clip(s, p), tpl, p.watermark_alpha, p.blur_sigma) for s in specs])
    prompts = [{"prompt": "", "shape": s.shape, "colour": s.colour, "background": s.background, "motion": s.motion}
               for s in specs]
    # the ground truth's growth of the object's side over the clip, px/frame (sizes x zoom, linear fit)
    truth = np.mean([np.polyfit(np.arange(p.frames), (sz * z)[: p.frames], 1)[0]
                     for s in specs for _, sz, z in [synth.trajectory(s, p)]])
    run = lambda v: _gt_metrics(gt, v, prompts, core_group("evaluate", bootstrap=50))["gt_growth_rate"]  # noqa: E731
    forward, backward, frozen = run(zoom), run(zoom[:, ::-1]), run(np.repeat(zoom[:, :1], p.frames, axis=1))
    assert truth > 0.1
    assert 0.6 * truth < forward["mean"] < 1.2 * truth  # measured 0.17 vs 0.18 (12 clips)
    assert forward["ci_low"] > 0 and backward["ci_high"] < 0
    assert backward["mean"] == pytest.approx(-forward["mean"], rel=0.2)
    assert abs(frozen["mean"]) < 0.02
