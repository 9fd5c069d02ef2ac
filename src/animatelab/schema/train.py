"""Params of the AnimateDiff trainers: domain adapter, motion modules, MotionLoRAs."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from animatelab.schema.base import LoopParams, ObjectiveParams, Strict
from animatelab.schema.models import LoraParams, MotionModuleParams


class TrainAdapterParams(Strict):
    """Domain-adapter LoRA on the base UNet's spatial layers, trained on single frames.

    ``targets``: which spatial layers carry it. ``attention`` (q/k/v/out of every ``attn1``/``attn2``)
    is the paper's adapter; ``resnet_conv`` adds the ResNet blocks' 3x3 ``conv1``/``conv2``, the layers
    that draw local pixel texture, to ask whether attention alone can hold a video domain's pixel-level
    defects."""

    out_dir: str
    dataset: str  # folder under encode.out_dir
    checkpoint_dir: str
    lora: LoraParams
    targets: list[Literal["attention", "resnet_conv"]]  # the paper: ["attention"]
    loop: LoopParams
    threads: int = Field(gt=0)

    @model_validator(mode="after")
    def _targets(self) -> "TrainAdapterParams":
        if not self.targets or len(set(self.targets)) != len(self.targets):
            raise ValueError(f"targets: a non-empty list without repeats, got {self.targets}")
        return self


class MotionRun(Strict):
    """One trained motion module: whether the domain adapter is on, a seed, a design.

    ``steps`` None trains ``train_motion.loop.steps``; 0 keeps the module as initialised (``proj_out`` zero,
    so the UNet draws each frame as the base image model does): RQ1's floor, what its metrics read on
    videos that learned nothing from the video data.
    ``objective``: how the loss draws timesteps and noise (``ObjectiveParams``; the default is the
    official trainer's, and leaves the run's fingerprint and outputs as they were).
    ``batch_size`` None trains ``train_motion.loop.batch_size`` clips a process and step; a number replaces it
    for this run (a budget lever beside ``steps``; None leaves the run's fingerprint as it was).
    """

    with_adapter: bool
    seed: int = 0
    module: MotionModuleParams = MotionModuleParams()
    steps: int | None = Field(default=None, ge=0)
    objective: ObjectiveParams = ObjectiveParams()
    batch_size: int | None = Field(default=None, gt=0)


class TrainMotionParams(Strict):
    """Motion modules on the frozen base (+ domain adapter merged at scale 1 when ``with_adapter``).

    Each run trains with ``loop`` but its own seed (``runs.{run}.seed`` replaces ``loop.seed``).
    """

    out_dir: str
    dataset: str  # folder under encode.out_dir
    checkpoint_dir: str
    frames: int = Field(ge=2)
    runs: dict[str, MotionRun]
    loop: LoopParams
    threads: int = Field(gt=0)  # torch threads per process
    # local DDP processes (parallel.launch_local); loop.batch_size is per process. Not under a launcher
    # that already started several (accelerate launch / torchrun), where each process is one rank.
    processes: int = Field(gt=0)
    # weights-only snapshots for the probes' dose-response along training: a count (that many evenly
    # spaced steps, the last included) or the steps themselves (each within 1..loop.steps)
    snapshots: int | list[int]

    @model_validator(mode="after")
    def _frames_fit(self) -> "TrainMotionParams":
        for name, run in self.runs.items():
            if self.frames > run.module.max_seq_length:
                raise ValueError(f"runs.{name}.module.max_seq_length must be >= frames ({self.frames})")
        if isinstance(self.snapshots, int):
            if self.snapshots < 0:
                raise ValueError("snapshots: a count must be >= 0")
        else:
            bad = [s for s in self.snapshots if not 1 <= s <= self.loop.steps]
            if bad or len(set(self.snapshots)) != len(self.snapshots):
                raise ValueError(f"snapshots: distinct steps within 1..loop.steps ({self.loop.steps}); got {self.snapshots}")
        return self


# --------------------------------------------------------------------------- train_motion_lora
class MotionLoraTraining(Strict):
    """What every MotionLoRA trainer shares: the frozen motion run, the LoRA and its loop."""

    motion_run: str = "with_adapter_s0"
    lora: LoraParams = LoraParams(rank=8)
    loop: LoopParams = LoopParams(steps=120, batch_size=4, lr=5e-4)
    threads: int = Field(default=2, gt=0)


class TrainMotionLoraParams(MotionLoraTraining):
    """MotionLoRA on the temporal attention of ``motion_run``, on the first N camera-motion clips.

    One run per N (``--run N``), written to ``{out_dir}/n{N}``; sampled as run ``lora_n{N}``.
    The domain adapter is merged at scale 1 when the motion run was trained with it.
    """

    out_dir: str = "models/motion_lora"
    dataset: str = "motion_lora"  # folder under encode.out_dir
    checkpoint_dir: str = "models/checkpoints/motion_lora"
    n_videos: list[int] = [5, 10, 20, 50]

    @model_validator(mode="after")
    def _unique(self) -> "TrainMotionLoraParams":
        if not self.n_videos or len(set(self.n_videos)) != len(self.n_videos) or min(self.n_videos) < 1:
            raise ValueError("n_videos must be a non-empty list of distinct positive counts")
        return self


class TrainDirectionLoraParams(MotionLoraTraining):
    """RQ5: one MotionLoRA per motion direction, on the first ``videos`` clips of ``dataset`` whose
    caption contains that direction's phrase; sampled as run ``dir_{name}`` with prompts asking
    for ``name``. The domain adapter is merged at scale 1 when the motion run was trained with it."""

    out_dir: str = "models/direction_lora"
    dataset: str = "train"  # folder under encode.out_dir
    checkpoint_dir: str = "models/checkpoints/direction_lora"
    directions: dict[str, str] = {"left": "moving left", "right": "moving right"}
    videos: int = Field(default=50, gt=0)

    @model_validator(mode="after")
    def _names(self) -> "TrainDirectionLoraParams":
        for name, phrase in self.directions.items():
            if not re.fullmatch(r"[A-Za-z0-9_]+", name) or not phrase.strip():
                raise ValueError(f"directions.{name}: names are [A-Za-z0-9_]+ and phrases non-empty")
        return self
