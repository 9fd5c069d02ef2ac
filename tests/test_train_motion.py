"""train_motion stage on micro params: only motion-module tensors change; exports load back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tests.motion_fixtures import make_world, run_stage


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = make_world(tmp_path_factory.mktemp("motion_world"))
    assert run_stage(root, "train_motion", "--run", "with_adapter_s0") == 0
    return root


def _motion_unet(root: Path, with_adapter: bool):
    from animatelab.config import load_params
    from animatelab.models.motion import build_motion_unet
    from animatelab.train.motion import load_frozen_unet2d

    cwd = os.getcwd()
    os.chdir(root)
    try:
        params = load_params("params.yaml")
        unet2d = load_frozen_unet2d(params.base.path, params.train_adapter.out_dir if with_adapter else None)
    finally:
        os.chdir(cwd)
    return unet2d, build_motion_unet(unet2d, params.train_motion.runs["with_adapter_s0"].module, seed=0)


def test_only_motion_module_tensors_change(world):
    from animatelab.models.motion import load_motion_unet

    unet2d, start = _motion_unet(world, with_adapter=True)
    trained = load_motion_unet(unet2d, world / "models/motion/with_adapter_s0")
    before, after = start.state_dict(), trained.state_dict()
    assert before.keys() == after.keys()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, "training changed nothing"
    assert all("motion_modules." in k for k in changed)
    assert any(k.endswith("proj_out.weight") for k in changed)  # the zero-init output learned


def test_outputs_follow_the_contract(world):
    import json

    from diffusers import MotionAdapter

    out = world / "models/motion/with_adapter_s0"
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 4 and summary["with_adapter"] is True
    assert (out / "motion_module_official.safetensors").is_file()
    # the .ckpt beside it (for the official code's torch.load) holds the same tensors, readable without code
    from safetensors.torch import load_file

    ckpt = torch.load(out / "motion_module_official.ckpt", map_location="cpu", weights_only=True)
    st = load_file(str(out / "motion_module_official.safetensors"))
    assert ckpt.keys() == st.keys() and all(torch.equal(ckpt[k], st[k]) for k in st)
    adapter = MotionAdapter.from_pretrained(out)
    assert adapter.config.block_out_channels == [32, 64] or tuple(adapter.config.block_out_channels) == (32, 64)
    assert (world / "models/checkpoints/motion/with_adapter_s0/last/state.json").is_file()
    # micro: 4 steps, 2 snapshots -> weights-only copies at steps 2 and 4, published in the run folder
    snaps = sorted(p.name for p in (out / "snapshots").iterdir())
    assert snaps == ["step_000002", "step_000004"]
    from safetensors.torch import load_file

    last = load_file(str(out / "snapshots/step_000004/trainable.safetensors"))
    mid = load_file(str(out / "snapshots/step_000002/trainable.safetensors"))
    final = load_file(str(world / "models/checkpoints/motion/with_adapter_s0/last/trainable.safetensors"))
    assert all(torch.equal(last[k], final[k]) for k in final)
    assert any(not torch.equal(mid[k], final[k]) for k in final)


def test_official_export_matches_through_from_single_file(world):
    from diffusers import UNetMotionModel

    from animatelab.models.motion import load_motion_unet
    from animatelab.models.official_format import load_official

    out = world / "models/motion/with_adapter_s0"
    unet2d, _ = _motion_unet(world, with_adapter=False)
    ours = load_motion_unet(unet2d, out)
    theirs = UNetMotionModel.from_unet2d(unet2d, load_official(out / "motion_module_official.safetensors", out)).eval()
    g = torch.Generator().manual_seed(0)
    x, text = torch.randn(1, 4, 8, 8, 8, generator=g), torch.randn(8, 8, 32, generator=g)
    with torch.no_grad():
        a = ours(x, torch.tensor([300]), encoder_hidden_states=text).sample
        b = theirs(x, torch.tensor([300]), encoder_hidden_states=text).sample
    torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_rerun_resumes_finished_checkpoint(world, capsys):
    """Same params: the loop finds the finished checkpoint and does no step again; the summary (a DVC
    output) is the fresh run's, since where a run resumed is no result."""
    summary_file = world / "models/motion/with_adapter_s0/train_summary.json"
    fresh = summary_file.read_bytes()
    assert run_stage(world, "train_motion", "--run", "with_adapter_s0") == 0
    assert "resuming from checkpoint at step 4/4" in capsys.readouterr().out
    assert summary_file.read_bytes() == fresh and b"resumed_from" not in fresh


def test_unknown_run_is_a_params_error(world):
    assert run_stage(world, "train_motion", "--run", "nope") == 2


def test_untrained_run_keeps_the_module_as_initialised(world):
    """``steps: 0`` (RQ1's floor): the saved module is the seeded initial one, proj_out zero, no curve."""
    import json

    import yaml

    from animatelab.models.motion import load_motion_unet

    params = yaml.safe_load((world / "params.yaml").read_text())
    params["train_motion"]["runs"]["untrained"] = {"with_adapter": False, "seed": 0, "steps": 0}
    (world / "params.yaml").write_text(yaml.safe_dump(params))
    assert run_stage(world, "train_motion", "--run", "untrained") == 0
    out = world / "models/motion/untrained"
    assert json.loads((out / "train_summary.json").read_text())["steps"] == 0
    assert (out / "loss.csv").read_text().strip() == "step,loss"
    unet2d, start = _motion_unet(world, with_adapter=False)
    saved = load_motion_unet(unet2d, out).state_dict()
    assert all(torch.equal(v, saved[k]) for k, v in start.state_dict().items())
    proj_out = [v for k, v in saved.items() if "motion_modules." in k and k.endswith("proj_out.weight")]
    assert proj_out and all(not v.any() for v in proj_out)
