"""``evaluate.fvd_backbone: videomae``: a local VideoMAEModel folder through the same Fréchet path.

The network is a randomly initialised small VideoMAE saved to tmp (no download). At the default
init (std 0.02) a random transformer is nearly linear, so its mean-pooled tokens hardly depend on
frame order; at std 0.5 it is not, and it separates a set of videos from the same set with its
frames shuffled in time (what the backbone is for: FVD that sees motion), while the same set
scores 0. Distances are read relative to the features' total variance, so they are scale-free.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from animatelab.config import ParamsError, check_paths, parse_params, required_paths
from animatelab.eval.features import FVD_METRIC, feature_net_path, load_feature_net
from animatelab.eval.fvd import extract_features, frechet_distance
from tests.conftest import core_group

FRAMES, SIZE, N = 8, 32, 24


@pytest.fixture(scope="module")
def videomae_dir(tmp_path_factory) -> Path:
    from transformers import VideoMAEConfig, VideoMAEModel

    torch.manual_seed(0)
    cfg = VideoMAEConfig(image_size=SIZE, patch_size=8, num_frames=FRAMES, tubelet_size=2, hidden_size=16,
                         num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, initializer_range=0.5)
    path = tmp_path_factory.mktemp("videomae")
    VideoMAEModel(cfg).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def videos() -> np.ndarray:
    """N moving squares (uint8 (N, F, H, W, 3)): each its own colour, start and velocity."""
    rng = np.random.default_rng(0)
    out = np.zeros((N, FRAMES, SIZE, SIZE, 3), np.uint8)
    for i in range(N):
        x, y = rng.integers(4, 20, size=2)
        dx, dy = rng.integers(-2, 3, size=2)
        colour = rng.integers(80, 256, size=3)
        for f in range(FRAMES):
            cx, cy = np.clip([x + dx * f, y + dy * f], 0, SIZE - 8)
            out[i, f, cy : cy + 8, cx : cx + 8] = colour
    return out


def test_features_shape_and_determinism(videomae_dir, videos):
    net = load_feature_net("videomae", videomae_dir)
    a = extract_features(net, videos, batch_size=8)
    b = extract_features(load_feature_net("videomae", videomae_dir), videos, batch_size=5)
    assert a.shape == (N, 16) and net.num_features == 16 and np.isfinite(a).all()
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(a).max())  # other batching: same features


def test_fvd_is_zero_on_itself_and_sees_shuffled_time(videomae_dir, videos):
    net = load_feature_net("videomae", videomae_dir)
    real = extract_features(net, videos)
    same_set = extract_features(net, videos[np.random.default_rng(1).permutation(N)])
    order = np.random.default_rng(2).permutation(FRAMES)
    assert (order != np.arange(FRAMES)).any()
    shuffled = extract_features(net, videos[:, order])
    scale = np.trace(np.cov(real, rowvar=False))  # total feature variance
    assert abs(frechet_distance(real, same_set)) < 1e-6 * scale  # the same set of videos: 0
    assert frechet_distance(real, shuffled) > 0.05 * scale  # same frames, another order: clearly apart
    # each video frozen on its first frame (content kept, motion removed) is apart too
    assert frechet_distance(real, extract_features(net, np.repeat(videos[:, :1], FRAMES, axis=1))) > 0.05 * scale


def test_too_few_frames_is_refused(videomae_dir, videos):
    with pytest.raises(ValueError, match="needs 8 frames"):
        load_feature_net("videomae", videomae_dir)(torch.from_numpy(videos[:2, :4]))


def test_params_name_the_backbone_path_and_missing_folder_is_refused(micro_params_dict, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = {**micro_params_dict, "evaluate": {**micro_params_dict["evaluate"], "fvd_backbone": "videomae",
                                              "videomae_path": "external/videomae"}}
    params = parse_params(data, "micro")
    assert required_paths(params, "evaluate") == {"evaluate.videomae_path": "external/videomae",
                                                  "evaluate.clip": params.evaluate.clip}
    with pytest.raises(ParamsError, match="evaluate.videomae_path"):
        check_paths(params, "evaluate")
    p = core_group("evaluate", fvd_backbone="videomae", videomae_path="v")
    assert feature_net_path(p) == "v" and FVD_METRIC[p.fvd_backbone] == "fvd_videomae"
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_feature_net("videomae", tmp_path)
