"""models.assemble: the one assembly of base + domain adapter + motion module computes exactly what
the step-by-step path (load the base UNet, merge the adapter, put the motion module on it) computed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.motion_fixtures import make_world


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """The micro world (tiny base, non-zero domain adapter) and a saved motion run per design,
    with perturbed motion weights so that they are not the identity."""
    from animatelab.config import MotionModuleParams
    from animatelab.models.motion import build_motion_unet, save_motion

    root = make_world(tmp_path_factory.mktemp("assemble_world"))
    for name, design in {"standard": MotionModuleParams(), "conv1d": MotionModuleParams(temporal="conv1d")}.items():
        unet = _step_by_step_unet2d(root, 0.0)
        motion = build_motion_unet(unet, design, seed=0)
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for n, p in motion.named_parameters():
                if "motion_modules." in n:
                    p.add_(0.05 * torch.randn(p.shape, generator=g))
        save_motion(motion, design, root / "models/motion" / name, official=False)
    return root


def _step_by_step_unet2d(root: Path, scale: float):
    """The base UNet with the adapter merged, the way the sites loaded and merged it before assembly."""
    from diffusers import UNet2DConditionModel

    from animatelab.models.lora import merge_lora

    unet2d = UNet2DConditionModel.from_pretrained(root / "models/base/unet", local_files_only=True)
    if scale:
        merge_lora(unet2d, root / "models/domain_adapter", scale, "domain_adapter")
    return unet2d.requires_grad_(False).eval()


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("design", ["standard", "conv1d"])
def test_motion_unet_equals_the_step_by_step_path(world, design):
    from animatelab.models.assemble import adapter_file, motion_unet
    from animatelab.models.motion import load_motion_unet

    folder = world / "models/motion" / design
    expected = load_motion_unet(_step_by_step_unet2d(world, 0.5), folder).state_dict()
    built = motion_unet(world / "models/base", folder, adapter_file(world / "models/domain_adapter"), 0.5)
    assert _equal(built.state_dict(), expected)
    assert not built.training and not any(p.requires_grad for p in built.parameters())
    assert all(v.dtype == torch.float32 for v in built.state_dict().values())
    # the adapter's folder names the same file
    again = motion_unet(world / "models/base", folder, world / "models/domain_adapter", 0.5)
    assert _equal(again.state_dict(), expected)


def test_scale_zero_or_no_adapter_leaves_the_base_untouched(world):
    from animatelab.models.assemble import adapter_file, motion_unet

    base = _step_by_step_unet2d(world, 0.0).state_dict()
    adapter = adapter_file(world / "models/domain_adapter")
    assert _equal(motion_unet(world / "models/base", adapter=adapter, adapter_scale=0.0).state_dict(), base)
    assert _equal(motion_unet(world / "models/base", adapter=None, adapter_scale=1.0).state_dict(), base)
    merged = motion_unet(world / "models/base", adapter=adapter, adapter_scale=0.5).state_dict()
    assert _equal(merged, _step_by_step_unet2d(world, 0.5).state_dict())
    assert not _equal(merged, base)  # the adapter is non-zero: a merge that did nothing would pass above


def test_a_loaded_base_is_merged_in_place_and_the_pipeline_holds_its_parts(world):
    from diffusers import AnimateDiffPipeline, DDIMScheduler

    from animatelab.models.assemble import motion_unet, pipeline
    from animatelab.models.base import load_base

    base = load_base(world / "models/base")
    unet = motion_unet(base.unet, world / "models/motion/standard", world / "models/domain_adapter", 0.5)
    assert _equal(base.unet.state_dict(), _step_by_step_unet2d(world, 0.5).state_dict())
    pipe = pipeline(base, unet, DDIMScheduler())
    assert isinstance(pipe, AnimateDiffPipeline)
    assert pipe.unet is unet and pipe.vae is base.vae and pipe.text_encoder is base.text_encoder


def test_snapshot_weights_replace_the_run_s(world):
    from animatelab.models.assemble import motion_unet

    folder = world / "models/motion/standard"
    final = motion_unet(world / "models/base", folder)
    # the run's own folder as its snapshot: the same weights back
    assert _equal(motion_unet(world / "models/base", folder, snapshot=folder).state_dict(), final.state_dict())
    with pytest.raises(ValueError):
        motion_unet(world / "models/base", None, snapshot=folder)
