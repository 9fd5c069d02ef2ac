"""Params of the MoonShot study (RQ7)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from animatelab.schema.base import LoopParams, Strict
from animatelab.schema.models import MotionModuleParams


# --------------------------------------------------------------------------- MoonShot
class TrainMoonShotImageParams(Strict):
    """MoonShot stage 1: the decoupled cross-attention's image K/V + image projection on the clean
    images (``synth_dir``: images.npz + images.csv), base frozen. Image embeddings: the image tower
    of the clip-anytorch CLIP at ``image_encoder`` (the embedded default's evaluation CLIP)."""

    out_dir: str = "models/moonshot/image"
    checkpoint_dir: str = "models/checkpoints/moonshot_image"
    synth_dir: str = "data/synth"
    image_encoder: str = "models/eval/clip.pt"
    max_images: int = Field(default=2000, gt=0)
    num_image_tokens: int = Field(default=4, gt=0)  # IP-Adapter's ImageProjection tokens
    image_scale: float = Field(default=1.0, ge=0)  # weight of the image branch in every cross-attention
    image_dropout: float = Field(default=0.05, ge=0, le=1)  # zero image embedding (guidance)
    encode_batch_size: int = Field(default=64, gt=0)
    loop: LoopParams = LoopParams(steps=300, batch_size=32, lr=1e-4)
    threads: int = Field(default=2, gt=0)


class TrainMoonShotVideoParams(Strict):
    """MoonShot stage 2: temporal attention + the widened 9-channel conv_in on the encoded clips,
    caption as text, frame 0 as image condition (and, for ``animate_p`` of the clips, as the masked
    first-frame input); spatial weights frozen, domain adapter merged at scale 1 when ``with_adapter``."""

    out_dir: str = "models/moonshot/video"
    checkpoint_dir: str = "models/checkpoints/moonshot_video"
    dataset: str = "train"  # under encode.out_dir (latents, text) and prepare.out_dir (frame 0 pixels)
    frames: int = Field(default=16, ge=2)
    with_adapter: bool = True
    module: MotionModuleParams = MotionModuleParams()
    animate_p: float = Field(default=0.5, ge=0, le=1)
    # where the first-frame latent enters the 9-channel input: "frame0" (mask and latent at frame 0 only)
    # or "all_frames" (the latent at every frame, as SVD / DynamiCrafter give their image latent; mask still
    # 1 at frame 0 only). The paper does not say which; the sampler reads the trained model's choice.
    first_frame_input: Literal["frame0", "all_frames"] = "frame0"
    image_dropout: float = Field(default=0.05, ge=0, le=1)
    loop: LoopParams = LoopParams(steps=300, batch_size=4, lr=5e-4, lr_multipliers={"conv_in.": 10.0})
    threads: int = Field(default=2, gt=0)


class MoonShotMode(Strict):
    """One way of sampling the trained MoonShot model (``sample_moonshot@{mode}``).

    ``image``: condition on the CLIP image embedding of the held-out clip's frame 0 (else a zero
    embedding: the dropped image of training, also the unconditional branch of guidance).
    ``first_frame``: feed that frame's VAE latent through the masked 9-channel input (image animation).
    ``image_scale``: the image branch's weight in every decoupled cross-attention; 0 makes the spatial
    layers exactly the base's text-only attention (then only the temporal layers differ from
    AnimateDiff's)."""

    image: bool = False
    first_frame: bool = False
    image_scale: float = Field(default=0.0, ge=0)


class SampleMoonShotParams(Strict):
    """MoonShot videos on ``sample``'s held-out prompts with ``sample``'s frames, DDIM steps, guidance,
    batch size and seeds (video i: seed ``sample.seed + i``, the same initial noise as AnimateDiff's
    video i), one folder per mode: ``{out_dir}/{mode}/scale_{adapter_scale}/`` in the sample stage's
    layout, so ``evaluate`` scores it unchanged. The DDIM schedule is the study's (``models.scheduler``)."""

    out_dir: str = "samples/moonshot"
    heldout_dir: str = "data/prepared/heldout"  # frame 0 of each held-out prompt's own clip
    modes: dict[str, MoonShotMode] = {
        "text": MoonShotMode(),
        "animate": MoonShotMode(image=True, first_frame=True, image_scale=1.0),
    }
    adapter_scale: float = Field(default=0.0, ge=0)  # the inference setting of RQ1: domain adapter dropped
    threads: int = Field(default=2, gt=0)

    @model_validator(mode="after")
    def _modes(self) -> "SampleMoonShotParams":
        if not self.modes:
            raise ValueError("modes: at least one mode")
        return self


class EvaluateMoonShotParams(Strict):
    """Scores of ``sample_moonshot@{mode}``: every metric of ``evaluate`` with ``evaluate``'s params
    (backbones, references, bootstrap, seed: the numbers sit beside AnimateDiff's), plus first-frame
    fidelity to the conditioning frame and identity kept across frames; ``{out_dir}/{mode}.json``."""

    out_dir: str = "metrics/moonshot"
    samples_dir: str = "samples/moonshot"
