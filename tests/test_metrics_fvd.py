"""Fréchet distance / FVD: closed form, identity, refusal, and both feature-network paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from animatelab.eval.features import I3DFeatures, SynthFeatures, SynthVideoNet, SynthVideoNetConfig, load_feature_net
from animatelab.eval.fvd import TooFewVideosError, extract_features, frechet_distance, fvd_with_floor
from animatelab.eval.toyworld import make_set


def test_frechet_matches_gaussian_closed_form():
    rng = np.random.default_rng(0)
    d, n = 4, 200_000
    mu1, mu2 = np.array([0.0, 1.0, -1.0, 2.0]), np.array([0.5, 1.0, 0.0, 2.0])
    var1, var2 = np.array([1.0, 4.0, 0.25, 1.0]), np.array([2.0, 1.0, 1.0, 9.0])
    a = mu1 + rng.standard_normal((n, d)) * np.sqrt(var1)
    b = mu2 + rng.standard_normal((n, d)) * np.sqrt(var2)
    closed = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(var1) - np.sqrt(var2)) ** 2).sum()
    assert frechet_distance(a, b) == pytest.approx(closed, rel=0.02)


def test_frechet_matches_scipy_formula_on_sample_moments():
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(1)
    a = rng.standard_normal((50, 5)) @ rng.standard_normal((5, 5))
    b = rng.standard_normal((60, 5)) + 1.0
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * sqrtm(s1 @ s2).real)
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)


def test_fvd_of_a_set_with_itself_is_zero_and_grows_with_shift():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 8))
    assert abs(frechet_distance(x, x)) < 1e-6
    assert frechet_distance(x, x + 1.0) == pytest.approx(8.0, rel=1e-6)


def test_refuses_when_videos_do_not_outnumber_features():
    x = np.random.default_rng(3).standard_normal((16, 16))
    with pytest.raises(TooFewVideosError, match="N > d"):
        frechet_distance(x, x)


def _synth_net(feature_dim: int = 4) -> SynthVideoNet:
    torch.manual_seed(0)
    return SynthVideoNet(SynthVideoNetConfig(channels=(8, 8, 8), feature_dim=feature_dim, heads={"motion": ["a", "b"]}))


def test_synth_net_roundtrip_and_fvd_floor(tmp_path):
    net = _synth_net()
    net.save(tmp_path / "video_net.safetensors")
    feats = load_feature_net("synthetic", tmp_path / "video_net.safetensors")
    videos = np.stack([c.video for c in make_set(24, seed=0, frames=8)])
    other = np.stack([c.video for c in make_set(24, seed=1, frames=8)])
    f1 = extract_features(feats, videos, batch_size=5)
    assert f1.shape == (24, 4)
    np.testing.assert_allclose(f1, extract_features(SynthFeatures(net.eval()), videos, batch_size=24), atol=1e-5)
    from animatelab.eval.fvd import torchmetrics_fvd

    assert frechet_distance(f1, extract_features(feats, other)) == pytest.approx(torchmetrics_fvd(feats, videos, other, 7), rel=1e-4)
    out = fvd_with_floor(f1, extract_features(feats, other), extract_features(feats, videos), num_resamples=20, seed=0)
    assert abs(out["fvd"]["mean"]) < 1e-6  # same set as the reference
    assert out["floor"]["mean"] > 0 and out["fvd"]["ci_low"] <= out["fvd"]["ci_high"]


class _RandomI3D(torch.nn.Module):
    """Stand-in with StyleGAN-V's i3d_torchscript call signature (random weights, NOT the real I3D)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 8, kernel_size=(4, 16, 16), stride=(4, 16, 16))
        self.fc = torch.nn.Linear(8, 400)

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False, return_features: bool = False) -> torch.Tensor:
        assert x.shape[1:] == (3, 16, 224, 224)
        assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
        return self.fc(self.conv(x).mean(dim=(2, 3, 4)))


def test_i3d_protocol_through_torchscript_file(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "i3d_torchscript.pt"
    torch.jit.save(torch.jit.script(_RandomI3D()), str(path))
    feats = load_feature_net("i3d", path)
    assert isinstance(feats, I3DFeatures) and feats.num_features == 400
    videos = np.stack([c.video for c in make_set(3, seed=0, frames=20)])
    out = extract_features(feats, videos, batch_size=2)
    assert out.shape == (3, 400)
    with pytest.raises(TooFewVideosError):  # 3 videos for 400-d logits
        frechet_distance(out, out)
    with pytest.raises(ValueError, match="16 frames"):
        feats(torch.from_numpy(videos[:, :8]))


def test_recentred_bootstrap_interval_covers_the_frechet_estimate():
    """With-replacement resamples inflate FVD: the plain percentile interval of two samples of one
    Gaussian lies above the estimate; the recentred one holds it and keeps the same width."""
    from animatelab.eval.bootstrap import bootstrap_indices
    from animatelab.eval.fvd import FrechetDistance

    rng = np.random.default_rng(0)
    fd = FrechetDistance(rng.normal(size=(256, 8)))
    fake = rng.normal(size=(32, 8))
    plain = bootstrap_indices(32, lambda i: fd(fake[i]), 300, seed=0, recentre=False)
    fixed = bootstrap_indices(32, lambda i: fd(fake[i]), 300, seed=0)
    assert plain["ci_low"] > plain["mean"]  # the bias this guards against
    assert fixed["ci_low"] <= fixed["mean"] <= fixed["ci_high"]
    assert fixed["mean"] == plain["mean"]
    assert fixed["ci_high"] - fixed["ci_low"] == pytest.approx(plain["ci_high"] - plain["ci_low"], rel=0.05)
