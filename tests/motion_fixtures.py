"""A fabricated micro world for the motion stages: tiny random base, domain adapter, encoded clips.

Stands in for synth_data -> prepare -> pretrain_base -> encode -> train_adapter (tested elsewhere)
so the motion tests exercise only their own stages, on the same files those stages read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from tests.conftest import core_group, micro_params, micro_text

CLIPS = {"train": 6, "heldout": 3, "motion_lora": 4}


def make_world(root: Path) -> Path:
    from safetensors.torch import save_file

    from animatelab.config import LoraParams
    from animatelab.models.tiny_base import build_tiny_base, save_base
    from animatelab.train.adapter import add_domain_adapter, save_domain_adapter

    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(micro_text())
    params = micro_params()
    frames = params["train_motion"]["frames"]
    cfg = core_group("pretrain_base", unet_block_out_channels=[32, 64], text_hidden_size=32, text_heads=2,
                     text_max_length=8)
    base = build_tiny_base(cfg)
    save_base(base, root / "models/base")
    unet = add_domain_adapter(base.unet, LoraParams(rank=2))
    with torch.no_grad():  # a non-zero adapter, so merging it changes the UNet
        for n, p in unet.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.02)
    save_domain_adapter(unet, root / "models/domain_adapter")
    g = torch.Generator().manual_seed(0)
    truth = {}
    for name, n in CLIPS.items():
        d = root / "data/encoded" / name
        d.mkdir(parents=True)
        save_file({"latents": torch.randn(n, frames, 4, 8, 8, generator=g),
                   "text": torch.randn(n, 8, 32, generator=g)}, str(d / "shard-00000.safetensors"))
        save_file({"text": torch.zeros(8, 32)}, str(d / "empty_text.safetensors"))
        meta = [{"videoid": f"{name}{i}", "caption": f"a red circle moving left {name} {i}"} for i in range(n)]
        lines = "".join(json.dumps(m) + "\n" for m in meta)
        (d / "shard-00000.jsonl").write_text(lines)
        prepared = root / "data/prepared" / name
        prepared.mkdir(parents=True)
        (prepared / "shard-00000.jsonl").write_text(lines)
        truth.update({m["videoid"]: {"shape": "circle", "colour": "red", "background": "black", "motion": "left"}
                      for m in meta})
    (root / "data/synth").mkdir(parents=True)
    (root / "data/synth/ground_truth.json").write_text(json.dumps(truth))
    return root


def run_stage(root: Path, *argv: str) -> int:
    from animatelab.cli import main

    cwd = os.getcwd()
    os.chdir(root)
    try:
        return main(list(argv))
    finally:
        os.chdir(cwd)
