"""Stage ``sample_lora@{N}``: ``sample`` of run ``lora_n{N}`` (MotionLoRA of N videos)."""

from __future__ import annotations

from argparse import Namespace

from animatelab.config import Params


def run(params: Params, args) -> None:
    from animatelab.stages import sample

    n = str(args.run).removeprefix("lora_n").removeprefix("n")
    sample.run(params, Namespace(**{**vars(args), "run": f"lora_n{n}"}))
