"""synth_data.boundary: what a translating object does at the frame edge (clamp, bounce, wrap).

Known answers: a bounced path reflects at the edge and stays in frame; a wrapped path re-enters at the
opposite edge; the ground truth matches the rendered frames' area centroids; ``clamp`` (the default)
writes what it always wrote.
"""

from __future__ import annotations

import numpy as np
import pytest

from animatelab.config import ParamsError, SynthDataParams, parse_params
from tests.conftest import core_group
from animatelab.data.synth import (
    COLOURS, EXTENTS, PLAIN_BACKGROUNDS, ClipSpec, clip_specs, ground_truth, reflect, render_clip, trajectory, wrap,
)
from animatelab.eval.tracking_gt import track_video

WHITE, BLACK = COLOURS["white"][0], PLAIN_BACKGROUNDS["black"][0]


def _params(**kw) -> SynthDataParams:
    return core_group("synth_data", **{"frames": 12, "colours": ["white"], "backgrounds": ["black"], **kw})


def _coverage(frames: np.ndarray) -> np.ndarray:
    """(F, R, R) area coverage of a white object on black, from the clean render."""
    return (frames[..., 0] - BLACK) / (WHITE - BLACK)


def _centroids(cover: np.ndarray) -> np.ndarray:
    r = cover.shape[-1]
    idx = np.arange(r, dtype=np.float64)
    mass = cover.sum(axis=(1, 2))
    return np.stack([(cover.sum(axis=1) * idx).sum(-1) / mass, (cover.sum(axis=2) * idx).sum(-1) / mass], axis=1)


def test_reflect_and_wrap_known_answers():
    x = 25.0 + 2.0 * np.arange(6)  # 25, 27, 29, 31, 33, 35 on the interval [4, 27]
    assert reflect(x, 4.0, 27.0).tolist() == [25, 27, 25, 23, 21, 19]
    assert reflect(np.array([3.0, 28.0, 4.0 + 46.0]), 4.0, 27.0).tolist() == [5, 26, 4]
    assert wrap(np.array([28.0, 30.0, 32.0, 34.0, -0.5, -1.0, 31.49]), 32).tolist() == pytest.approx(
        [28, 30, 0, 2, -0.5, 31, 31.49])


def test_bounced_path_reflects_at_the_edge_and_stays_in_frame():
    p = _params(boundary="bounce")
    spec = ClipSpec("1", "train", "square", "white", "black", "right", 2.0, (25.0, 15.0), 8.0, 8.0)
    centres, _, _ = trajectory(spec, p)
    # a square of side 8 stays whole for centroids in [4, 27]: it goes right, meets the edge, comes back
    assert centres[:, 0].tolist() == [25, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7]
    assert (centres[:, 1] == 15).all()
    gt = ground_truth(spec, p)
    assert gt["boundary"] == "bounce" and gt["whole"] == [True] * p.frames
    cover = _coverage(render_clip(spec, p))
    assert np.abs(_centroids(cover) - centres).max() < 0.05
    assert np.allclose(cover.sum(axis=(1, 2)), 64, atol=1e-3)  # whole in every frame: nothing cut off
    assert cover[:, :, -1].max() == pytest.approx(0.5) and cover[:, :, 0].max() == 0  # touched the edge, no wrap


@pytest.mark.parametrize("boundary", ["bounce", "wrap"])
def test_ground_truth_matches_rendered_centroids(boundary):
    """Fast clips (2-3 px/frame: several edge hits in 12 frames) of every shape and direction: where the
    object is whole, the rendered area centroid is the ground-truth position (< 0.5 px) and its area
    is the shape's; under bounce it is whole in every frame."""
    p = _params(boundary=boundary, speed_range=(2.0, 3.0), motions=["left", "right", "up", "down"])
    specs = clip_specs(p, "train", 24)
    assert {s.shape for s in specs} == set(p.shapes)
    hits = 0
    for spec in specs:
        gt = ground_truth(spec, p)
        pos, sizes, whole = np.asarray(gt["positions"]), np.asarray(gt["sizes"]), np.asarray(gt["whole"])
        assert spec.speed >= 2.0 and (sizes == sizes[0]).all()  # neither slowed nor shrunk
        cover = _coverage(render_clip(spec, p))
        area = {"circle": np.pi / 4, "square": 1.0, "triangle": 0.5}[spec.shape] * sizes ** 2
        assert np.abs(cover.sum(axis=(1, 2)) - area).max() < 0.1 * area.min()  # all of it drawn, cut or not
        err = np.abs(_centroids(cover) - pos).max(axis=1)
        assert err[whole].max() < 0.5, (spec, err)
        if boundary == "bounce":
            assert whole.all()
            el, er, eu, ed = EXTENTS[spec.shape]
            assert (pos[:, 0] - el * sizes >= -1e-6).all() and (pos[:, 0] + er * sizes <= p.resolution - 1 + 1e-6).all()
            assert (pos[:, 1] - eu * sizes >= -1e-6).all() and (pos[:, 1] + ed * sizes <= p.resolution - 1 + 1e-6).all()
            steps = np.linalg.norm(np.diff(pos, axis=0), axis=1)
            assert (steps <= spec.speed + 1e-3).all()
        moving = np.diff(pos, axis=0)
        hits += int((np.abs(moving) > spec.speed + 1e-3).any() if boundary == "wrap"
                    else (np.sign(moving[1:]) * np.sign(moving[:-1]) < 0).any())
    assert hits >= len(specs) // 2  # most clips met an edge (reflected / wrapped) within 12 frames


def test_wrapped_object_reenters_at_the_opposite_edge():
    p = _params(boundary="wrap", frames=6)
    spec = ClipSpec("1", "train", "square", "white", "black", "right", 2.0, (28.0, 15.0), 8.0, 8.0)
    centres, _, _ = trajectory(spec, p)
    assert centres[:, 0].tolist() == [28, 30, 0, 2, 4, 6]
    gt = ground_truth(spec, p)
    assert gt["whole"] == [False, False, False, False, True, True]
    cover = _coverage(render_clip(spec, p))
    assert np.allclose(cover.sum(axis=(1, 2)), 64, atol=0.5)
    cols = cover.sum(axis=1)  # (F, R): coverage per column
    # frame 1: the square spans x in [26, 34]: columns 26..31 and, wrapped, 0..1 (half of column 2)
    assert cols[1, 27:].min() > 7.9 and cols[1, :2].min() > 7.9 and 3.5 < cols[1, 2] < 4.5
    assert cols[1, 3:25].max() == 0


def test_tracker_follows_a_bounced_object():
    """The ground-truth tracker reads a bouncing clip as one object in every frame, moving continuously
    (``persistent_object``'s step test: under half its sqrt(area) a frame), at the true positions (within
    the decoded-video tolerance of test_synth_data: its centroid is of the thresholded mask). Not
    ``persistent_object`` itself: its colour test fails on small clean triangles whatever the boundary
    (half their pixels are partly covered)."""
    p = _params(boundary="bounce", speed_range=(1.5, 2.0), motions=["left", "right", "up", "down"])
    errors, turned = [], 0
    for spec in clip_specs(p, "train", 8):
        frames = np.clip(np.rint(render_clip(spec, p)), 0, 255).astype(np.uint8)
        track = track_video(frames)
        pos = np.asarray(ground_truth(spec, p)["positions"])
        errors.append(np.abs(track.centroids - pos).max(axis=1))
        assert (track.components == 1).all(), spec
        steps = np.linalg.norm(np.diff(track.centroids, axis=0), axis=1)
        assert (steps < 0.5 * np.sqrt(np.median(track.areas))).all(), spec
        turned += int((np.diff(np.sign(np.diff(pos, axis=0)), axis=0) != 0).any())
    assert np.max(errors) < 1.0 and np.mean(errors) < 0.35
    assert turned >= 4  # most clips bounced at least once


def test_clamp_is_the_default_and_writes_no_new_keys():
    p = _params()
    assert p.boundary == "clamp"
    spec = clip_specs(p, "train", 1)[0]
    assert "boundary" not in ground_truth(spec, p) and "whole" not in ground_truth(spec, p)


def test_boundaries_share_the_random_draws():
    """Switching the boundary changes geometry only: the same objects, in the same order."""
    specs = {b: clip_specs(_params(boundary=b, colours=["red", "green"]), "train", 14) for b in ("clamp", "bounce", "wrap")}
    attrs = {b: [(s.shape, s.colour, s.background, s.motion) for s in v] for b, v in specs.items()}
    assert attrs["clamp"] == attrs["bounce"] == attrs["wrap"]
    for b in ("bounce", "wrap"):  # non-translating clips are the same clips
        same = [(x, y) for x, y in zip(specs["clamp"], specs[b]) if x.motion in ("grow", "shrink", "static")]
        assert same and all(x == y for x, y in same)


def test_bad_boundary_rejected(micro_params_dict):
    micro_params_dict["synth_data"]["boundary"] = "teleport"
    with pytest.raises(ParamsError, match=r"synth_data\.boundary"):
        parse_params(micro_params_dict, "params.yaml")
