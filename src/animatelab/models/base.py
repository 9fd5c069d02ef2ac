"""The frozen text-to-image base, loaded from a local diffusers pipeline folder.

Every later stage calls :func:`load_base`, so the tiny base trained here and a local SD1.5
folder (``vae/ text_encoder/ tokenizer/ unet/ scheduler/``) are interchangeable. Nothing is
downloaded: ``local_files_only=True`` everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from diffusers import UNet2DConditionModel


@dataclass
class BaseComponents:
    """The pieces of an SD-format pipeline that training and sampling need."""

    vae: Any  # diffusers.AutoencoderKL
    text_encoder: Any  # transformers.CLIPTextModel
    tokenizer: Any  # transformers.CLIPTokenizer
    unet: Any  # diffusers.UNet2DConditionModel
    scheduler: Any  # diffusers.DDIMScheduler (inference schedule)
    path: Path | None = None

    def to(self, device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> "BaseComponents":
        for m in (self.vae, self.text_encoder, self.unet):
            m.to(device=device, dtype=dtype)
        return self

    def freeze(self) -> "BaseComponents":
        for m in (self.vae, self.text_encoder, self.unet):
            m.requires_grad_(False)
            m.eval()
        return self

    def pipeline(self, **kwargs: Any):
        """A ``StableDiffusionPipeline`` over these components (no safety checker)."""
        from diffusers import StableDiffusionPipeline

        return StableDiffusionPipeline(
            vae=self.vae, text_encoder=self.text_encoder, tokenizer=self.tokenizer, unet=self.unet,
            scheduler=kwargs.pop("scheduler", self.scheduler), safety_checker=None,
            feature_extractor=None, requires_safety_checker=False, **kwargs,
        )


def base_unet(path: str | Path, dtype: torch.dtype = torch.float32) -> "UNet2DConditionModel":
    """The UNet of a local diffusers pipeline folder, frozen and in eval mode (float32 unless ``dtype``):
    the one way the base UNet is loaded, alone (:mod:`animatelab.models.assemble`) or in :func:`load_base`."""
    from diffusers import UNet2DConditionModel

    kw: dict[str, Any] = {"local_files_only": True}
    if dtype != torch.float32:
        kw["torch_dtype"] = dtype
    return UNet2DConditionModel.from_pretrained(Path(path), subfolder="unet", **kw).requires_grad_(False).eval()


def load_base(path: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> BaseComponents:
    """Load a local diffusers pipeline folder, frozen and in eval mode."""
    from diffusers import AutoencoderKL, DDIMScheduler
    from transformers import CLIPTextModel, CLIPTokenizer

    path = Path(path)
    missing = [d for d in ("vae", "text_encoder", "tokenizer", "unet", "scheduler") if not (path / d).is_dir()]
    if missing:
        raise FileNotFoundError(f"{path}: not a diffusers pipeline folder (missing {', '.join(missing)})")
    kw: dict[str, Any] = {"local_files_only": True}
    if dtype != torch.float32:
        kw["torch_dtype"] = dtype
    comps = BaseComponents(
        vae=AutoencoderKL.from_pretrained(path, subfolder="vae", **kw),
        text_encoder=CLIPTextModel.from_pretrained(path / "text_encoder", **kw),
        tokenizer=CLIPTokenizer.from_pretrained(path / "tokenizer", local_files_only=True),
        unet=base_unet(path, dtype),
        scheduler=DDIMScheduler.from_pretrained(path, subfolder="scheduler", local_files_only=True),
        path=path,
    )
    if str(device) != "cpu":
        comps.to(device)
    return comps.freeze()


def tokenize(tokenizer: Any, prompts: list[str]) -> torch.Tensor:
    """Token ids (N, L), padded/truncated to the tokenizer's ``model_max_length`` as SD does."""
    return tokenizer(
        prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    ).input_ids


def encode_prompts(components: BaseComponents, prompts: list[str]) -> torch.Tensor:
    """Text-encoder last hidden state (N, L, D), as SD conditions its UNet."""
    te = components.text_encoder
    ids = tokenize(components.tokenizer, prompts).to(te.device)
    with torch.no_grad():
        return te(ids)[0]
