"""``animatelab <stage>``: one subcommand per DVC stage.

Stage modules are imported lazily so ``animatelab --help`` stays instant (torch is not loaded).
Every stage validates the whole params file before any compute. Under ``python -m animatelab.warm``
(``make repro``) the stage runs in a fork of a process that has torch, diffusers and MLflow imported
already (``animatelab.warm``); this process only hands it over.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib
import os
import sys

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
    "train_sparsectrl": "RQ6: train a SparseCtrl sparse-condition encoder (--run VARIANT)",
    "sample_sparsectrl": "RQ6: keyframe-conditioned videos with AnimateDiffSparseControlNetPipeline (--run VARIANT)",
    "evaluate_sparsectrl": "RQ6: score control at keyframes and propagation vs the no-control baseline (--run VARIANT)",
    "train_moonshot_image": "MoonShot stage 1: decoupled image cross-attention on the clean images",
    "train_moonshot_video": "MoonShot stage 2: temporal attention + first-frame input on clips (image condition)",
    "sample_moonshot": "RQ7: MoonShot videos of one mode (--run MODE) on the sample stage's prompts and seeds",
    "evaluate_moonshot": "RQ7: score one MoonShot mode like evaluate, plus first-frame fidelity and identity (--run MODE)",
    "train_controlnet_image": "RQ7: an image ControlNet (Canny edges -> image) on the frozen base",
    "sample_controlnet": "RQ7: videos with the image ControlNet on every frame, no video training (--run TARGET)",
    "evaluate_controlnet": "RQ7: score ControlNet videos like evaluate, plus edge agreement vs uncontrolled (--run TARGET)",
}


# Stages that are another stage on a derived run name: DVC's foreach hands them the bare item
# (``5``, ``left``), the target stage gets the run's name (``lora_n5`` / ``dir_left``, animatelab.runs).
RUN_ALIASES: dict[str, tuple[str, str]] = {
    "sample_lora": ("sample", "motion_lora"),
    "evaluate_lora": ("evaluate", "motion_lora"),
    "sample_direction_lora": ("sample", "direction_lora"),
    "evaluate_direction_lora": ("evaluate", "direction_lora"),
}

# A stage's torch threads are its params group's ``threads``; evaluate_moonshot scores with evaluate's code
# and params, so with evaluate's threads.
THREADS_GROUP: dict[str, str] = {"evaluate_moonshot": "evaluate"}


def stage_threads(params, stage: str) -> int | None:
    """Torch intra-op threads for ``stage`` (after RUN_ALIASES): its group's ``threads``, None if it has none."""
    return getattr(getattr(params, THREADS_GROUP.get(stage, stage), None), "threads", None)


def set_stage_threads(params, stage: str) -> None:
    """Set torch's threads for ``stage``'s process, once, before the stage runs: the one place that does,
    so library code never changes a process-wide setting. A stage without ``threads`` leaves torch
    unimported and its threads as they are."""
    threads = stage_threads(params, stage)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


# glibc mallopt parameters: keep freed blocks up to 32 MiB (glibc's ceiling) in the heap, never trim it
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def tune_allocator() -> bool:
    """Make glibc reuse freed activation buffers instead of returning them to the kernel.

    With default settings a UNet forward of the default's sampling batch page-faults ~200 MiB of
    fresh zeroed pages (55k minor faults per call, measured); with these, none after the first
    call. Numerics are untouched. ``ANIMATELAB_MALLOPT=0`` turns it off; a no-op off glibc.
    """
    if os.environ.get("ANIMATELAB_MALLOPT", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="animatelab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="stage", metavar="<stage>", required=True)
    for name, help_text in STAGES.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--params", action="append", default=None, metavar="FILE",
            help="params file (default: params.yaml); repeat to lay a study's file over the core's",
        )
        p.add_argument(
            "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
            help="override a param, e.g. --set prepare.frames=8 (repeatable)",
        )
        p.add_argument("--run", default=None, help="variant / run name for foreach stages")
        p.add_argument("--shard-index", type=int, default=None, help="this process's shard (0-based)")
        p.add_argument("--num-shards", type=int, default=None, help="number of shards of the input")
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None and os.environ.get("ANIMATELAB_WARM"):
        from animatelab.warm_client import run_stage_warm

        code = run_stage_warm(sys.argv[1:])
        if code is not None:
            return code
    from animatelab.config import ParamsError, load_params

    args = build_parser().parse_args(argv)
    try:
        params = load_params(args.params or ["params.yaml"], args.overrides)
    except ParamsError as err:
        print(f"animatelab {args.stage}: invalid params: {err}", file=sys.stderr)
        return 2
    target = args.stage
    if target in RUN_ALIASES:
        from animatelab.runs import RunId

        target, kind = RUN_ALIASES[target]
        try:
            args.run = RunId.from_stage_item(kind, args.run).name  # type: ignore[arg-type]
        except ValueError as err:
            print(f"animatelab {args.stage}: {err}", file=sys.stderr)
            return 2
    tune_allocator()
    module = importlib.import_module(f"animatelab.stages.{target}")
    set_stage_threads(params, target)
    try:
        module.run(params, args)
    except ParamsError as err:
        print(f"animatelab {args.stage}: invalid params: {err}", file=sys.stderr)
        return 2
    finally:
        if argv is None:  # a stage process (not a caller such as the tests) about to exit
            fast_exit()
    return 0


def fast_exit() -> None:
    """Freeze every live object out of the garbage collector before the interpreter shuts down.

    With torch, diffusers and mlflow loaded, finalisation's full collections walk millions of
    objects: 2.2-2.8 s of a stage process's exit, 0.35 s when frozen (measured, loaded 2-core machine),
    and that time sits between two DVC stages. Shutdown is otherwise the normal one (atexit
    handlers, finalizers, flushed files); the frozen objects are simply never collected.
    """
    gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
