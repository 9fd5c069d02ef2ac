"""Params of sampling, the stand-in evaluation networks, evaluation, probes and figures."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from animatelab.schema.base import LoopParams, Strict


# --------------------------------------------------------------------------- sample
class FreeInitParams(Strict):
    """FreeInit (arXiv 2312.07537) as diffusers' ``AnimateDiffPipeline.enable_free_init`` applies it:
    after each of ``num_iters`` denoising passes (the first included) the result is re-noised to the last
    training timestep and its low spatio-temporal frequencies (a ``method`` low-pass filter with
    normalised stop frequencies ``spatial_stop_frequency`` / ``temporal_stop_frequency``) kept under fresh
    high-frequency noise; ``num_iters`` times the sampling cost (``use_fast_sampling``: fewer steps on
    the early passes)."""

    num_iters: int = Field(default=3, ge=1)
    use_fast_sampling: bool = False
    method: Literal["butterworth", "gaussian", "ideal"] = "butterworth"
    order: int = Field(default=4, gt=0)  # butterworth only
    spatial_stop_frequency: float = Field(default=0.25, gt=0, le=1)
    temporal_stop_frequency: float = Field(default=0.25, gt=0, le=1)


class SampleParams(Strict):
    """AnimateDiffPipeline samples of one run at each domain-adapter scale.

    ``--run`` is a ``train_motion`` run, or ``lora_n{N}`` for the MotionLoRA trained on N videos
    (on ``train_motion_lora.motion_run``), applied at ``lora_scale``. Prompts are the held-out
    captions in ``heldout_dir`` order (cycled to ``num_videos``); video i uses seed ``seed + i``.
    """

    out_dir: str
    heldout_dir: str  # shard-*.jsonl captions
    ground_truth: str  # shape/colour/background/motion per videoid
    num_videos: int = Field(gt=0)
    frames: int = Field(ge=2)
    num_inference_steps: int = Field(gt=0)
    guidance_scale: float = Field(ge=1)
    adapter_scales: list[float]
    # RQ2: extra scales for a few runs only (a sweep on every run would multiply sampling time)
    adapter_scales_by_run: dict[str, list[float]]
    lora_scale: float = Field(ge=0)
    # RQ3: a MotionLoRA run's prompts ask for its motion ("..., camera zooming in"), so
    # gt_direction_acc of lora_n{N} reads "fraction of videos that show the LoRA's motion"
    lora_motion: str
    timestep_spacing: Literal["leading", "trailing", "linspace"]
    sampler: Literal["ddim", "dpmpp_2m"]  # the video pipelines' scheduler (models/scheduler.py)
    # the initial latents of each video (seed + i): independent per frame (diffusers' own draw), the
    # mixed prior of ``objective.noise_prior: mixed`` (ObjectiveParams: the same formula) at noise_alpha,
    # or ``run``: the sampled run's own training prior and alpha (a MotionLoRA's: its motion run's)
    noise_prior: Literal["independent", "mixed", "run"]
    noise_alpha: float = Field(gt=0)
    free_init: FreeInitParams | None  # FreeInit on the AnimateDiff pipeline; None: off
    batch_size: int = Field(gt=0)  # prompts per pipeline call
    fps: int = Field(gt=0)
    log_videos: int = Field(ge=0)  # mp4/gif logged to MLflow per scale
    seed: int
    threads: int = Field(gt=0)

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

    out_dir: str
    checkpoint_dir: str  # {video_net,clip,domain_net}/: resumable (train.loop.fit)
    seed: int
    synth_dir: str  # ground_truth.json, images.npz + images.csv
    train_dir: str
    heldout_dir: str
    video_net: LoopParams
    video_net_channels: list[int]
    # small on purpose: FVD needs more videos than feature dimensions (sample.num_videos per run)
    video_net_feature_dim: int = Field(gt=0)
    clip: LoopParams
    clip_embed_dim: int = Field(gt=0)
    clip_width: int = Field(gt=0)
    clip_layers: int = Field(gt=0)
    clip_patch_size: int = Field(gt=0)
    clip_context_length: int = Field(ge=8)  # longest synthetic caption: 17 tokens
    # domain classifier (clean images 0 vs real video frames 1): its held-out accuracy goes to report.json
    domain_net: LoopParams  # batch: (image, frame) pairs
    domain_net_channels: list[int]
    domain_heldout_frac: float = Field(gt=0, lt=1)  # last fraction of images.npz held out
    domain_vae_mix: bool  # also train on VAE reconstructions of both classes (samples are decoded)
    # from the base's VAE (base.path): the watermark's latent signature and the pixel leakage ceiling
    latent_signature_clips: int = Field(gt=0)  # synthetic train clips, with and without watermark
    latent_shrinkage: float = Field(ge=0, le=1)  # 1: plain projection on the signature
    vae_ceiling_clips: int = Field(gt=0)  # real train clips reconstructed by the VAE
    threads: int = Field(gt=0)

    @model_validator(mode="after")
    def _widths(self) -> "TrainEvalModelsParams":
        if self.clip_width % 64 or self.clip_embed_dim % 64:
            raise ValueError("clip_width and clip_embed_dim must be multiples of 64 (clip.load uses width // 64 heads)")
        return self


class EvaluateParams(Strict):
    """Scores of one run's samples; every path is local (real runs: I3D and CLIP weight files)."""

    out_dir: str
    samples_dir: str
    video_net: str
    clip: str
    clip_name: str  # goes into the metric keys: clip_{name}_text, ...
    fvd_backbone: Literal["synthetic", "i3d", "videomae"]
    i3d_path: str  # StyleGAN-V i3d_torchscript.pt, when fvd_backbone is i3d
    videomae_path: str  # VideoMAEModel save_pretrained folder, when fvd_backbone is videomae
    fvd_frames: int = Field(ge=2)  # I3D protocol frame count
    real_dir: str  # FVD reference
    heldout_dir: str  # real-vs-real floor, ground-truth reference
    max_real_videos: int = Field(gt=1)
    domain_images_per_prompt: int = Field(gt=0)  # clean images per (shape, colour, background)
    synthetic_ground_truth: bool  # tracking / watermark metrics need the synthetic world
    gt_reference_videos: int = Field(gt=1)  # real clips that calibrate the tracker readouts
    synth_dir: str  # ground_truth.json, watermark.npz, images.npz + images.csv
    still_threshold: float = Field(gt=0)  # px/frame below which a clip is static
    watermark_max_shift: int = Field(ge=0)  # px of horizontal template shift searched; 0: exact place
    # written by train_eval_models ("" skips): domain classifier, latent signature, VAE reconstructions
    domain_classifier: str
    latent_signature: str
    vae_reconstructions: str
    real_latents: str  # encode cache: normaliser of watermark_leakage_latent
    heldout_latents: str  # encode cache: the real_heldout row's latents
    bootstrap: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    threads: int = Field(gt=0)
    seed: int


class ProbeParams(Strict):
    """RQ1 "why" probes on the motion runs (``animatelab.probes``), on real encoded clips.

    Model and data paths come from ``base``, ``encode``, ``train_adapter`` and ``train_motion``.
    ``adapter_scale`` 0 probes the inference setting (domain adapter dropped).
    """

    out_dir: str
    seed: int
    runs: list[str] | None  # None: all
    probes: list[Literal["spectrum", "static_input", "loss_split"]]
    dataset: str  # data/encoded/{dataset}
    # RQ1 dose-response along training, on each run's snapshots (train_motion.snapshots): the loss split
    # and a one-step x0 watermark-leakage proxy on clean held-out clips, noised to this timestep
    proxy_timestep: int = Field(ge=0)
    proxy_clips: int = Field(gt=0)
    # the loss split along training at these snapshot steps (None: every snapshot)
    loss_split_steps: list[int] | None
    # the domain signal the module receives (probes/domain_signal): on this many held-out clips, the motion
    # parameters' gradient of the training loss on each degraded clip vs its clean twin (same noise and
    # timestep), at the run's training condition, at these snapshot steps (None: every snapshot)
    domain_grad_clips: int = Field(gt=0)
    domain_grad_steps: list[int] | None
    num_clips: int = Field(gt=0)
    frames: int | None = Field(ge=2)  # None: train_motion.frames
    timesteps: list[int]
    adapter_scale: float = Field(ge=0)
    batch_size: int = Field(gt=0)
    bootstrap: int = Field(gt=0)
    threads: int = Field(gt=0)  # torch threads per process
    processes: int = Field(gt=0)  # local processes, each probing its share of the runs


class SummaryEntry(Strict):
    """One headline number of ``dvc metrics show``: a key's mean inside a metrics file, or an RQ1 arm's
    mean over its seeds' files (``figures.metrics_dir``) at an adapter scale."""

    name: str  # its short name, a column of `dvc metrics show`
    file: str | None = None  # e.g. metrics/sparsectrl_rgb.json
    key: str | None = None  # path inside it, e.g. control_minus_baseline_k2/pos_err_cond
    arm: str | None = None  # e.g. with_adapter: the runs with_adapter_s0, _s1, ...
    metric: str | None = None
    scale: float = 0.0

    @model_validator(mode="after")
    def _one_source(self) -> "SummaryEntry":
        if (self.file is None) == (self.arm is None) or (self.file and not self.key) or (self.arm and not self.metric):
            raise ValueError("give either file + key or arm + metric")
        return self


FigureSection = Literal["base", "rq1", "rq2", "probes", "grid", "rq3", "rq4", "rq5", "rq6", "rq7", "rq8"]


class LeverSpec(Strict):
    """One RQ8 lever: its runs (one per seed), where their metrics files are (None: ``figures.metrics_dir``),
    the loss-split file of their probe (None: not probed, e.g. a sampling-only lever) and how many
    denoising passes its sampler makes per video (FreeInit: its ``num_iters``) and with how many steps."""

    name: str
    runs: list[str] = Field(min_length=1)
    metrics_dir: str | None = None
    loss_split: str | None = None
    sampling_passes: int = Field(default=1, gt=0)
    sampling_steps: int | None = Field(default=None, gt=0)  # DDIM steps it samples with (the sampling curve's x)
    # its training compute, steps x clips a step, as a multiple of the core recipe's (the training curve's x)
    train_cost: float | None = Field(default=None, gt=0)
    reference: bool = False  # not a lever but a bound to read the levers against (drawn grey, never "meets" a goal)


class FiguresParams(Strict):
    """Paper figures and tables drawn from metrics files only (``animatelab.figures``)."""

    figures_dir: str
    tables_dir: str
    readme: str
    # the headline blocks (RQ1 and RQ7, when drawn) that `make repro` splices into README.md; None: none written
    findings: str | None
    # what this pipeline draws: the core draws the base, RQ1, RQ2, the probes and the sample grid; each study
    # pipeline (experiments/<study>/params.yaml) draws its own questions into its own reports folder
    sections: list[FigureSection]
    # the pipeline's headline numbers, one short name each: a small JSON that `dvc metrics show` prints on one
    # screen (the per-run metrics files hold everything); None: not written
    summary_file: str | None
    # a list, so a study's file replaces the core's entries (lists are replaced when params files are merged)
    summary: list[SummaryEntry]
    metrics_dir: str
    probes_dir: str
    samples_dir: str
    base_quality: str  # pretrain_base's reader of the base's samples
    eval_report: str  # train_eval_models' report: per-defect classifier and leakages
    rq1_variants: list[str]
    rq1_metrics: list[str]
    rq1_scale: float  # the adapter scale RQ1 reads (0: the inference setting, adapter dropped)
    # the train_motion run kept at initialisation: each RQ1 metric's floor (None: not drawn)
    rq1_floor_run: str | None
    # defect measures also read above that floor (each arm minus the base's own level)
    rq1_above_floor: list[str]
    rq2_run: str
    # the domain's defects and the video quality against the adapter scale at inference (0 = dropped); fvd_synth's
    # reference clips are the watermarked training videos, so it rewards the watermark the adapter carries
    rq2_metrics: list[str]
    rq3_metrics: list[str]
    rq4_runs: list[str]
    rq4_metrics: list[str]
    rq5_runs: list[str]
    rq6_variants: list[str]  # train_sparsectrl.variants
    rq6_strip_variant: str
    rq6_strip_keyframes: int = Field(gt=0)
    rq6_baseline_run: str  # train_sparsectrl.motion_run: its samples are the no-control baseline
    rq5_metrics: list[str]
    # RQ7 MoonShot vs AnimateDiff's RQ1 arms at rq1_scale: evaluate_moonshot.out_dir, sample_moonshot.modes,
    # the metrics both share, and MoonShot's own (first-frame fidelity with its VAE ceiling, identity)
    rq7_metrics_dir: str
    rq7_controlnet_dir: str  # evaluate_controlnet.out_dir: the edge-F1 gain per target
    rq7_modes: list[str]
    rq7_metrics: list[str]
    rq7_fidelity_metrics: list[str]
    table_metrics: list[str]
    # RQ8: each lever's runs against the goals of figures/levers.py (motion_dir: their train_summary.json)
    rq8_levers: list[LeverSpec]
    rq8_metrics: list[str]
    rq8_motion_dir: str
    # metric against compute: levers (by name) in order of cost, on the training curve (x: their train_cost)
    # and the sampling curve (x: UNet passes x steps per video)
    rq8_curves: dict[Literal["training", "sampling"], list[str]]
    grid_runs: list[str]
    grid_videos: int = Field(gt=0)
    grid_frames: int = Field(gt=0)
    column_width: float = Field(gt=0)  # inches
    dpi: int = Field(gt=0)
