"""Domain adapter: spatial-only LoRA, loadable with load_lora_weights, mergeable at a scale."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from animatelab.config import load_params
from animatelab.models.base import load_base
from animatelab.train.adapter import apply_domain_adapter, domain_adapter_targets, spatial_attention_targets
from tests.conftest import REPO
from tests.tiny_fixtures import make_fake_prepared, save_tiny_base


def test_train_adapter_saves_a_diffusers_lora(workdir):
    from animatelab.cli import set_stage_threads
    from animatelab.models.encode import encode_dataset
    from animatelab.stages import train_adapter
    from animatelab.train.adapter import ADAPTER_NAME

    params = load_params("params.yaml")
    base_dir = save_tiny_base(workdir / "models/base")
    encode_dataset(load_base(base_dir), make_fake_prepared(workdir / "prep"), workdir / "data/encoded/train", params.encode)
    set_stage_threads(params, "train_adapter")  # what the CLI does before a stage runs
    train_adapter.run(params, SimpleNamespace(run=None, shard_index=None, num_shards=None))
    assert (workdir / "models/domain_adapter/pytorch_lora_weights.safetensors").is_file()
    assert (workdir / "models/domain_adapter/loss.csv").is_file()

    x, t, e = torch.randn(2, 4, 16, 16), torch.tensor([10, 500]), torch.randn(2, 16, 32)
    base = load_base(base_dir)
    y0 = base.unet(x, t, e).sample
    pipe = load_base(base_dir).pipeline()
    pipe.load_lora_weights(workdir / "models/domain_adapter")
    y1 = pipe.unet(x, t, e).sample
    assert (y1 - y0).abs().max() > 1e-5  # the adapter changes the UNet
    from animatelab.train.checkpoint import load_checkpoint

    trained = load_checkpoint(workdir / "models/checkpoints/domain_adapter").weights
    loaded = {n.replace(".default_0", ""): p for n, p in pipe.unet.named_parameters() if "lora" in n}
    assert len(loaded) == len(trained)
    for name, value in trained.items():
        assert torch.equal(loaded[name.replace(f".{ADAPTER_NAME}", "")], value), name
    merged = apply_domain_adapter(load_base(base_dir).unet, workdir / "models/domain_adapter", 1.0)
    torch.testing.assert_close(merged(x, t, e).sample, y1, rtol=1e-4, atol=1e-4)
    assert torch.equal(apply_domain_adapter(load_base(base_dir).unet, workdir / "models/domain_adapter", 0.0)(x, t, e).sample, y0)


def test_targets_skip_motion_modules(tmp_path):
    from diffusers import MotionAdapter, UNetMotionModel

    unet = load_base(save_tiny_base(tmp_path / "base")).unet
    plain = spatial_attention_targets(unet)
    motion = UNetMotionModel.from_unet2d(unet, MotionAdapter(block_out_channels=(32, 64), motion_layers_per_block=1,
                                                             motion_num_attention_heads=2, motion_norm_num_groups=32))
    targets = spatial_attention_targets(motion)
    assert sorted(targets) == sorted(plain) and not any("motion_modules" in n for n in targets)
    assert len(plain) == 4 * 2 * 7  # q/k/v/out x (attn1, attn2) x (2 down + 1 mid + 4 up) blocks


def test_resnet_conv_targets_load_merge_and_name_what_they_change(tmp_path):
    """``train_adapter.targets: [attention, resnet_conv]``: the ResNet 3x3 convs join the attention
    projections (none inside a motion module); diffusers' loader and our merge give the same UNet; and
    the file names exactly the weights a merge changes (what sampling snapshots to undo it)."""
    from diffusers import MotionAdapter, UNetMotionModel

    from animatelab.config import LoraParams
    from animatelab.models.lora import saved_lora_modules
    from animatelab.train.adapter import add_domain_adapter, save_domain_adapter

    base_dir = save_tiny_base(tmp_path / "base")
    unet = load_base(base_dir).unet
    both = domain_adapter_targets(unet, ["attention", "resnet_conv"])
    convs = sorted(set(both) - set(spatial_attention_targets(unet)))
    assert len(convs) == 2 * 8 and all(n.rsplit(".", 1)[-1] in ("conv1", "conv2") for n in convs)  # 8 ResNets
    motion = UNetMotionModel.from_unet2d(unet, MotionAdapter(block_out_channels=(32, 64), motion_layers_per_block=1,
                                                             motion_num_attention_heads=2, motion_norm_num_groups=32))
    assert sorted(domain_adapter_targets(motion, ["attention", "resnet_conv"])) == sorted(both)

    adapted = add_domain_adapter(load_base(base_dir).unet, LoraParams(rank=2), targets=["attention", "resnet_conv"])
    with torch.no_grad():
        for n, p in adapted.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.02)
    save_domain_adapter(adapted, tmp_path / "adapter")
    assert saved_lora_modules(tmp_path / "adapter") == sorted(both)

    x, t, e = torch.randn(2, 4, 16, 16), torch.tensor([10, 500]), torch.randn(2, 16, 32)
    pipe = load_base(base_dir).pipeline()
    pipe.load_lora_weights(tmp_path / "adapter")
    before = {k: v.clone() for k, v in load_base(base_dir).unet.state_dict().items()}
    merged = apply_domain_adapter(load_base(base_dir).unet, tmp_path / "adapter", 1.0)
    torch.testing.assert_close(merged(x, t, e).sample, pipe.unet(x, t, e).sample, rtol=1e-4, atol=1e-4)
    changed = {k for k, v in merged.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {f"{n}.weight" for n in both}


@pytest.mark.parametrize("targets", [[], ["attention", "attention"], ["mlp"]])
def test_bad_adapter_targets_are_rejected_before_compute(targets):
    from animatelab.config import ParamsError

    with pytest.raises(ParamsError):
        load_params(REPO / "params.yaml", [f"train_adapter.targets={targets}"])
