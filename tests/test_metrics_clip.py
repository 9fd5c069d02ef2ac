"""Tiny CLIP save/reload (exact and via clip.load), CLIP scores, bootstrap and seed aggregation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from animatelab.config import LoopParams
from animatelab.eval.bootstrap import bootstrap_ci
from animatelab.eval.clip_scores import ClipScorer, load_clip
from animatelab.eval.eval_models import TinyClipConfig, clip_retrieval_accuracy, save_clip, train_clip
from animatelab.eval.toyworld import make_set


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    clips = make_set(14, seed=0, frames=4)
    images = np.concatenate([c.video for c in clips])
    captions = [c.prompt for c in clips for _ in range(4)]
    model = train_clip(images, captions, LoopParams(steps=3, batch_size=8, lr=1e-3), TinyClipConfig(layers=1, context_length=16),
                       tmp_path_factory.mktemp("clip_ckpt"))
    path = tmp_path_factory.mktemp("clip") / "clip.pt"
    save_clip(model, path)
    return model, path, clips


def test_exact_reload_and_clip_load(tiny_clip):
    import clip

    model, path, clips = tiny_clip
    x = torch.randn(2, 3, 32, 32)
    tokens = clip.tokenize(["a red circle on a black background", "a blue square"], context_length=16)
    exact = load_clip(path)
    torch.testing.assert_close(exact.encode_image(x), model.encode_image(x))
    torch.testing.assert_close(exact.encode_text(tokens), model.encode_text(tokens))
    via_clip, _ = clip.load(str(path), device="cpu", jit=False)  # rebuilds with build_model (fp16 rounding)
    via_clip = via_clip.float()
    torch.testing.assert_close(via_clip.encode_image(x), model.encode_image(x), atol=5e-2, rtol=5e-2)
    assert via_clip.context_length == 16


def test_clip_scores_known_cases(tiny_clip):
    model, _, clips = tiny_clip
    scorer = ClipScorer(model, "synth")
    static = np.repeat(clips[0].video[:1], 4, axis=0)[None]
    s = scorer.score_videos(static, [clips[0].prompt])
    assert s["smooth"][0] == pytest.approx(100.0, abs=1e-3)
    assert s["consistency"][0] == pytest.approx(100.0, abs=1e-3)
    assert -100 <= s["text"][0] <= 100 and np.isnan(s["domain"][0])
    videos = np.stack([c.video for c in clips[:3]])
    ref = scorer.embed_images(videos[:, 0])
    s = scorer.score_videos(videos, [c.prompt for c in clips[:3]], list(ref))
    assert s["domain"].shape == (3,) and np.all(s["domain"] > 50)  # frames vs their own first frame
    acc = clip_retrieval_accuracy(model, videos[:, 0], [c.prompt for c in clips[:3]], [c.prompt for c in clips[:3]])
    assert 0.0 <= acc <= 1.0


def test_bootstrap_ci_is_seeded_and_covers_the_mean():
    x = np.random.default_rng(0).normal(5.0, 1.0, 64)
    a, b = bootstrap_ci(x, 500, seed=3), bootstrap_ci(x, 500, seed=3)
    assert a == b and a["n"] == 64
    assert a["ci_low"] < a["mean"] < a["ci_high"] and a["ci_high"] - a["ci_low"] < 1.0
    assert bootstrap_ci([np.nan, 1.0, 1.0], 10)["n"] == 2
