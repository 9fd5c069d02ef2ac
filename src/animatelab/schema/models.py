"""Params of the frozen base and its pre-training (embedded default), and of LoRA / motion-module designs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from animatelab.schema.base import LoopParams, NoiseScheduleParams, Strict


# --------------------------------------------------------------------------- base model
class BaseModelParams(Strict):
    """Where the frozen text-to-image base lives: a diffusers pipeline folder (tiny or SD1.5)."""

    path: str
    # keys of the base folder's scheduler/ config the video models replace (``models.scheduler``):
    # {} on the embedded default's base; {beta_schedule: linear} on SD1.5 (AnimateDiff trains and samples on
    # linear betas)
    scheduler_overrides: dict[str, Any]


class PretrainBaseParams(Strict):
    """Tiny SD-format base trained on the clean synthetic images (embedded default only).

    Two phases through the shared loop: the VAE (MSE + tiny KL), then UNet + text encoder
    jointly on cached VAE latents. ``unet_attention_heads`` is passed as diffusers'
    ``attention_head_dim`` (which UNet2DConditionModel uses as the head *count*).
    """

    seed: int
    synth_dir: str  # images.npz + images.csv
    checkpoint_dir: str
    resolution: int = Field(ge=8)
    vae_block_out_channels: list[int]
    vae_norm_num_groups: int = Field(gt=0)
    latent_channels: int
    vae_kl_weight: float = Field(ge=0)
    # the VAE also trains on every frame of this many prepared train clips (0: clean images only)
    vae_video_clips: int = Field(ge=0)
    vae_video_dir: str
    vae: LoopParams
    text_hidden_size: int = Field(gt=0)
    text_layers: int = Field(gt=0)
    text_heads: int = Field(gt=0)
    text_max_length: int = Field(ge=4)
    unet_block_out_channels: list[int]
    unet_layers_per_block: int = Field(gt=0)
    unet_attention_heads: int = Field(gt=0)
    unet_norm_num_groups: int = Field(gt=0)
    unet: LoopParams
    # share of UNet steps whose caption carries a random motion phrase ("moving left", "growing", ...),
    # so that the image-only text encoder learns the phrase says nothing about appearance (0: plain only)
    motion_phrase_prob: float = Field(ge=0, le=1)
    noise: NoiseScheduleParams  # written to the base folder's scheduler/: every later stage reads it there
    # quality check of the saved base: DDIM samples for random captions, colour/shape read back
    quality_samples: int = Field(gt=0)  # sets the width of the reading's 95 % interval
    quality_steps: int = Field(gt=0)
    quality_guidance: float = Field(ge=1)
    threads: int = Field(gt=0)

    @model_validator(mode="after")
    def _widths(self) -> "PretrainBaseParams":
        for w in self.vae_block_out_channels:
            if w % self.vae_norm_num_groups:
                raise ValueError("vae_block_out_channels must be multiples of vae_norm_num_groups")
        for w in self.unet_block_out_channels:
            if w % self.unet_norm_num_groups or w % self.unet_attention_heads:
                raise ValueError("unet_block_out_channels must be multiples of unet_norm_num_groups and unet_attention_heads")
        if self.text_hidden_size % self.text_heads:
            raise ValueError("text_hidden_size must be a multiple of text_heads")
        return self


# --------------------------------------------------------------------------- train_adapter
class LoraParams(Strict):
    rank: int = Field(gt=0)
    alpha: float | None = Field(default=None, gt=0)  # None: alpha = rank (scale 1)
    dropout: float = Field(default=0.0, ge=0, lt=1)


# --------------------------------------------------------------------------- train_motion
class MotionModuleParams(Strict):
    """Design of the motion module (RQ4, RQ5 knobs); all four are implemented (``models/motion.py``).

    ``layers_per_block`` None: the base UNet's (diffusers requires them equal). ``use_mid_block``
    False is the v1/v3 layout. ``temporal: conv1d`` and ``text_cross_attention`` are not diffusers
    MotionAdapters: they are saved in our own layout and have no official-format export.
    """

    num_attention_heads: int = Field(default=4, gt=0)
    norm_num_groups: int = Field(default=32, gt=0)
    max_seq_length: int = Field(default=32, ge=2)
    layers_per_block: int | None = Field(default=None, gt=0)
    use_mid_block: bool = False
    zero_init_proj_out: bool = True
    temporal: Literal["attention", "conv1d"] = "attention"
    norm: Literal["per_frame", "whole_clip"] = "whole_clip"
    text_cross_attention: bool = False

    @model_validator(mode="after")
    def _check(self) -> "MotionModuleParams":
        if self.text_cross_attention and self.temporal != "attention":
            raise ValueError("text_cross_attention needs temporal: attention")
        return self
