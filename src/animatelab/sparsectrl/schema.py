"""Params of the SparseCtrl study (RQ6)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from animatelab.schema.base import LoopParams, Strict


# --------------------------------------------------------------------------- SparseCtrl (RQ6)
class SparseCtrlVariant(Strict):
    """One sparse-condition encoder: its modality and the RQ6 ablation switches.

    ``rgb``: VAE latents of the keyframes, one zero-initialised 3x3 conv embedding (diffusers'
    simplified embedding); ``sketch``: edge maps at pixel resolution, the small conv stack.
    ``mask`` False drops the mask channel; ``keep_noisy_latent`` feeds the encoder the noisy latent
    that the paper (and diffusers' ``forward``) replaces by zeros. ``sketch_source`` (sketch only):
    ``"frames"`` Canny of the prepared frames (on this world's checker backgrounds and watermark bars
    that is mostly texture, the object a hole in it), ``"ground_truth"`` Canny of the object alone,
    drawn from the synthetic world's ground truth: the outline a person would sketch. ``steps`` None
    trains ``train_sparsectrl.loop.steps``; a number trains this encoder that long (the sketch encoder
    converges later than the RGB one: params.yaml says by how much).
    """

    modality: Literal["rgb", "sketch"]
    sketch_source: Literal["frames", "ground_truth"] = "frames"
    mask: bool = True
    keep_noisy_latent: bool = False
    seed: int = 0
    steps: int | None = Field(default=None, gt=0)


class ConditionDraw(Strict):
    """Which frames a training clip conditions on: frame 0 only (image animation), first and last
    (interpolation), or a random subset of 1..``max_random`` frames; probabilities sum to 1."""

    first: float = Field(default=0.25, ge=0, le=1)
    first_last: float = Field(default=0.25, ge=0, le=1)
    random: float = Field(default=0.5, ge=0, le=1)
    max_random: int = Field(default=4, gt=0)

    @model_validator(mode="after")
    def _sums_to_one(self) -> "ConditionDraw":
        if abs(self.first + self.first_last + self.random - 1) > 1e-6:
            raise ValueError("first + first_last + random must be 1")
        return self


class TrainSparseCtrlParams(Strict):
    """SparseCtrl encoders on the frozen base + domain adapter (scale 1, if the motion run used it)
    + the motion module of ``motion_run``; one run per ``variants`` entry (``--run NAME``)."""

    out_dir: str = "models/sparsectrl"
    checkpoint_dir: str = "models/checkpoints/sparsectrl"
    dataset: str = "train"  # under encode.out_dir (latents, text) and prepare.out_dir (sketch pixels)
    motion_run: str = "with_adapter_s0"
    frames: int = Field(default=16, ge=2)
    variants: dict[str, SparseCtrlVariant] = {
        "rgb": SparseCtrlVariant(modality="rgb"),
        "sketch": SparseCtrlVariant(modality="sketch", sketch_source="ground_truth", steps=1200),
        "rgb_keep_latent": SparseCtrlVariant(modality="rgb", keep_noisy_latent=True),
        "rgb_no_mask": SparseCtrlVariant(modality="rgb", mask=False)}
    condition: ConditionDraw = ConditionDraw()
    canny_thresholds: tuple[int, int] = (50, 150)  # cv2.Canny of the sketches
    synth_dir: str = "data/synth"  # ground_truth.json: the outlines of sketch_source "ground_truth"
    motion_num_attention_heads: int = Field(default=4, gt=0)  # the encoder's temporal layers
    sketch_embedding_channels: list[int] = [16, 32, 64, 128]  # first (VAE levels) entries are used
    # the sketch embedding's hidden convs: "pytorch" (diffusers' default init) or "he" (Kaiming normal, zero
    # bias; sparsectrl.model.he_init_condition_embedding says why); its zero conv_out stays zero either way
    sketch_embedding_init: Literal["pytorch", "he"] = "he"
    loop: LoopParams = LoopParams(steps=600, batch_size=4, lr=5e-4)
    threads: int = Field(default=2, gt=0)

    @model_validator(mode="after")
    def _names(self) -> "TrainSparseCtrlParams":
        if not self.variants or any(not re.fullmatch(r"[A-Za-z0-9_]+", v) for v in self.variants):
            raise ValueError("variants: a non-empty dict of [A-Za-z0-9_]+ names")
        return self


class SampleSparseCtrlParams(Strict):
    """AnimateDiffSparseControlNetPipeline videos of one encoder on the held-out prompts, each
    conditioned on frames of its own held-out real clip at k evenly spaced indices (first and last
    included). Steps, guidance, frames and seeds are ``sample``'s, so video i shares its initial
    noise with ``samples/{motion_run}/scale_{adapter_scale}`` video i: the no-control baseline."""

    out_dir: str = "samples"
    heldout_dir: str = "data/prepared/heldout"  # the keyframes' clips, in held-out prompt order
    num_videos: int = Field(default=16, gt=0)  # the first N of sample's held-out prompts
    keyframes: list[int] = [2]
    keyframes_by_variant: dict[str, list[int]] = {"rgb": [1, 2, 4]}
    # the encoders train at 1; the embedded default samples at 2 (params.yaml says why); real scale: 1, official
    conditioning_scale: float = Field(default=2.0, ge=0)
    adapter_scale: float = Field(default=0.0, ge=0)  # the inference setting: domain adapter dropped
    threads: int = Field(default=2, gt=0)

    @model_validator(mode="after")
    def _counts(self) -> "SampleSparseCtrlParams":
        counts = [*self.keyframes, *(k for v in self.keyframes_by_variant.values() for k in v)]
        if not self.keyframes or min(counts) < 1:
            raise ValueError("keyframes: non-empty lists of counts >= 1")
        return self

    def keyframes_for(self, variant: str) -> list[int]:
        return sorted({*self.keyframes, *self.keyframes_by_variant.get(variant, [])})


class EvaluateSparseCtrlParams(Strict):
    """Control metrics at conditioned frames, propagation to the others, and the no-control baseline."""

    out_dir: str = "metrics"
    samples_dir: str = "samples"
    synth_dir: str = "data/synth"  # ground_truth.json (per-frame positions), watermark.npz
    heldout_dir: str = "data/prepared/heldout"
    bootstrap: int = Field(default=1000, gt=0)
    seed: int = 0
    threads: int = Field(default=2, gt=0)
