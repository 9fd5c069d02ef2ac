"""toyworld draws with the world's one geometry: render.py's shapes, checker cell and watermark."""

from __future__ import annotations

import numpy as np

from animatelab.data import render as world_render
from animatelab.eval import toyworld
from animatelab.world import CHECKER, CHECKER_CELL


def test_noiseless_clip_is_the_worlds_render():
    clip = toyworld.make_clip(np.random.default_rng(3), frames=5, shape="triangle", background="checker", noise=0.0)
    want = world_render.render("triangle", clip.colour, "checker", np.asarray(clip.positions), np.asarray(clip.sizes), 32)
    np.testing.assert_array_equal(clip.video, np.clip(np.rint(want), 0, 255).astype(np.uint8))


def test_triangle_centroid_and_checker_cell():
    clip = toyworld.make_clip(np.random.default_rng(0), frames=2, shape="triangle", colour="white",
                              background="black", motion="static", noise=0.0)
    cover = (clip.video[0, ..., 0].astype(float) - 15) / (245 - 15)
    yy, xx = np.mgrid[0:32, 0:32]
    centroid = [(cover * xx).sum() / cover.sum(), (cover * yy).sum() / cover.sum()]
    np.testing.assert_allclose(centroid, clip.positions[0], atol=0.15)  # area centroid (supersampled), not the box centre (~1.5 px off)
    bg = toyworld.make_clip(np.random.default_rng(0), frames=1, background="checker", noise=0.0).video[0]
    row = bg[0, :, 0]  # top row: object kept off the border
    lo, hi = CHECKER[0][0], CHECKER[1][0]
    assert set(np.unique(row[: 2 * int(CHECKER_CELL)])) <= {lo, hi}
    assert np.all(row[: int(CHECKER_CELL)] == row[0]) and row[int(CHECKER_CELL)] != row[0]


def test_watermark_is_the_worlds_template_and_rule():
    assert toyworld.watermark_template is world_render.watermark_template
    template, _ = world_render.watermark_template(32)
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    plain = toyworld.make_clip(rng_a, frames=2, noise=0.0)
    marked = toyworld.make_clip(rng_b, frames=2, noise=0.0, watermark=template, alpha=0.35)
    want = world_render.degrade(world_render.render(plain.shape, plain.colour, plain.background,
                                                     np.asarray(plain.positions), np.asarray(plain.sizes), 32),
                                template, 0.35, 0.0)
    np.testing.assert_array_equal(marked.video, want)
