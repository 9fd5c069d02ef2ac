"""``animatelab <stage>``: one subcommand per DVC stage.

Stage modules are imported lazily so ``animatelab --help`` stays instant (torch is not loaded).
Every stage validates the whole params file before any compute.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from animatelab.config import ParamsError, load_params

# stage name -> (module under animatelab.stages, one-line help)
STAGES: dict[str, str] = {
    "synth_data": "generate the synthetic WebVid-format world (images, videos, ground truth)",
    "prepare": "decode a WebVid-format CSV + videos into fixed-length clip shards",
    "pretrain_base": "train the tiny SD-format base model (embedded default only)",
    "encode": "cache VAE latents and text embeddings of the prepared clips",
    "train_adapter": "train the domain-adapter LoRA on single video frames",
    "train_motion": "train a motion module (MotionAdapter) for one run in params",
    "train_motion_lora": "train a MotionLoRA on the camera-motion set (--run N videos)",
    "train_direction_lora": "RQ5: train a MotionLoRA on the clips of one direction (--run NAME)",
    "sample": "generate videos with AnimateDiffPipeline for one run",
    "sample_lora": "generate videos with the MotionLoRA of N videos (--run N)",
    "sample_direction_lora": "generate videos with the direction MotionLoRA NAME (--run NAME)",
    "train_eval_models": "train the stand-in evaluation networks (video features, tiny CLIP)",
    "evaluate": "score one run's samples: FVD, CLIP, temporal, ground-truth metrics",
    "evaluate_lora": "score the samples of the MotionLoRA of N videos (--run N)",
    "evaluate_direction_lora": "score the samples of the direction MotionLoRA NAME (--run NAME)",
    "probe": "probes of where the appearance signal goes (RQ1 'why')",
    "figures": "draw the paper figures and tables from the metrics files",
}


# Stages that are another stage on a derived run name: DVC's foreach hands them the bare item
# (``5``, ``left``), the target stage gets ``lora_n5`` / ``dir_left``.
RUN_ALIASES: dict[str, tuple[str, str]] = {
    "sample_lora": ("sample", "lora_n"),
    "evaluate_lora": ("evaluate", "lora_n"),
    "sample_direction_lora": ("sample", "dir_"),
    "evaluate_direction_lora": ("evaluate", "dir_"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="animatelab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="stage", metavar="<stage>", required=True)
    for name, help_text in STAGES.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
        p.add_argument(
            "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
            help="override a param, e.g. --set prepare.frames=8 (repeatable)",
        )
        p.add_argument("--run", default=None, help="variant / run name for foreach stages")
        p.add_argument("--shard-index", type=int, default=None, help="this process's shard (0-based)")
        p.add_argument("--num-shards", type=int, default=None, help="number of shards of the input")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        params = load_params(args.params, args.overrides)
    except ParamsError as err:
        print(f"animatelab {args.stage}: invalid params: {err}", file=sys.stderr)
        return 2
    target = args.stage
    if target in RUN_ALIASES:
        target, prefix = RUN_ALIASES[target]
        args.run = prefix + str(args.run).removeprefix(prefix)
    module = importlib.import_module(f"animatelab.stages.{target}")
    try:
        module.run(params, args)
    except ParamsError as err:
        print(f"animatelab {args.stage}: invalid params: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
