"""SD1.5-sized model checks with no weights: sizes, 16-frame 256x256 shapes, what trains.

Everything is built on the meta device (shapes only, no memory, no compute), so the real
architecture is checked in seconds on a CPU.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

from animatelab.models import sd15

# Published sizes (docs/methods.md): SD1.5 UNet, and the motion modules with/without mid block.
SD15_UNET_PARAMS = 859_520_964


@pytest.fixture(scope="module")
def motion_unet_v2():
    return sd15.sd15_motion_unet("v2", meta=True)


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_motion_adapter_has_published_size(version):
    adapter = sd15.sd15_motion_adapter(version, meta=True)
    assert next(adapter.parameters()).device.type == "meta"
    assert sd15.count_params(adapter) == sd15.MOTION_ADAPTER_PARAMS[version]
    assert (adapter.mid_block is not None) == (version == "v2")
    # v1 positional table holds 24 frames, v2/v3 32 (how tools tell versions apart).
    pe = adapter.down_blocks[0].motion_modules[0].transformer_blocks[0].pos_embed.pe
    assert pe.shape[1] == {"v1": 24, "v2": 32, "v3": 32}[version]


def test_published_sizes():
    assert sd15.MOTION_ADAPTER_PARAMS == {"v1": 417_137_600, "v2": 453_209_280, "v3": 417_137_600}
    assert sd15.count_params(sd15.sd15_unet(meta=True)) == SD15_UNET_PARAMS


def test_motion_unet_is_unet_plus_adapter(motion_unet_v2):
    motion = sum(p.numel() for n, p in motion_unet_v2.named_parameters() if "motion_modules" in n)
    assert motion == sd15.MOTION_ADAPTER_PARAMS["v2"]
    assert sd15.count_params(motion_unet_v2) == SD15_UNET_PARAMS + motion


def test_shapes_flow_for_16_frames_at_256(motion_unet_v2):
    """Meta-device forward: every op's shape rule runs, no arithmetic is done."""
    seen = []
    hooks = [
        m.register_forward_hook(lambda mod, args, out: seen.append(tuple(out.shape)))
        for n, m in motion_unet_v2.named_modules()
        if n.endswith(tuple(f"motion_modules.{i}" for i in range(3)))
    ]
    try:
        batch = sd15.dummy_batch(batch=2, frames=16, resolution=256)
        out = motion_unet_v2(**batch).sample
    finally:
        for h in hooks:
            h.remove()
    assert out.shape == (2, 4, 16, 32, 32) and out.device.type == "meta"
    # 2 per down block x 4 + 3 per up block x 4 + 1 mid (v2) motion modules ran, each on
    # (batch x frames) feature maps at one of the four SD1.5 resolutions.
    assert len(seen) == 21
    assert {s[0] for s in seen} == {32}
    assert {(s[1], s[2]) for s in seen} == {(320, 32), (640, 16), (1280, 8), (1280, 4)}


def test_only_motion_modules_train(motion_unet_v2):
    # What animatelab.models.motion.build_motion_unet does after from_unet2d (which needs real
    # weights), then the trainer's own guard (animatelab.train.motion) when it is present.
    motion_unet_v2.freeze_unet2d_params()
    trainable = {n for n, p in motion_unet_v2.named_parameters() if p.requires_grad}
    assert trainable and all("motion_modules" in n for n in trainable)
    if importlib.util.find_spec("animatelab.train.motion") is not None:
        from animatelab.train.motion import assert_only_motion_trainable

        assert set(assert_only_motion_trainable(motion_unet_v2)) == trainable
    assert sd15.count_params(motion_unet_v2, trainable_only=True) == sd15.MOTION_ADAPTER_PARAMS["v2"]
    batch = sd15.dummy_batch(batch=1, frames=16, resolution=256)
    motion_unet_v2(**batch).sample.float().mean().backward()
    for name, p in motion_unet_v2.named_parameters():
        assert (p.grad is not None) == (name in trainable), name
        p.grad = None


def test_training_step_flops(motion_unet_v2):
    """Backward costs more than forward (activation grads everywhere) but less than twice it
    (frozen UNet weights get no weight gradient)."""
    flops = sd15.training_step_flops(batch=1, frames=16, resolution=256, unet=motion_unet_v2)
    assert flops["forward"] < flops["backward"] < 2 * flops["forward"]
    assert 9e12 < flops["step"] < 1e13  # ~9.3 TFLOP per 16-frame 256x256 clip: bench_mfu.py --estimate


def test_full_checkpointing_cuts_saved_activations():
    """diffusers checkpoints only resnets; wrapping attention and motion modules saves more."""
    unet = sd15.sd15_motion_unet("v3", meta=True).to(torch.bfloat16)
    unet.freeze_unet2d_params()
    unet.train()
    batch = sd15.dummy_batch(batch=1, frames=16, resolution=256, dtype=torch.bfloat16)
    unet.enable_gradient_checkpointing()
    resnets_only = sd15.saved_activation_bytes(unet, batch)
    assert sd15.checkpoint_attention_blocks(unet) == 16 + 20  # spatial transformers + motion modules
    full = sd15.saved_activation_bytes(unet, batch)
    assert resnets_only > 4 * full > 0
    unet(**batch).sample.float().mean().backward()
    assert all(p.grad is not None for n, p in unet.named_parameters() if "motion_modules" in n)
