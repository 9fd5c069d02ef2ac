"""The domain classifier on the synthetic world's own pictures (animatelab.data.synth, in memory):
clean images vs frames of watermarked, blurred clips; held-out accuracy well above chance, real
video frames read "video", clean images and the same clips without the defects read "image"."""

from __future__ import annotations

import numpy as np
import pytest

from animatelab.config import LoopParams
from animatelab.data import synth
from animatelab.eval.domain_classifier import DomainNet, DomainNetConfig, domain_video_frac, heldout_accuracy
from animatelab.eval.eval_models import train_domain_net
from tests.conftest import core_group

P = core_group("synth_data", frames=8, num_images=400)
LOOP = LoopParams(steps=150, batch_size=16, lr=3e-3, warmup_steps=0)  # 16 (image, frame) pairs


def _images(seed: int, n: int) -> np.ndarray:
    rows = synth.image_rows(P.model_copy(update={"seed": seed, "num_images": n}))
    return np.stack([_uint8(synth.render(r["shape"], r["colour"], r["background"], np.asarray([r["centre"]]),
                                         np.asarray([r["size"]]), P.resolution)[0]) for r in rows])


def _uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _clips(split: str, n: int, defects: bool = True) -> np.ndarray:
    tpl, _ = synth.watermark_template(P.resolution)
    clean = [synth.render_clip(s, P) for s in synth.clip_specs(P, split, n)]
    if defects:
        return np.stack([synth.degrade(c, tpl, P.watermark_alpha, P.blur_sigma) for c in clean])
    return np.stack([_uint8(c) for c in clean])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    train = _clips("train", 40)
    return train_domain_net(_images(0, 320), train.reshape(-1, *train.shape[2:]), LOOP, DomainNetConfig((8, 16, 32)),
                            tmp_path_factory.mktemp("domain_ckpt"))


def test_heldout_accuracy_is_well_above_chance(trained):
    held = _clips("heldout", 16)
    acc = heldout_accuracy(trained, _images(1, 128), held.reshape(-1, *held.shape[2:]))
    assert acc["accuracy"] >= 0.9, acc


def test_real_frames_read_video_clean_pictures_read_image(trained):
    assert domain_video_frac(trained, _clips("heldout", 16)).mean() >= 0.9
    assert domain_video_frac(trained, _images(1, 64)).mean() <= 0.1
    # the same clips without watermark and blur: the net reads the defects, not moving content
    assert domain_video_frac(trained, _clips("heldout", 16, defects=False)).mean() <= 0.2


def test_save_load_round_trip(tmp_path, trained):
    trained.save(tmp_path / "domain_net.safetensors")
    back = DomainNet.load(tmp_path / "domain_net.safetensors")
    x = _images(2, 8)
    np.testing.assert_array_equal(domain_video_frac(back, x), domain_video_frac(trained, x))
    assert back.config.channels == (8, 16, 32)


def test_pairs_draw_images_and_frames_independently():
    from animatelab.eval.eval_models import ImageFramePairs

    images, frames = np.arange(3)[:, None].astype(np.uint8), np.arange(5)[:, None].astype(np.uint8)
    pairs = ImageFramePairs(images, frames)
    seen = {(int(pairs[i]["image"][0]), int(pairs[i]["frame"][0])) for i in range(len(pairs))}
    assert len(pairs) == 15 and seen == {(a, b) for a in range(3) for b in range(5)}


def test_training_goes_through_the_shared_loop_and_resumes(tmp_path, capsys):
    """A finished run's checkpoint is resumed (no step re-run): the same weights come back."""
    import torch

    train = _clips("train", 4)
    frames, images = train.reshape(-1, *train.shape[2:]), _images(0, 32)
    loop = LoopParams(steps=6, batch_size=4, lr=3e-3, checkpoint_every=3)
    first = train_domain_net(images, frames, loop, DomainNetConfig((8, 8, 8)), tmp_path)
    capsys.readouterr()
    again = train_domain_net(images, frames, loop, DomainNetConfig((8, 8, 8)), tmp_path)
    assert "[domain_net] resuming from checkpoint at step 6/6" in capsys.readouterr().out
    other = train_domain_net(images, frames, loop.model_copy(update={"seed": 1}), DomainNetConfig((8, 8, 8)),
                             tmp_path / "seed1")
    for (name, a), b, c in zip(first.state_dict().items(), again.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b), name
    assert any(not torch.equal(a, c) for a, c in zip(first.state_dict().values(), other.state_dict().values()))
