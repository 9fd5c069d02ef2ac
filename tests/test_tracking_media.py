"""The MLflow copies of samples: upscaled without smoothing, every row labelled."""

from __future__ import annotations

import numpy as np

from animatelab.tracking_media import LABEL_WIDTH, labelled_grid, upscale


def test_upscale_repeats_each_pixel_without_mixing_neighbours():
    frames = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
    big = upscale(frames, 3)
    assert big.shape == (2, 6, 6, 3)
    assert np.array_equal(big[:, ::3, ::3], frames)  # every block holds its source pixel...
    assert set(np.unique(big)) == set(np.unique(frames))  # ...and nothing in between


def test_grid_has_one_labelled_row_per_video_and_the_frames_upscaled():
    rng = np.random.default_rng(0)
    videos = rng.integers(0, 255, (3, 16, 8, 8, 3), dtype=np.uint8)
    image = np.asarray(labelled_grid(videos, ["a red square", "", "a blue circle"], title="t", frames=4, factor=4))
    top = image.shape[0] - 3 * 32
    assert image.shape[1] == LABEL_WIDTH + 4 * 32 and top > 0
    # the frames sit right of the labels, at 4x: frame 15 of video 2 is the last cell of the last row
    assert np.array_equal(image[top + 64:, -32:], upscale(videos[2, 15], 4))
    ink = [(image[top + r * 32: top + (r + 1) * 32, :LABEL_WIDTH] < 128).any() for r in range(3)]
    assert ink == [True, False, True]  # text where a label was given, blank where not
    assert (image[:top, :LABEL_WIDTH] < 128).any()  # the title


def test_images_lay_out_as_one_row_per_setting():
    images = np.zeros((2, 9, 8, 8, 3), np.uint8)  # 2 scales x 9 captions, as the adapter's samples
    image = np.asarray(labelled_grid(images, ["scale 0", "scale 1"], frames=9, factor=2))
    assert image.shape[1] == LABEL_WIDTH + 9 * 16 and image.shape[0] == 2 * 16
