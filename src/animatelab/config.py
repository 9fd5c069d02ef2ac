"""Typed schema for ``params.yaml``: every stage reads its own group, validated before compute.

One pydantic model per DVC stage group. ``extra="forbid"`` everywhere so a misspelt key is an
error rather than a silently ignored setting. ``load_params`` turns any validation failure into
a one-line :class:`ParamsError` that names the offending key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PositiveInt = Field(gt=0)


class ParamsError(ValueError):
    """A params file that cannot be run: raised before any compute starts."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- shared pieces
class LoopParams(Strict):
    """Settings of the one training loop (``animatelab.train.loop``) shared by every trainer."""

    steps: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    lr: float = Field(gt=0)
    warmup_steps: int = Field(default=0, ge=0)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = Field(default=1e-2, ge=0)
    adam_eps: float = Field(default=1e-8, gt=0)
    grad_clip: float = Field(default=1.0, gt=0)
    cfg_dropout: float = Field(default=0.1, ge=0, le=1)
    checkpoint_every: int = Field(default=100, gt=0)
    log_every: int = Field(default=10, gt=0)
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    gradient_checkpointing: bool = False
    num_workers: int = Field(default=0, ge=0)
    seed: int = 0

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _yaml_no(cls, value: Any) -> Any:
        # `dvc exp run -S` rewrites params.yaml as YAML 1.2 (`no` unquoted), which PyYAML reads as False
        return "no" if value is False else value


class NoiseScheduleParams(Strict):
    """Training noise schedule of the official AnimateDiff code (linear betas, eps-prediction)."""

    num_train_timesteps: int = Field(default=1000, gt=0)
    beta_start: float = Field(default=0.00085, gt=0)
    beta_end: float = Field(default=0.012, gt=0)
    beta_schedule: Literal["linear", "scaled_linear"] = "linear"
    prediction_type: Literal["epsilon", "v_prediction"] = "epsilon"

    @model_validator(mode="after")
    def _ordered(self) -> "NoiseScheduleParams":
        if self.beta_end <= self.beta_start:
            raise ValueError("beta_end must be greater than beta_start")
        return self


# --------------------------------------------------------------------------- synth_data
class SynthDataParams(Strict):
    """The embedded synthetic world (DESIGN.md): clean images, WebVid-format videos, LoRA set.

    Speeds are px/frame (translation), diameter px/frame (grow/shrink) or crop-side px/frame
    (zoom); a clip whose speed would carry the object out of frame is shrunk, then slowed.
    """

    seed: int = 0
    out_dir: str = "data/synth"
    resolution: int = Field(default=32, ge=16)
    frames: int = Field(default=24, ge=2)
    fps: int = Field(default=8, gt=0)
    num_images: int = Field(default=6000, gt=0)
    num_train_videos: int = Field(default=600, gt=0)
    num_heldout_videos: int = Field(default=96, gt=0)
    num_motion_lora_videos: int = Field(default=50, gt=0)
    shapes: list[Literal["circle", "square", "triangle"]] = ["circle", "square", "triangle"]
    colours: list[Literal["red", "green", "blue", "yellow", "white"]] = ["red", "green", "blue", "yellow", "white"]
    backgrounds: list[Literal["black", "gray", "checker"]] = ["black", "gray", "checker"]
    motions: list[Literal["left", "right", "up", "down", "grow", "shrink", "static"]] = [
        "left", "right", "up", "down", "grow", "shrink", "static"
    ]
    motion_lora_motion: Literal["zoom_in"] = "zoom_in"
    speed_range: tuple[float, float] = (0.4, 0.8)
    object_size_range: tuple[float, float] = (0.22, 0.34)
    watermark_alpha: float = Field(default=0.35, ge=0, le=1)
    blur_sigma: float = Field(default=0.5, ge=0)
    crf: int = Field(default=28, ge=0, le=51)
    workers: int = Field(default=2, ge=1)

    @model_validator(mode="after")
    def _check(self) -> "SynthDataParams":
        if self.resolution % 2:
            raise ValueError("resolution must be even (h264 needs even frame sizes)")
        for name in ("speed_range", "object_size_range"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ValueError(f"{name} must satisfy 0 <= low <= high")
        if self.object_size_range[1] > 0.6:
            raise ValueError("object_size_range high must be <= 0.6 of the frame")
        for name in ("shapes", "colours", "backgrounds", "motions"):
            values = getattr(self, name)
            if not values or len(set(values)) != len(values):
                raise ValueError(f"{name} must be a non-empty list without repeats")
        return self


# --------------------------------------------------------------------------- prepare
class DatasetSpec(Strict):
    """One WebVid-format input: CSV plus the folder holding ``{videoid}.mp4`` or ``{page_dir}/{videoid}.mp4``."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    csv: str
    video_dir: str


class PrepareParams(Strict):
    """WebVid-format CSV + videos -> fixed-length clips in shards (decoded with decord).

    ``target_fps`` (optional) replaces ``stride`` by round(source_fps / target_fps) per video,
    so clips cover the same time span whatever the source frame rate.
    """

    datasets: list[DatasetSpec]
    out_dir: str = "data/prepared"
    frames: int = Field(default=16, ge=2)
    stride: int = Field(default=1, ge=1)
    target_fps: float | None = Field(default=None, gt=0)
    resolution: int = Field(default=32, ge=8)
    clip_start: Literal["first", "middle", "random"] = "first"
    bad_caption: Literal["skip", "keep"] = "skip"
    shard_size: int = Field(default=256, gt=0)
    workers: int = Field(default=2, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _unique_names(self) -> "PrepareParams":
        names = [d.name for d in self.datasets]
        if not names or len(set(names)) != len(names):
            raise ValueError("datasets must be non-empty with unique names")
        return self


# --------------------------------------------------------------------------- base model
class BaseModelParams(Strict):
    """Where the frozen text-to-image base lives: a diffusers pipeline folder (tiny or SD1.5)."""

    path: str = "models/base"


class PretrainBaseParams(Strict):
    """Tiny SD-format base trained on the clean synthetic images (embedded default only).

    Two phases through the shared loop: the VAE (MSE + tiny KL), then UNet + text encoder
    jointly on cached VAE latents. ``unet_attention_heads`` is passed as diffusers'
    ``attention_head_dim`` (which UNet2DConditionModel uses as the head *count*).
    """

    seed: int = 0
    synth_dir: str = "data/synth"  # images.npz + images.csv
    checkpoint_dir: str = "models/base_checkpoints"
    resolution: int = Field(default=32, ge=8)
    vae_block_out_channels: list[int] = [32, 64, 64]
    vae_norm_num_groups: int = Field(default=32, gt=0)
    latent_channels: int = 4
    vae_kl_weight: float = Field(default=1e-6, ge=0)
    vae: LoopParams = LoopParams(steps=500, batch_size=64, lr=1e-3, cfg_dropout=0.0, checkpoint_every=100)
    text_hidden_size: int = Field(default=64, gt=0)
    text_layers: int = Field(default=2, gt=0)
    text_heads: int = Field(default=2, gt=0)
    text_max_length: int = Field(default=16, ge=4)
    unet_block_out_channels: list[int] = [64, 128]
    unet_layers_per_block: int = Field(default=1, gt=0)
    unet_attention_heads: int = Field(default=4, gt=0)
    unet_norm_num_groups: int = Field(default=32, gt=0)
    unet: LoopParams = LoopParams(steps=950, batch_size=128, lr=5e-4, checkpoint_every=100)
    noise: NoiseScheduleParams = NoiseScheduleParams()
    # quality check of the saved base: DDIM samples for random captions, colour/shape read back
    quality_samples: int = Field(default=30, gt=0)
    quality_steps: int = Field(default=25, gt=0)
    quality_guidance: float = Field(default=5.0, ge=1)
    threads: int = Field(default=2, gt=0)

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


# --------------------------------------------------------------------------- encode
class EncodeParams(Strict):
    """VAE latents + text embeddings cached once per prepared dataset (no VAE/text encoder in training)."""

    in_dir: str = "data/prepared"
    datasets: list[str] = ["train", "heldout", "motion_lora"]
    out_dir: str = "data/encoded"
    batch_size: int = Field(default=64, gt=0)
    latent: Literal["mean", "sample"] = "mean"  # posterior mean, or a sample seeded by ``seed``
    seed: int = 0
    threads: int = Field(default=2, gt=0)


# --------------------------------------------------------------------------- train_adapter
class LoraParams(Strict):
    rank: int = Field(gt=0)
    alpha: float | None = Field(default=None, gt=0)  # None: alpha = rank (scale 1)
    dropout: float = Field(default=0.0, ge=0, lt=1)


class TrainAdapterParams(Strict):
    """Domain-adapter LoRA on the base UNet's spatial attention, trained on single frames."""

    out_dir: str = "models/domain_adapter"
    dataset: str = "train"  # folder under encode.out_dir
    checkpoint_dir: str = "models/checkpoints/domain_adapter"
    lora: LoraParams = LoraParams(rank=16)
    loop: LoopParams = LoopParams(steps=300, batch_size=64, lr=1e-3)
    noise: NoiseScheduleParams = NoiseScheduleParams()
    threads: int = Field(default=2, gt=0)


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


class MotionRun(Strict):
    """One trained motion module: whether the domain adapter is on, a seed, a design."""

    with_adapter: bool
    seed: int = 0
    module: MotionModuleParams = MotionModuleParams()


class TrainMotionParams(Strict):
    """Motion modules on the frozen base (+ domain adapter merged at scale 1 when ``with_adapter``).

    Each run trains with ``loop`` but its own seed (``runs.{run}.seed`` replaces ``loop.seed``).
    """

    out_dir: str = "models/motion"
    dataset: str = "train"  # folder under encode.out_dir
    checkpoint_dir: str = "models/checkpoints/motion"
    frames: int = Field(default=16, ge=2)
    runs: dict[str, MotionRun]
    loop: LoopParams = LoopParams(steps=600, batch_size=4, lr=1e-4)
    noise: NoiseScheduleParams = NoiseScheduleParams()
    threads: int = Field(default=2, gt=0)

    @model_validator(mode="after")
    def _frames_fit(self) -> "TrainMotionParams":
        for name, run in self.runs.items():
            if self.frames > run.module.max_seq_length:
                raise ValueError(f"runs.{name}.module.max_seq_length must be >= frames ({self.frames})")
        return self


# --------------------------------------------------------------------------- train_motion_lora
class MotionLoraTraining(Strict):
    """What every MotionLoRA trainer shares: the frozen motion run, the LoRA and its loop."""

    motion_run: str = "with_adapter_s0"
    lora: LoraParams = LoraParams(rank=8)
    loop: LoopParams = LoopParams(steps=200, batch_size=4, lr=1e-4)
    noise: NoiseScheduleParams = NoiseScheduleParams()
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


# --------------------------------------------------------------------------- sample
class SampleParams(Strict):
    """AnimateDiffPipeline samples of one run at each domain-adapter scale.

    ``--run`` is a ``train_motion`` run, or ``lora_n{N}`` for the MotionLoRA trained on N videos
    (on ``train_motion_lora.motion_run``), applied at ``lora_scale``. Prompts are the held-out
    captions in ``heldout_dir`` order (cycled to ``num_videos``); video i uses seed ``seed + i``.
    """

    out_dir: str = "samples"
    heldout_dir: str = "data/prepared/heldout"  # shard-*.jsonl captions
    ground_truth: str = "data/synth/ground_truth.json"  # shape/colour/background/motion per videoid
    num_videos: int = Field(default=32, gt=0)
    frames: int = Field(default=16, ge=2)
    num_inference_steps: int = Field(default=25, gt=0)
    guidance_scale: float = Field(default=7.5, ge=1)
    adapter_scales: list[float] = [0.0]
    # RQ2: extra scales for a few runs only (a sweep on every run would multiply sampling time)
    adapter_scales_by_run: dict[str, list[float]] = {}
    lora_scale: float = Field(default=1.0, ge=0)
    # RQ3: a MotionLoRA run's prompts ask for its motion ("..., camera zooming in"), so
    # gt_direction_acc of lora_n{N} reads "fraction of videos that show the LoRA's motion"
    lora_motion: str = "zoom_in"
    timestep_spacing: Literal["leading", "trailing", "linspace"] = "leading"
    batch_size: int = Field(default=16, gt=0)  # prompts per pipeline call
    fps: int = Field(default=8, gt=0)
    log_videos: int = Field(default=4, ge=0)  # mp4/gif logged to MLflow per scale
    seed: int = 0
    threads: int = Field(default=2, gt=0)

    @model_validator(mode="after")
    def _scales(self) -> "SampleParams":
        named = {"adapter_scales": self.adapter_scales,
                 **{f"adapter_scales_by_run.{r}": v for r, v in self.adapter_scales_by_run.items()}}
        for key, scales in named.items():
            if not scales or min(scales) < 0:
                raise ValueError(f"{key}: adapter scales must be a non-empty list of values >= 0")
        return self

    def scales_for(self, run: str) -> list[float]:
        """``adapter_scales`` plus any extra scales listed for ``run``, sorted, without repeats."""
        return sorted({float(x) for x in [*self.adapter_scales, *self.adapter_scales_by_run.get(run, [])]})


# --------------------------------------------------------------------------- evaluation
class TrainEvalModelsParams(Strict):
    """Stand-in evaluation networks of the embedded default (real runs skip this stage)."""

    out_dir: str = "models/eval"
    seed: int = 0
    synth_dir: str = "data/synth"  # ground_truth.json, images.npz + images.csv
    train_dir: str = "data/prepared/train"
    heldout_dir: str = "data/prepared/heldout"
    video_net: LoopParams = LoopParams(steps=300, batch_size=32, lr=3e-3, warmup_steps=20)
    video_net_channels: list[int] = [16, 32, 64]
    # small on purpose: FVD needs more videos than feature dimensions (32 videos per run here)
    video_net_feature_dim: int = Field(default=16, gt=0)
    clip: LoopParams = LoopParams(steps=400, batch_size=64, lr=2e-3, warmup_steps=20)
    clip_embed_dim: int = Field(default=64, gt=0)
    clip_width: int = Field(default=64, gt=0)
    clip_layers: int = Field(default=2, gt=0)
    clip_patch_size: int = Field(default=4, gt=0)
    clip_context_length: int = Field(default=24, ge=8)  # longest synthetic caption: 17 tokens
    threads: int = Field(default=2, gt=0)

    @model_validator(mode="after")
    def _widths(self) -> "TrainEvalModelsParams":
        if self.clip_width % 64 or self.clip_embed_dim % 64:
            raise ValueError("clip_width and clip_embed_dim must be multiples of 64 (clip.load uses width // 64 heads)")
        return self


class EvaluateParams(Strict):
    """Scores of one run's samples; every path is local (real runs: I3D and CLIP weight files)."""

    out_dir: str = "metrics"
    samples_dir: str = "samples"
    video_net: str = "models/eval/video_net.safetensors"
    clip: str = "models/eval/clip.pt"
    clip_name: str = "synth"  # goes into the metric keys: clip_{name}_text, ...
    fvd_backbone: Literal["synthetic", "i3d"] = "synthetic"
    i3d_path: str = ""  # StyleGAN-V i3d_torchscript.pt, when fvd_backbone is i3d
    fvd_frames: int = Field(default=16, ge=2)  # I3D protocol frame count
    real_dir: str = "data/prepared/train"  # FVD reference
    heldout_dir: str = "data/prepared/heldout"  # real-vs-real floor, ground-truth reference
    max_real_videos: int = Field(default=256, gt=1)
    domain_images_per_prompt: int = Field(default=16, gt=0)  # clean images per (shape, colour, background)
    synthetic_ground_truth: bool = True  # tracking / watermark metrics need the synthetic world
    gt_reference_videos: int = Field(default=128, gt=1)  # real clips that calibrate the tracker readouts
    synth_dir: str = "data/synth"  # ground_truth.json, watermark.npz, images.npz + images.csv
    still_threshold: float = Field(default=0.2, gt=0)  # px/frame below which a clip is static
    bootstrap: int = Field(default=1000, gt=0)
    batch_size: int = Field(default=16, gt=0)
    threads: int = Field(default=2, gt=0)
    seed: int = 0


class ProbeParams(Strict):
    """RQ1 "why" probes on the motion runs (``animatelab.probes``), on real encoded clips.

    Model and data paths come from ``base``, ``encode``, ``train_adapter`` and ``train_motion``.
    ``adapter_scale`` 0 probes the inference setting (domain adapter dropped).
    """

    out_dir: str = "metrics/probes"
    seed: int = 0
    runs: list[str] | None = None  # default: every train_motion run
    probes: list[Literal["spectrum", "static_input", "loss_split"]] = ["spectrum", "static_input", "loss_split"]
    dataset: str = "heldout"  # data/encoded/{dataset}
    checkpoints_dir: str = "models/checkpoints/motion"  # {run}/.../config.json: loss over training
    num_clips: int = Field(default=32, gt=0)
    frames: int | None = Field(default=None, ge=2)  # default: train_motion.frames
    timesteps: list[int] = [100, 400, 700]
    adapter_scale: float = Field(default=0.0, ge=0)
    batch_size: int = Field(default=8, gt=0)
    bootstrap: int = Field(default=1000, gt=0)
    threads: int = Field(default=2, gt=0)


class FiguresParams(Strict):
    """Paper figures and tables drawn from metrics files only (``animatelab.figures``)."""

    figures_dir: str = "reports/figures"
    tables_dir: str = "reports/tables"
    readme: str = "reports/README.md"
    # the RQ1 headline is also written between FINDINGS markers of this file ("" = leave it alone)
    project_readme: str = "README.md"
    metrics_dir: str = "metrics"
    probes_dir: str = "metrics/probes"
    samples_dir: str = "samples"
    rq1_variants: list[str] = ["with_adapter", "no_adapter"]
    rq1_metrics: list[str] = [
        "watermark_leakage", "fvd_synth", "clip_synth_text", "gt_moving_frac", "gt_direction_acc",
    ]
    rq1_scale: float = 0.0  # the inference setting: adapter dropped
    rq2_run: str = "with_adapter_s0"
    rq2_metrics: tuple[str, str] = ("fvd_synth", "clip_synth_text")  # visual quality, text alignment
    rq3_metrics: list[str] = ["gt_direction_acc", "fvd_synth"]
    rq4_runs: list[str] = ["with_adapter_s0", "conv1d_s0", "random_proj_out_s0", "per_frame_norm_s0"]
    rq4_metrics: list[str] = ["watermark_leakage", "fvd_synth", "gt_moving_frac", "gt_speed_w1"]
    rq5_runs: list[str] = ["with_adapter_s0", "text_xattn_s0", "dir_left", "dir_right"]
    rq5_metrics: list[str] = ["gt_direction_acc", "watermark_leakage", "gt_moving_frac"]
    table_metrics: list[str] = [
        "fvd_synth", "clip_synth_text", "watermark_leakage", "gt_moving_frac", "gt_direction_acc", "gt_appearance_acc",
    ]
    grid_runs: list[str] = ["with_adapter_s0", "no_adapter_s0"]
    grid_videos: int = Field(default=3, gt=0)
    grid_frames: int = Field(default=4, gt=0)
    column_width: float = Field(default=3.3, gt=0)  # inches
    dpi: int = Field(default=300, gt=0)


# --------------------------------------------------------------------------- the whole file
class Params(Strict):
    synth_data: SynthDataParams = SynthDataParams()
    prepare: PrepareParams
    base: BaseModelParams = BaseModelParams()
    pretrain_base: PretrainBaseParams = PretrainBaseParams()
    encode: EncodeParams = EncodeParams()
    train_adapter: TrainAdapterParams = TrainAdapterParams()
    train_motion: TrainMotionParams
    train_motion_lora: TrainMotionLoraParams = TrainMotionLoraParams()
    train_direction_lora: TrainDirectionLoraParams = TrainDirectionLoraParams()
    sample: SampleParams = SampleParams()
    train_eval_models: TrainEvalModelsParams = TrainEvalModelsParams()
    evaluate: EvaluateParams = EvaluateParams()
    probe: ProbeParams = ProbeParams()
    figures: FiguresParams = FiguresParams()

    @model_validator(mode="after")
    def _check_run_names(self) -> "Params":
        # a misspelt probe run would only show up as "missing" after the probes ran
        unknown = [r for r in self.probe.runs or [] if r not in self.train_motion.runs]
        if unknown:
            raise ValueError(f"probe.runs: {unknown} are not train_motion runs ({', '.join(self.train_motion.runs)})")
        return self


def _format_error(source: str, err: ValidationError) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "<root>"
    got = first.get("input")
    shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
    more = f" [+{err.error_count() - 1} more]" if err.error_count() > 1 else ""
    msg = first["msg"].removeprefix("Value error, ")
    return f"{source}: {key}: {msg}{shown}{more}"


def _apply_override(data: dict[str, Any], assignment: str) -> None:
    """``a.b.c=value`` with ``value`` parsed as YAML, like ``dvc exp run -S``."""
    if "=" not in assignment:
        raise ParamsError(f"override {assignment!r}: expected key=value")
    key, raw = assignment.split("=", 1)
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ParamsError(f"override {assignment!r}: {part} is not a group")
    node[parts[-1]] = yaml.safe_load(raw)


def parse_params(data: dict[str, Any], source: str = "params") -> Params:
    try:
        return Params.model_validate(data)
    except ValidationError as err:
        raise ParamsError(_format_error(source, err)) from None


def load_params(path: str | Path = "params.yaml", overrides: list[str] | None = None) -> Params:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: top level must be a mapping of stage groups")
    for assignment in overrides or []:
        _apply_override(data, assignment)
    return parse_params(data, str(path))


# --------------------------------------------------------------------------- input paths
def required_paths(params: Params, stage: str) -> dict[str, str]:
    """Param key -> local path that ``stage`` reads and that no earlier stage of it writes.

    These are the external inputs (videos, CSVs, base model, evaluation weights); real runs
    point them at local folders, so a typo must fail before any compute, naming the key.
    """
    paths: dict[str, str] = {}
    if stage == "prepare":
        for i, ds in enumerate(params.prepare.datasets):
            paths[f"prepare.datasets.{i}.csv"] = ds.csv
            paths[f"prepare.datasets.{i}.video_dir"] = ds.video_dir
    if stage in {"encode", "train_adapter", "train_motion", "train_motion_lora", "train_direction_lora", "sample", "probe"}:
        paths["base.path"] = params.base.path
    if stage == "evaluate":
        ev = params.evaluate
        net = "i3d_path" if ev.fvd_backbone == "i3d" else "video_net"
        paths[f"evaluate.{net}"] = getattr(ev, net)
        paths["evaluate.clip"] = ev.clip
    return paths


def check_paths(params: Params, stage: str) -> None:
    """Raise :class:`ParamsError` naming the first missing input path of ``stage``."""
    for key, value in required_paths(params, stage).items():
        if not Path(value).exists():
            raise ParamsError(f"{key}: path not found: {value} (needed by {stage}; cwd {Path.cwd()})")
