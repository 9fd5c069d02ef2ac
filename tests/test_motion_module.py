"""Motion module construction, RQ4/RQ5 designs, save/load and the official key layout."""

from __future__ import annotations

import pytest
import torch

from animatelab.config import MotionModuleParams

FRAMES = 4


def tiny_unet2d(seed: int = 0):
    """The tiny base's UNet layout (CrossAttn blocks, 1 layer each) at widths 32/64."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D",) * 2, up_block_types=("CrossAttnUpBlock2D",) * 2,
        attention_head_dim=4, cross_attention_dim=32, norm_num_groups=32,
    ).eval()


@pytest.fixture(scope="module")
def unet2d():
    return tiny_unet2d()


def _inputs(unet, seed: int = 0, b: int = 2):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, unet.config.in_channels, FRAMES, 8, 8, generator=g)
    text = torch.randn(b, 8, unet.config.cross_attention_dim, generator=g)
    return x, torch.tensor([10, 500]), text


def _run(unet, x, t, text):
    with torch.no_grad():
        return unet(x, t, encoder_hidden_states=text.repeat_interleave(x.shape[2], 0)).sample


def _perturb(unet, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in unet.named_parameters():
            if "motion_modules." in n:
                p.add_(0.05 * torch.randn(p.shape, generator=g))


DESIGNS = {
    "standard": MotionModuleParams(),
    "per_frame": MotionModuleParams(norm="per_frame"),
    "conv1d": MotionModuleParams(temporal="conv1d"),
    "text_xattn": MotionModuleParams(text_cross_attention=True),
}


@pytest.mark.parametrize("name", list(DESIGNS))
def test_new_module_is_identity_and_only_motion_trains(unet2d, name):
    from animatelab.models.motion import build_motion_unet
    from animatelab.train.motion import assert_only_motion_trainable

    unet = build_motion_unet(unet2d, DESIGNS[name], seed=0).eval()
    names = assert_only_motion_trainable(unet)
    assert all("motion_modules." in n for n in names)
    x, t, text = _inputs(unet)
    per_frame = x.transpose(1, 2).flatten(0, 1)  # the base UNet on each frame
    with torch.no_grad():
        base = unet2d(per_frame, t.repeat_interleave(FRAMES), encoder_hidden_states=text.repeat_interleave(FRAMES, 0)).sample
    out = _run(unet, x, t, text)
    torch.testing.assert_close(out.transpose(1, 2).flatten(0, 1), base, atol=1e-5, rtol=1e-5)


def test_random_proj_out_is_not_identity(unet2d):
    from animatelab.models.motion import build_motion_unet

    unet = build_motion_unet(unet2d, MotionModuleParams(zero_init_proj_out=False), seed=0).eval()
    x, t, text = _inputs(unet)
    with torch.no_grad():
        base = unet2d(x.transpose(1, 2).flatten(0, 1), t.repeat_interleave(FRAMES),
                      encoder_hidden_states=text.repeat_interleave(FRAMES, 0)).sample
    assert (_run(unet, x, t, text).transpose(1, 2).flatten(0, 1) - base).abs().max() > 1e-3


def test_per_frame_norm_normalises_each_frame():
    from animatelab.models.motion import PerFrameGroupNorm

    norm = PerFrameGroupNorm(4, 8)
    x = torch.randn(2, 8, 3, 5, 5) * torch.arange(1, 4).view(1, 1, 3, 1, 1)
    y = norm(x)
    ref = torch.stack([torch.nn.functional.group_norm(x[:, :, f], 4, eps=norm.eps) for f in range(3)], 2)
    torch.testing.assert_close(y, ref)
    whole = torch.nn.GroupNorm(4, 8)(x)
    assert (whole - y).abs().max() > 1e-2


@pytest.mark.parametrize("name", list(DESIGNS))
def test_save_load_round_trip(unet2d, tmp_path, name):
    from animatelab.models.motion import build_motion_unet, load_motion_unet, save_motion

    design = DESIGNS[name]
    unet = build_motion_unet(unet2d, design, seed=0).eval()
    _perturb(unet)
    save_motion(unet, design, tmp_path / name)
    again = load_motion_unet(unet2d, tmp_path / name)
    x, t, text = _inputs(unet)
    torch.testing.assert_close(_run(again, x, t, text), _run(unet, x, t, text))


def test_text_cross_attention_reads_the_text(unet2d):
    from animatelab.models.motion import build_motion_unet

    unet = build_motion_unet(unet2d, DESIGNS["text_xattn"], seed=0).eval()
    _perturb(unet)
    x, t, text = _inputs(unet)
    with torch.no_grad():
        # scaling the temporal attn2 keys changes the output only if that attention reads the text
        a = _run(unet, x, t, text)
        for name, m in unet.named_modules():
            if "motion_modules." in name and name.endswith("attn2"):
                m.to_k.weight.mul_(2.0)
        b = _run(unet, x, t, text)
    assert (a - b).abs().max() > 1e-5


def test_official_export_loads_back_through_diffusers(unet2d, tmp_path):
    from diffusers import UNetMotionModel
    from safetensors.torch import load_file

    from animatelab.models.motion import build_motion_unet, save_motion
    from animatelab.models.official_format import OFFICIAL_FILE, from_official_state_dict, load_official

    design = MotionModuleParams(max_seq_length=24)
    unet = build_motion_unet(unet2d, design, seed=0).eval()
    _perturb(unet)
    save_motion(unet, design, tmp_path / "run")
    official = load_file(str(tmp_path / "run" / OFFICIAL_FILE))
    pe = [k for k in official if k.endswith("pos_encoder.pe")]
    assert pe and all(official[k].shape[1] == 24 for k in pe)
    assert all(".temporal_transformer." in k for k in official)
    assert any(".attention_blocks.1.to_q.weight" in k for k in official)
    assert not any(".attn1." in k or ".norm1." in k for k in official)
    adapter = load_official(tmp_path / "run" / OFFICIAL_FILE, tmp_path / "run")
    reloaded = UNetMotionModel.from_unet2d(unet2d, adapter).eval()
    x, t, text = _inputs(unet)
    torch.testing.assert_close(_run(reloaded, x, t, text), _run(unet, x, t, text), atol=0, rtol=0)
    converted = from_official_state_dict(official)
    assert set(converted) == {k for k in adapter.state_dict() if not k.endswith("pos_embed.pe")}


@pytest.mark.parametrize("name", ["standard", "per_frame"])
def test_model_card_names_the_loader_that_computes_what_we_computed(unet2d, tmp_path, name):
    """The card's claim, checked: plain diffusers reproduces a whole-clip module and not a per-frame one."""
    from diffusers import MotionAdapter, UNetMotionModel

    from animatelab.models.motion import MODEL_CARD, build_motion_unet, save_motion

    design = DESIGNS[name]
    unet = build_motion_unet(unet2d, design, seed=0).eval()
    _perturb(unet)
    save_motion(unet, design, tmp_path / name)
    card = (tmp_path / name / MODEL_CARD).read_text()
    plain = UNetMotionModel.from_unet2d(unet2d, MotionAdapter.from_pretrained(tmp_path / name)).eval()
    x, t, text = _inputs(unet)
    gap = (_run(plain, x, t, text) - _run(unet, x, t, text)).abs().max().item()
    if name == "standard":
        assert "**whole-clip**" in card and gap < 1e-5
    else:
        assert "**per-frame**" in card and "other outputs" in card and gap > 1e-3


def test_model_card_of_a_custom_design_points_to_the_rebuilder(unet2d, tmp_path):
    from animatelab.models.motion import MODEL_CARD, build_motion_unet, save_motion

    design = DESIGNS["conv1d"]
    save_motion(build_motion_unet(unet2d, design, seed=0), design, tmp_path / "c")
    card = (tmp_path / "c" / MODEL_CARD).read_text()
    assert "load_motion_unet" in card and "motion_modules.safetensors" in card
