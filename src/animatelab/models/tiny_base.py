"""A tiny Stable-Diffusion-format base (VAE, CLIP text encoder + tokenizer, UNet), random init.

Used by ``pretrain_base`` (which then trains it) and by tests everywhere. The tokenizer is
CLIP's own BPE, built offline from the vocabulary clip-anytorch ships, so token ids match
``clip.tokenize``; only the widths are small.
"""

from __future__ import annotations

import gzip
import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from animatelab.models.base import BaseComponents

if TYPE_CHECKING:
    from animatelab.config import PretrainBaseParams

CLIP_VOCAB_SIZE = 49408
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte -> printable-unicode table."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = list(keep), 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(keep, map(chr, chars)))


@lru_cache(maxsize=1)
def clip_vocab_and_merges() -> tuple[dict[str, int], list[str]]:
    """CLIP's vocab/merges derived from clip-anytorch's ``bpe_simple_vocab_16e6.txt.gz``."""
    spec = importlib.util.find_spec("clip")
    if spec is None or spec.origin is None:
        raise ImportError("clip-anytorch is needed for its packaged BPE vocabulary")
    bpe = Path(spec.origin).with_name("bpe_simple_vocab_16e6.txt.gz")
    lines = gzip.open(bpe, "rt", encoding="utf-8").read().split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]  # the 48,894 merges CLIP uses
    tokens = list(_bytes_to_unicode().values())
    tokens = tokens + [t + "</w>" for t in tokens] + ["".join(m.split()) for m in merges] + [BOS, EOS]
    return {t: i for i, t in enumerate(tokens)}, merges


def build_tokenizer(max_length: int):
    from transformers import CLIPTokenizer

    vocab, merges = clip_vocab_and_merges()
    tok = CLIPTokenizer(vocab=dict(vocab), merges=[tuple(m.split()) for m in merges])
    tok.model_max_length = max_length
    return tok


def build_tiny_base(cfg: "PretrainBaseParams") -> BaseComponents:
    """Random-weight SD-format components sized by ``cfg`` (seeded by ``cfg.seed``)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from animatelab.models.scheduler import sampling_scheduler, scheduler_config
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(cfg.seed)
    n_vae = len(cfg.vae_block_out_channels)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=cfg.latent_channels,
        down_block_types=("DownEncoderBlock2D",) * n_vae, up_block_types=("UpDecoderBlock2D",) * n_vae,
        block_out_channels=tuple(cfg.vae_block_out_channels), layers_per_block=1,
        norm_num_groups=cfg.vae_norm_num_groups, sample_size=cfg.resolution,
    )
    tokenizer = build_tokenizer(cfg.text_max_length)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=CLIP_VOCAB_SIZE, hidden_size=cfg.text_hidden_size, intermediate_size=4 * cfg.text_hidden_size,
        num_hidden_layers=cfg.text_layers, num_attention_heads=cfg.text_heads,
        max_position_embeddings=cfg.text_max_length, projection_dim=cfg.text_hidden_size,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    ))
    n_unet = len(cfg.unet_block_out_channels)
    unet = UNet2DConditionModel(
        sample_size=cfg.resolution // 2 ** (n_vae - 1), in_channels=cfg.latent_channels,
        out_channels=cfg.latent_channels, block_out_channels=tuple(cfg.unet_block_out_channels),
        down_block_types=("CrossAttnDownBlock2D",) * n_unet, up_block_types=("CrossAttnUpBlock2D",) * n_unet,
        layers_per_block=cfg.unet_layers_per_block, attention_head_dim=cfg.unet_attention_heads,
        cross_attention_dim=cfg.text_hidden_size, norm_num_groups=cfg.unet_norm_num_groups,
    )
    return BaseComponents(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                          scheduler=sampling_scheduler(scheduler_config(cfg.noise)))


def save_base(components: BaseComponents, path: str | Path) -> Path:
    """Write a diffusers pipeline folder (the layout of a local SD1.5 folder)."""
    path = Path(path)
    components.pipeline().save_pretrained(path, safe_serialization=True)
    components.path = path
    return path
