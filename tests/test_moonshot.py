"""MoonShot on micro params: the multimodal video block's known answers and both training stages."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.motion_fixtures import make_world, run_stage

IMAGE_DIR, VIDEO_DIR = "models/moonshot/image", "models/moonshot/video"


def _add_pixels_and_clip(root: Path) -> None:
    """What the motion world lacks: clean images, prepared train frames and a (random) evaluation CLIP."""
    from animatelab.data.shards import ShardWriter, read_metadata
    from animatelab.eval.eval_models import TinyClipConfig, save_clip

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    np.savez(root / "data/synth/images.npz", images=images)
    with (root / "data/synth/images.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["caption", "shape", "colour", "background"])
        w.writeheader()
        w.writerows({"caption": f"a red circle {i}", "shape": "circle", "colour": "red", "background": "black"}
                    for i in range(len(images)))
    folder = root / "data/prepared/train"
    meta = read_metadata(folder / "shard-00000.jsonl")
    writer = ShardWriter(folder, shard_size=100)
    for m in meta:
        writer.add(rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8), m)
    writer.close()
    torch.manual_seed(0)
    save_clip(TinyClipConfig().build(), root / "models/eval/clip.pt")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = make_world(tmp_path_factory.mktemp("moonshot_world"))
    _add_pixels_and_clip(root)
    assert run_stage(root, "train_moonshot_image") == 0
    assert run_stage(root, "train_moonshot_video") == 0
    return root


def _in(root: Path):
    class Cwd:
        def __enter__(self):
            self.old = os.getcwd()
            os.chdir(root)

        def __exit__(self, *exc):
            os.chdir(self.old)
    return Cwd()


def _params(root: Path):
    from animatelab.config import load_params

    return load_params(root / "params.yaml")


def _unet2d(root: Path, with_adapter: bool):
    from animatelab.train.motion import load_frozen_unet2d

    with _in(root):
        p = _params(root)
        return load_frozen_unet2d(p.base.path, p.train_adapter.out_dir if with_adapter else None)


def _inputs(seed: int = 0, b: int = 2, frames: int = 8, image_dim: int = 64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, 4, frames, 8, 8, generator=g), torch.tensor([300, 700]), torch.randn(b, 8, 32, generator=g),
            torch.randn(b, image_dim, generator=g), torch.randn(b, 4, 8, 8, generator=g))


# --------------------------------------------------------------------------- known answers of the block
def test_widened_model_at_step_zero_is_the_base_motion_unet(world):
    """Zero-initialised new conv_in channels and image scale 0: exactly the base motion UNet, with a
    non-zero first frame and mask in the extra channels."""
    from animatelab.moonshot import model as ms
    from animatelab.models.motion import build_motion_unet

    design = _params(world).train_moonshot_video.module
    base = build_motion_unet(_unet2d(world, True), design, seed=0).eval()
    unet2d = _unet2d(world, True)
    ms.load_image_adapter(unet2d, world / IMAGE_DIR)
    ours = ms.build_moonshot_unet(unet2d, design, seed=0).eval()
    assert ours.config.in_channels == 9 and ours.conv_in.weight[:, 4:].abs().sum() == 0
    x, t, text, image, first = _inputs()
    ms.set_image_scale(ours, 0.0)
    with torch.no_grad():
        want = base(x, t, encoder_hidden_states=text.repeat_interleave(8, 0)).sample
        got = ms.predict(ours, x, t, text, image, first)
        torch.testing.assert_close(got, want, atol=0, rtol=0)
        ms.set_image_scale(ours, 1.0)
        assert (ms.predict(ours, x, t, text, image, first) - want).abs().max() > 1e-3


def test_image_scale_zero_is_text_only_attention_and_the_image_matters_above_it(world):
    """The 2-D UNet with the trained decoupled cross-attention: scale 0 equals the plain base exactly;
    scale > 0 depends on the image embedding."""
    from animatelab.moonshot import model as ms

    plain = _unet2d(world, False)
    unet = _unet2d(world, False)
    info = ms.load_image_adapter(unet, world / IMAGE_DIR)
    assert len(ms.spatial_cross_attention(unet)) == len(ms.spatial_cross_attention(plain)) > 0
    g = torch.Generator().manual_seed(1)
    x, text = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 8, 32, generator=g)
    img_a, img_b = torch.randn(2, info["image_embed_dim"], generator=g), torch.randn(2, info["image_embed_dim"], generator=g)
    t = torch.tensor([100, 900])
    with torch.no_grad():
        want = plain(x, t, encoder_hidden_states=text).sample
        ms.set_image_scale(unet, 0.0)
        for img in (img_a, img_b):
            got = unet(x, t, encoder_hidden_states=text, added_cond_kwargs=ms.image_kwargs(img)).sample
            torch.testing.assert_close(got, want, atol=0, rtol=0)
        ms.set_image_scale(unet, 1.0)
        a = unet(x, t, encoder_hidden_states=text, added_cond_kwargs=ms.image_kwargs(img_a)).sample
        b = unet(x, t, encoder_hidden_states=text, added_cond_kwargs=ms.image_kwargs(img_b)).sample
    assert (a - b).abs().max() > 1e-4 and (a - want).abs().max() > 1e-4


def test_animation_input_places_the_first_frame_and_mask():
    from animatelab.moonshot.model import animation_input

    x, _, _, _, first = _inputs()
    out = animation_input(x, first, torch.tensor([True, False]))
    assert out.shape == (2, 9, 8, 8, 8)
    assert torch.equal(out[:, :4], x)
    assert torch.equal(out[0, 4:8, 0], first[0]) and out[0, 4:8, 1:].abs().sum() == 0
    assert out[0, 8, 0].eq(1).all() and out[0, 8, 1:].abs().sum() == 0
    assert out[1, 4:].abs().sum() == 0  # not animated: text(+image)-to-video


def test_all_frames_input_gives_every_frame_the_latent_and_travels_with_the_weights(world, tmp_path):
    """``first_frame_input="all_frames"``: the latent at every frame, the mask still at frame 0 only; the
    choice is saved in ``moonshot.json`` and restored on load, so the sampler feeds what training fed."""
    from animatelab.moonshot import model as ms

    x, _, _, _, first = _inputs()
    out = ms.animation_input(x, first, torch.tensor([True, False]), "all_frames")
    torch.testing.assert_close(out[0, 4:8], first[0][:, None].expand(-1, 8, -1, -1), rtol=0, atol=0)
    assert out[0, 8, 0].eq(1).all() and out[0, 8, 1:].abs().sum() == 0 and out[1, 4:].abs().sum() == 0

    design = _params(world).train_moonshot_video.module
    unet = ms.build_moonshot_unet(_unet2d(world, True), design, first_frame_input="all_frames")
    seen: list[torch.Tensor] = []
    unet.conv_in.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    _, t, text, _, _ = _inputs()
    with torch.no_grad():
        ms.predict(unet, x, t, text, None, first)
    clips = seen[0].view(2, 8, 9, 8, 8)
    torch.testing.assert_close(clips[:, 3, 4:8], first, rtol=0, atol=0)  # a middle frame sees the image
    ms.save_weights(unet, ms.VIDEO_KEYS, tmp_path, ms.VIDEO_FILE,
                    {"module": design.model_dump(mode="json"), "first_frame_input": "all_frames"})
    assert ms.load_moonshot_unet(_unet2d(world, True), None, tmp_path).first_frame_input == "all_frames"
    with pytest.raises(ValueError, match="first_frame_input"):
        ms.build_moonshot_unet(_unet2d(world, True), design, first_frame_input="last")


# --------------------------------------------------------------------------- the two stages
def test_stage1_changes_only_the_image_attention(world):
    from animatelab.moonshot import model as ms

    p = _params(world).train_moonshot_image
    start = ms.add_image_cross_attention(_unet2d(world, False), 64, p.num_image_tokens, p.image_scale, seed=p.loop.seed)
    trained = _unet2d(world, False)
    ms.load_image_adapter(trained, world / IMAGE_DIR)
    before, after = start.state_dict(), trained.state_dict()
    assert before.keys() == after.keys()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any("to_k_ip" in k for k in changed) and any("encoder_hid_proj" in k for k in changed)
    assert all(any(key in k for key in ms.IMAGE_KEYS) for k in changed)


def test_stage2_changes_only_temporal_attention_and_conv_in(world):
    from animatelab.moonshot import model as ms

    p = _params(world).train_moonshot_video
    unet2d = _unet2d(world, True)
    ms.load_image_adapter(unet2d, world / IMAGE_DIR)
    before = ms.build_moonshot_unet(unet2d, p.module, seed=p.loop.seed).state_dict()
    after = ms.load_moonshot_unet(_unet2d(world, True), world / IMAGE_DIR, world / VIDEO_DIR).state_dict()
    assert before.keys() == after.keys()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert "conv_in.weight" in changed and any(k.endswith("proj_out.weight") for k in changed)
    assert all(any(key in k for key in ms.VIDEO_KEYS) for k in changed)  # spatial + image attention frozen
    assert not any("to_k_ip" in k for k in changed)


def test_rerun_resumes_and_summaries(world, capsys):
    import json

    for stage, folder in (("train_moonshot_image", IMAGE_DIR), ("train_moonshot_video", VIDEO_DIR)):
        assert run_stage(world, stage) == 0
        assert "resuming from checkpoint at step 3/3" in capsys.readouterr().out
        summary = json.loads((world / folder / "train_summary.json").read_text())
        assert summary["steps"] == 3 and "resumed_from" not in summary  # run history: MLflow only


def test_first_frame_conditioned_sample_runs_end_to_end(world):
    """A few DDIM steps with guidance: every UNet call sees the conditioning latent at frame 0 with mask 1."""
    from diffusers import DDIMScheduler

    from animatelab.moonshot import model as ms
    from animatelab.moonshot.sampling import sample_moonshot

    unet = ms.load_moonshot_unet(_unet2d(world, True), world / IMAGE_DIR, world / VIDEO_DIR)
    seen: list[torch.Tensor] = []
    unet.conv_in.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    _, _, text, image, first = _inputs(seed=3)
    scheduler = DDIMScheduler(beta_schedule="linear", beta_start=0.00085, beta_end=0.012, clip_sample=False)
    out = sample_moonshot(unet, scheduler, text, torch.zeros(8, 32), image, first, frames=8, steps=3, guidance=2.0,
                          generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 4, 8, 8, 8) and torch.isfinite(out).all()
    assert len(seen) == 3
    for inp in seen:  # (2B * F, 9, h, w), frames of a clip contiguous
        clips = inp.view(4, 8, 9, 8, 8)
        torch.testing.assert_close(clips[:, 0, 4:8], torch.cat([first, first]), atol=0, rtol=0)
        assert clips[:, 0, 8].eq(1).all() and clips[:, 1:, 4:].abs().sum() == 0
    again = sample_moonshot(unet, scheduler, text, torch.zeros(8, 32), image, None, frames=8, steps=3, guidance=2.0,
                            generator=torch.Generator().manual_seed(0), latent_shape=(4, 8, 8))
    assert not torch.allclose(again, out)  # the first-frame input matters after training
