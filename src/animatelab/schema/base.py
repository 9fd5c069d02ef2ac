"""Shared pieces of every params group: strict models, the training loop, the noise schedule."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
    # parameters whose name contains KEY train at lr x VALUE (e.g. {"conv_in.": 10}: new zero-initialised
    # input channels next to a pretrained trunk); the first matching key wins; {}: one lr for all
    lr_multipliers: dict[str, float] = Field(default_factory=dict)
    warmup_steps: int = Field(default=0, ge=0)
    lr_schedule: Literal["constant", "cosine"] = "constant"  # after warm-up
    min_lr_ratio: float = Field(default=0.0, ge=0, le=1)  # cosine: final lr / lr
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

    def for_run(self, seed: int, steps: int | None = None, batch_size: int | None = None) -> "LoopParams":
        """This loop with a run's own seed and, where the run sets them, its own steps and batch size
        (None: the group's)."""
        own = {"steps": steps, "batch_size": batch_size}
        return self.model_copy(update={"seed": seed} | {k: v for k, v in own.items() if v is not None})


NoisePrior = Literal["independent", "mixed"]


class ObjectiveParams(Strict):
    """How a video diffusion loss draws its timesteps and noise (``train.diffusion``).

    ``timestep_sampling``: ``uniform`` over the training timesteps (the official trainer), or
    ``high_noise``: ``t = min(T − 1, floor(T·(1 − u^k)))`` with u uniform in [0, 1) and ``timestep_bias``
    k >= 1 (k = 1 is uniform; mean t ≈ T·k/(k+1): 2/3 of T at k = 2), weighting the noisy steps where a
    video's layout, and so its motion, is decided.
    ``noise_prior``: ``independent`` noise per frame (the official trainer), or PYoCo's ``mixed`` prior
    ``eps_f = sqrt(a/(1+a))·shared + sqrt(1/(1+a))·independent_f`` with ``noise_alpha`` a: unit variance
    per element, correlation a/(1+a) between any two frames of a video (a = 1: 0.5)."""

    timestep_sampling: Literal["uniform", "high_noise"] = "uniform"
    timestep_bias: float = Field(default=2.0, ge=1)
    noise_prior: NoisePrior = "independent"
    noise_alpha: float = Field(default=1.0, gt=0)

    def is_default(self) -> bool:
        """Whether this is the official objective (uniform timesteps, independent noise)."""
        return self == ObjectiveParams()


class NoiseScheduleParams(Strict):
    """A diffusion noise schedule (``pretrain_base.noise``; params.yaml holds the official AnimateDiff one:
    linear betas, eps-prediction)."""

    num_train_timesteps: int = Field(gt=0)
    beta_start: float = Field(gt=0)
    beta_end: float = Field(gt=0)
    beta_schedule: Literal["linear", "scaled_linear"]
    prediction_type: Literal["epsilon", "v_prediction"]

    @model_validator(mode="after")
    def _ordered(self) -> "NoiseScheduleParams":
        if self.beta_end <= self.beta_start:
            raise ValueError("beta_end must be greater than beta_start")
        return self
