"""Params of the image ControlNet attached per frame to video models (RQ7)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from animatelab.schema.base import LoopParams, Strict


class TrainControlNetImageParams(Strict):
    """A diffusers ``ControlNetModel`` (``from_unet`` on the frozen base UNet) trained on the clean
    images (``synth_dir``: images.npz + images.csv) with their cv2.Canny edge maps as condition (3
    channels in [0, 1], as ``AnimateDiffControlNetPipeline`` hands a ControlNet its frames). Captions
    are dropped with ``loop.cfg_dropout`` (0.5: the ControlNet paper's share of empty prompts, so the
    edges alone must explain the image). ``conditioning_embedding_out_channels``: one entry per VAE
    level (the embedding downsamples pixels to latents), the first ones used."""

    out_dir: str = "models/controlnet_image"
    checkpoint_dir: str = "models/checkpoints/controlnet_image"
    synth_dir: str = "data/synth"
    max_images: int = Field(default=2000, gt=0)
    canny_thresholds: tuple[int, int] = (50, 150)  # the SparseCtrl sketches' (sparsectrl.model.sketches)
    conditioning_embedding_out_channels: list[int] = [16, 32, 64]
    encode_batch_size: int = Field(default=64, gt=0)
    loop: LoopParams = LoopParams(steps=500, batch_size=32, lr=3e-4, cfg_dropout=0.5)
    threads: int = Field(default=2, gt=0)


class ControlTarget(Strict):
    """A video model the image ControlNet is attached to, per frame, with no video training.

    ``animatediff``: ``AnimateDiffControlNetPipeline`` on the base + the motion module of
    ``motion_run``; baseline ``{sample.out_dir}/{motion_run}/scale_{adapter_scale}``.
    ``moonshot``: the MoonShot DDIM loop in mode ``moonshot_mode`` with the ControlNet's residuals
    added to the MVB UNet's down/mid blocks; baseline ``{sample_moonshot.out_dir}/{mode}/scale_{..}``."""

    model: Literal["animatediff", "moonshot"]
    motion_run: str = "with_adapter_s0"
    moonshot_mode: str = "text"


class SampleControlNetParams(Strict):
    """ControlNet-guided videos on the first ``num_videos`` of ``sample``'s held-out prompts with
    ``sample``'s frames, steps, guidance and seeds (video i: seed ``sample.seed + i``, the initial
    noise of the uncontrolled baseline's video i). The condition of video i: the Canny edges of every
    frame of its prompt's own held-out clip. ``{out_dir}/{target}/scale_{adapter_scale}/`` in the
    sample stage's layout, plus ``edges.npz`` and ``control.json``."""

    out_dir: str = "samples/controlnet"
    heldout_dir: str = "data/prepared/heldout"
    targets: dict[str, ControlTarget] = {"animatediff": ControlTarget(model="animatediff"),
                                         "moonshot": ControlTarget(model="moonshot")}
    num_videos: int = Field(default=32, gt=0)
    conditioning_scale: float = Field(default=1.0, ge=0)
    adapter_scale: float = Field(default=0.0, ge=0)  # the inference setting: domain adapter dropped
    threads: int = Field(default=2, gt=0)

    @model_validator(mode="after")
    def _names(self) -> "SampleControlNetParams":
        if not self.targets or any(not re.fullmatch(r"[A-Za-z0-9_]+", t) for t in self.targets):
            raise ValueError("targets: a non-empty dict of [A-Za-z0-9_]+ names")
        return self


class EvaluateControlNetParams(Strict):
    """Scores of ``sample_controlnet@{target}`` and of its uncontrolled baseline (same prompts and
    initial noise): every ``evaluate`` metric with ``evaluate``'s params, plus per-frame edge
    agreement (precision / recall / F1 of the generated frames' Canny edges against the condition
    edges, matched within ``edge_tolerance`` px), with bootstrap intervals and paired differences."""

    out_dir: str = "metrics/controlnet"
    samples_dir: str = "samples/controlnet"
    edge_tolerance: int = Field(default=1, ge=0)
    threads: int = Field(default=2, gt=0)
