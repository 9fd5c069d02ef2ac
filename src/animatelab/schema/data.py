"""Params of the data stages: the synthetic world, WebVid prepare, the latent cache."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from animatelab.schema.base import Strict


# --------------------------------------------------------------------------- synth_data
class SynthDataParams(Strict):
    """The embedded synthetic world (docs/world.md): clean images, WebVid-format videos, LoRA set.

    Defects: ``watermark_alpha`` 0 = no watermark, ``blur_sigma`` 0 = no blur, ``codec`` "lossless"
    = no compression artefacts (the frames decode bit-exactly).

    Speeds are px/frame (translation), diameter px/frame (grow/shrink) or crop-side px/frame
    (zoom). ``boundary`` says what a translating object does at the frame edge: ``clamp`` (the
    core's world) shrinks, then slows a clip whose straight path would leave the frame, so no path ever
    reaches the edge; ``bounce`` keeps the drawn speed and size and reflects the path off the edges
    (the object stays whole in frame); ``wrap`` keeps them too and lets the object leave one edge and
    re-enter at the opposite one (a torus: the object is cut in two while it crosses).
    """

    seed: int
    out_dir: str
    resolution: int = Field(ge=16)
    frames: int = Field(ge=2)
    fps: int = Field(gt=0)
    num_images: int = Field(gt=0)
    num_train_videos: int = Field(gt=0)
    num_heldout_videos: int = Field(gt=0)
    num_motion_lora_videos: int = Field(gt=0)
    shapes: list[Literal["circle", "square", "triangle"]]
    colours: list[Literal["red", "green", "blue", "yellow", "white"]]
    backgrounds: list[Literal["black", "gray", "checker"]]
    motions: list[Literal["left", "right", "up", "down", "grow", "shrink", "static"]]
    motion_lora_motion: Literal["zoom_in"]
    speed_range: tuple[float, float]
    boundary: Literal["clamp", "bounce", "wrap"]  # translations at the frame edge (above)
    object_size_range: tuple[float, float]
    # WebVid's defects, each switchable on its own (docs/world.md): 0 turns the watermark / the blur
    # off; ``codec: lossless`` writes exactly the degraded frames (x264's RGB encoder at qp 0)
    watermark_alpha: float = Field(ge=0, le=1)
    blur_sigma: float = Field(ge=0, le=8)
    codec: Literal["h264", "lossless"]
    crf: int = Field(ge=0, le=51)  # h264 only
    workers: int = Field(ge=1)

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
    out_dir: str
    frames: int = Field(ge=2)
    stride: int = Field(ge=1)
    target_fps: float | None = Field(gt=0)  # None: ``stride`` as given
    resolution: int = Field(ge=8)
    clip_start: Literal["first", "middle", "random"]
    bad_caption: Literal["skip", "keep"]
    shard_size: int = Field(gt=0)
    workers: int = Field(ge=1)
    seed: int

    @model_validator(mode="after")
    def _unique_names(self) -> "PrepareParams":
        names = [d.name for d in self.datasets]
        if not names or len(set(names)) != len(names):
            raise ValueError("datasets must be non-empty with unique names")
        return self


# --------------------------------------------------------------------------- encode
class EncodeParams(Strict):
    """VAE latents + text embeddings cached once per prepared dataset (no VAE/text encoder in training)."""

    in_dir: str
    datasets: list[str]
    out_dir: str
    batch_size: int = Field(gt=0)
    latent: Literal["mean", "sample"]  # posterior mean, or a sample seeded by ``seed``
    seed: int
    # storage dtype of the cached latents and text states (training casts back to float32):
    # half precision halves the cache (real scale: bfloat16)
    cache_dtype: Literal["float32", "float16", "bfloat16"]
    threads: int = Field(gt=0)
