"""CLIP scores with clip-anytorch (AnimateDiff's three axes plus frame consistency).

- text: 100 x cosine(frame, prompt), averaged over frames;
- domain: 100 x cosine(frame, mean embedding of reference images with the same prompt
  attributes): the base model's domain; here the clean synthetic images stand in for it;
- smooth: 100 x cosine of consecutive frames;
- consistency: VBench-style, 100 x mean over t of (cos(f_t, f_0) + cos(f_t, f_{t-1})) / 2.
The backbone name goes into every metric key (``clip_synth_text``, ``clip_ViT-B-32_text``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def clip_config_from_state_dict(sd: dict[str, torch.Tensor]) -> dict:
    """Constructor arguments of a ViT ``clip.model.CLIP`` from its weights (heads = width // 64)."""
    width = sd["visual.conv1.weight"].shape[0]
    patch = sd["visual.conv1.weight"].shape[-1]
    grid = round((sd["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    text_width = sd["ln_final.weight"].shape[0]
    return {
        "embed_dim": sd["text_projection"].shape[1],
        "image_resolution": patch * grid,
        "vision_layers": len({k.split(".")[3] for k in sd if k.startswith("visual.transformer.resblocks.")}),
        "vision_width": width,
        "vision_patch_size": patch,
        "context_length": sd["positional_embedding"].shape[0],
        "vocab_size": sd["token_embedding.weight"].shape[0],
        "transformer_width": text_width,
        "transformer_heads": text_width // 64,
        "transformer_layers": len({k.split(".")[2] for k in sd if k.startswith("transformer.resblocks.")}),
    }


def load_clip(path: str | Path) -> torch.nn.Module:
    """A local CLIP: a ViT state dict rebuilds exactly in float32; anything else (an OpenAI
    TorchScript archive) goes through ``clip.load(path, jit=False)``."""
    import clip
    from clip.model import CLIP

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CLIP weights not found: {path}")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a TorchScript archive: clip.load knows it
        sd = None
    if isinstance(sd, dict) and "visual.proj" in sd:
        model = CLIP(**clip_config_from_state_dict(sd))
        model.load_state_dict(sd)
        return model.float().eval()
    model, _ = clip.load(str(path), device="cpu", jit=False)
    return model.float().eval()


class ClipScorer:
    """Batched frame and text embeddings of one CLIP (normalised), with the score formulas."""

    def __init__(self, model: torch.nn.Module, name: str, batch_size: int = 256):
        self.model = model.eval()
        self.name = name
        self.batch_size = batch_size
        self.resolution = model.visual.input_resolution
        self.mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)

    @torch.no_grad()
    def embed_images(self, images: np.ndarray) -> torch.Tensor:
        """uint8 (N, H, W, 3) -> (N, D) unit vectors; resized per batch to the CLIP resolution."""
        out = []
        for i in range(0, len(images), self.batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[i : i + self.batch_size])).permute(0, 3, 1, 2).float() / 255
            if x.shape[-1] != self.resolution or x.shape[-2] != self.resolution:
                x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bicubic", align_corners=False).clamp(0, 1)
            out.append(F.normalize(self.model.encode_image((x - self.mean) / self.std).float(), dim=-1))
        return torch.cat(out)

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        import clip

        out = []
        for i in range(0, len(texts), self.batch_size):
            tokens = clip.tokenize(texts[i : i + self.batch_size], context_length=self.model.context_length, truncate=True)
            out.append(F.normalize(self.model.encode_text(tokens).float(), dim=-1))
        return torch.cat(out)

    def reference_embeddings(self, images: np.ndarray, attrs: list[tuple[str, ...]]) -> dict[tuple[str, ...], torch.Tensor]:
        """Mean (renormalised) embedding of the reference images per attribute tuple."""
        emb = self.embed_images(images)
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, a in enumerate(attrs):
            groups.setdefault(tuple(a), []).append(i)
        return {k: F.normalize(emb[v].mean(0), dim=-1) for k, v in groups.items()}

    def score_videos(
        self,
        videos: np.ndarray,
        prompts: list[str],
        references: list[torch.Tensor | None] | None = None,
    ) -> dict[str, np.ndarray]:
        """Per-video scores (x100) for uint8 (N, F, H, W, 3) videos."""
        n, f = videos.shape[:2]
        text = self.embed_texts(prompts)
        scores: dict[str, list[float]] = {k: [] for k in ("text", "domain", "smooth", "consistency")}
        per_batch = max(1, self.batch_size // f)
        for i in tqdm(range(0, n, per_batch), desc=f"clip_{self.name}", leave=False):
            chunk = videos[i : i + per_batch]
            emb = self.embed_images(chunk.reshape(-1, *chunk.shape[2:])).view(len(chunk), f, -1)
            for j, e in enumerate(emb):
                k = i + j
                scores["text"].append(100 * float((e @ text[k]).mean()))
                ref = references[k] if references is not None else None
                scores["domain"].append(100 * float((e @ ref).mean()) if ref is not None else np.nan)
                consecutive = (e[1:] * e[:-1]).sum(-1)
                scores["smooth"].append(100 * float(consecutive.mean()))
                scores["consistency"].append(100 * float(((e[1:] @ e[0]) + consecutive).mean() / 2))
        return {k: np.asarray(v) for k, v in scores.items()}
