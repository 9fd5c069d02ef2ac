"""SparseCtrl's sparse-condition encoder (diffusers ``SparseControlNetModel``) on this repo's base.

* :func:`build_encoder` copies conv_in, the time embedding, the down and mid blocks of the 2-D base
  UNet as ``SparseControlNetModel.from_unet`` does, but from a *copy* of the base config:
  ``from_unet`` rewrites ``unet.config.down_block_types`` in place (the base would then save as a
  motion UNet) and does not pass ``use_simplified_condition_embedding`` / ``concat_conditioning_mask``
  through, so a sketch encoder or a mask-free ablation cannot come from it. The temporal layers
  are new (random), as in the original.
* :class:`NoisyLatentSparseControlNet`: the "noisy latent kept" ablation (see its docstring).
* :func:`place_keyframes`: the condition tensor and mask, built as the pipeline builds them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from diffusers import SparseControlNetModel

if TYPE_CHECKING:
    from animatelab.config import SparseCtrlVariant

INFO_FILE = "sparsectrl.json"
_MOTION_BLOCK = {"CrossAttn": "CrossAttnDownBlockMotion", "Down": "DownBlockMotion"}


class NoisyLatentSparseControlNet(SparseControlNetModel):
    """``SparseControlNetModel`` whose encoder sees the noisy latent (the paper's ablation).

    diffusers' ``forward`` replaces ``sample`` by zeros on its first line (SparseCtrl's choice: at
    high noise levels the near-noise input makes the encoder's residuals disturb unconditioned
    frames). Rather than copy that 150-line forward, this keeps the input and puts it back where
    the zeros enter the network: for the duration of the call, a pre-hook on ``conv_in`` swaps its
    all-zero input for the real (B*F, C, h, w) latent. Everything else, weights and config included,
    is the parent's, so its folder also loads as a plain ``SparseControlNetModel`` (which then zeroes
    the input); ``load_encoder`` picks the class from ``sparsectrl.json``.
    """

    def forward(self, sample: torch.Tensor, *args: Any, **kwargs: Any):
        kept = sample.permute(0, 2, 1, 3, 4).flatten(0, 1)  # the (B*F, C, h, w) order forward uses
        # no __init__ override: diffusers reads the constructor's signature to rebuild from a config
        handle = self.conv_in.register_forward_pre_hook(lambda module, inputs: (kept.to(inputs[0]),))
        try:
            return super().forward(sample, *args, **kwargs)
        finally:
            handle.remove()


def encoder_kwargs(unet_config: Any, variant: "SparseCtrlVariant", vae_levels: int, heads: int,
                   max_seq_length: int, sketch_channels: list[int]) -> dict[str, Any]:
    """Constructor arguments: the base's (as ``from_unet`` reads them), plus the variant's options."""
    cfg = copy.deepcopy(dict(unet_config))
    blocks = []
    for kind in cfg["down_block_types"]:
        key = next((k for k in _MOTION_BLOCK if k in kind), None)
        if key is None:
            raise ValueError(f"{kind}: not a cross-attention or down block")
        blocks.append(_MOTION_BLOCK[key])
    rgb = variant.modality == "rgb"
    if not rgb and len(sketch_channels) < vae_levels:
        raise ValueError(f"sketch_embedding_channels needs >= {vae_levels} entries (one per VAE level)")
    keys = ("in_channels", "flip_sin_to_cos", "freq_shift", "only_cross_attention", "block_out_channels",
            "layers_per_block", "downsample_padding", "mid_block_scale_factor", "act_fn", "norm_num_groups",
            "norm_eps", "cross_attention_dim", "attention_head_dim", "num_attention_heads", "use_linear_projection",
            "upcast_attention", "resnet_time_scale_shift")
    return {**{k: cfg[k] for k in keys}, "down_block_types": tuple(blocks),
            "transformer_layers_per_block": cfg.get("transformer_layers_per_block", 1),
            "conditioning_channels": cfg["in_channels"] if rgb else 3,
            "use_simplified_condition_embedding": rgb, "concat_conditioning_mask": variant.mask,
            "conditioning_embedding_out_channels": tuple(sketch_channels[:vae_levels]),
            "motion_num_attention_heads": heads, "motion_max_seq_length": max_seq_length}


def he_init_condition_embedding(embedding: torch.nn.Module) -> None:
    """Kaiming-normal weights and zero biases for the hidden convs of a (non-simplified) condition
    embedding; ``conv_out`` keeps its zeros, so the encoder still starts as a no-op.

    diffusers builds the embedding with PyTorch's default conv init (weight variance 1/(3 fan_in)),
    under which each conv + SiLU shrinks the signal about threefold. A sparse sketch (a 1-px outline
    on black) then reaches ``conv_out`` as a near-constant: on the embedded default, shifting the
    keyframe sketches by 2 px changes the embedding by 2e-4 rms at init (3.5e-2 under this init), and
    encoders trained from the default init ignore their sketch (``sparsectrl.train.condition_sensitivity``
    1e-4 after 600 steps, 7e-4 after 1,200; from this init 0.04 and 0.19). Kaiming's variance
    (2 / fan_in) keeps the outline's position alive to ``conv_out``.
    """
    for conv in (embedding.conv_in, *embedding.blocks):
        torch.nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        torch.nn.init.zeros_(conv.bias)


def build_encoder(unet2d: torch.nn.Module, variant: "SparseCtrlVariant", vae_levels: int, heads: int,
                  max_seq_length: int, sketch_channels: list[int], sketch_init: str = "pytorch") -> SparseControlNetModel:
    """A new encoder (seeded by ``variant.seed``) with the base's spatial weights copied in; a sketch
    encoder's embedding re-initialised by :func:`he_init_condition_embedding` when ``sketch_init`` is "he"."""
    torch.manual_seed(variant.seed)
    cls = NoisyLatentSparseControlNet if variant.keep_noisy_latent else SparseControlNetModel
    enc = cls(**encoder_kwargs(unet2d.config, variant, vae_levels, heads, max_seq_length, sketch_channels))
    if sketch_init not in ("pytorch", "he"):
        raise ValueError(f"sketch_init {sketch_init!r}: expected 'pytorch' or 'he'")
    if sketch_init == "he" and variant.modality == "sketch":
        he_init_condition_embedding(enc.controlnet_cond_embedding)
    for name in ("conv_in", "time_proj", "time_embedding", "down_blocks", "mid_block"):
        missing, unexpected = getattr(enc, name).load_state_dict(getattr(unet2d, name).state_dict(), strict=False)
        if unexpected or any("motion_modules." not in k for k in missing):
            raise RuntimeError(f"{name}: base weights do not fit the encoder ({unexpected[:3]}, {missing[:3]})")
    return enc


def save_encoder(encoder: SparseControlNetModel, out_dir: str | Path, info: dict[str, Any]) -> Path:
    """``save_pretrained`` folder (loads with ``SparseControlNetModel.from_pretrained``) + ``sparsectrl.json``."""
    out = Path(out_dir)
    encoder.save_pretrained(out, safe_serialization=True)
    (out / INFO_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return out


def load_encoder(folder: str | Path) -> tuple[SparseControlNetModel, dict[str, Any]]:
    """The saved encoder (the ablation subclass where it was trained so) and its info, frozen."""
    folder = Path(folder)
    info = json.loads((folder / INFO_FILE).read_text())
    cls = NoisyLatentSparseControlNet if info["variant"]["keep_noisy_latent"] else SparseControlNetModel
    return cls.from_pretrained(folder, local_files_only=True).eval().requires_grad_(False), info


def keyframe_indices(num_frames: int, count: int) -> list[int]:
    """``count`` evenly spaced frames, first and last included (1: the first frame only)."""
    if not 1 <= count <= num_frames:
        raise ValueError(f"{count} keyframes do not fit {num_frames} frames")
    return [0] if count == 1 else sorted({int(i) for i in np.linspace(0, num_frames - 1, count).round()})


def place_keyframes(keyframes: torch.Tensor, indices: list[list[int]], num_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cond, mask)`` (B, C, F, h, w) / (B, 1, F, h, w): sample b's first ``len(indices[b])``
    keyframes (B, C, K, h, w) at frames ``indices[b]``, mask 1 there, zeros elsewhere. With the same
    indices for every sample this is ``prepare_sparse_control_conditioning`` of the pipeline."""
    b, c, _, h, w = keyframes.shape
    cond = keyframes.new_zeros((b, c, num_frames, h, w))
    mask = keyframes.new_zeros((b, 1, num_frames, h, w))
    for i, idx in enumerate(indices):
        cond[i, :, idx] = keyframes[i, :, : len(idx)]
        mask[i, :, idx] = 1
    return cond, mask


def sketches(frames: np.ndarray, thresholds: tuple[int, int]) -> np.ndarray:
    """Edge maps (cv2.Canny on the grey frame, white on black) of uint8 (..., H, W, 3), as uint8 RGB."""
    import cv2

    flat = frames.reshape(-1, *frames.shape[-3:])
    edges = np.stack([cv2.Canny(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), *thresholds) for f in flat])
    return np.repeat(edges[..., None], 3, axis=-1).reshape(frames.shape)


def object_outlines(meta: list[dict], truth: dict, frames: int, resolution: int, written: int,
                    thresholds: tuple[int, int]) -> np.ndarray:
    """uint8 (N, F, R, R, 3): the Canny outline of each prepared clip's object alone, drawn from the
    ground truth (``ground_truth.json`` of ``synth_data``) at the clip's frames (``start`` / ``stride``)
    on a plain background, rescaled from the written to the prepared resolution ``R``. Positions and
    sizes in the truth already include a zoom, so the silhouette needs no camera."""
    from animatelab.data.render import render
    from animatelab.sparsectrl.scoring import gt_positions, written_frames
    from animatelab.world import PLAIN_BACKGROUNDS

    background, scale = next(iter(PLAIN_BACKGROUNDS)), resolution / written
    out = []
    for m, centres in zip(meta, gt_positions(meta, truth, frames, scale)):  # the evaluation's own positions
        gt = truth[str(m["videoid"])]
        sizes = np.asarray(gt["sizes"], np.float64)[written_frames(m, frames)] * scale
        silhouette = render(gt["shape"], gt["colour"], background, centres, sizes, resolution)
        out.append(sketches(np.clip(np.rint(silhouette), 0, 255).astype(np.uint8), thresholds))
    return np.stack(out)


def clip_sketches(pixels: np.ndarray, meta: list[dict], source: str, thresholds: tuple[int, int],
                  synth_dir: str | Path, written: int) -> np.ndarray:
    """uint8 (N, F, H, W, 3) sketches of prepared clips (N, F, H, W, 3) with their metadata: Canny of
    the frames (``"frames"``) or of the object alone (``"ground_truth"``, :func:`object_outlines`).
    Training and sampling both call this, so an encoder is sampled with the sketches it learnt."""
    if source == "frames":
        return sketches(pixels, thresholds)
    if source != "ground_truth":
        raise ValueError(f"sketch_source {source!r}: expected 'frames' or 'ground_truth'")
    from animatelab.data.synth import read_ground_truth

    truth = read_ground_truth(synth_dir)
    return object_outlines(meta, truth, pixels.shape[1], pixels.shape[2], written, thresholds)


def condition_images(frames: np.ndarray, modality: str, thresholds: tuple[int, int],
                     drawn: np.ndarray | None = None) -> list:
    """The pipeline's ``conditioning_frames`` for uint8 keyframes (K, H, W, 3): PIL images of the
    frames (rgb: the pipeline VAE-encodes them), of the sketches ``drawn`` for them, or else of
    their Canny edges."""
    from PIL import Image

    images = frames if modality == "rgb" else (drawn if drawn is not None else sketches(frames, thresholds))
    return [Image.fromarray(f) for f in images]
