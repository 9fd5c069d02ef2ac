"""Stage ``evaluate_direction_lora@{name}`` (RQ5): ``evaluate`` of run ``dir_{name}``."""

from __future__ import annotations

from argparse import Namespace

from animatelab.config import Params


def run(params: Params, args) -> None:
    from animatelab.stages import evaluate

    evaluate.run(params, Namespace(**{**vars(args), "run": f"dir_{str(args.run).removeprefix('dir_')}"}))
