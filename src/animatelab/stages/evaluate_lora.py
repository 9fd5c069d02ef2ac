"""Stage ``evaluate_lora@{N}``: ``evaluate`` of run ``lora_n{N}`` (RQ3, MotionLoRA of N videos)."""

from __future__ import annotations

from argparse import Namespace

from animatelab.config import Params


def run(params: Params, args) -> None:
    from animatelab.stages import evaluate

    n = str(args.run).removeprefix("lora_n").removeprefix("n")
    evaluate.run(params, Namespace(**{**vars(args), "run": f"lora_n{n}"}))
