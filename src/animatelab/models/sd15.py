"""SD1.5-sized UNet and AnimateDiff motion-module layouts, built from configs with no weights.

Real runs load SD1.5 from a local folder; these builders exist so that sizes, shapes,
parameter selection and FLOPs of the real-scale model can be checked (and benchmarked) on a
machine without the weights, on the meta device where possible (no memory, no compute).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Literal

MotionVersion = Literal["v1", "v2", "v3"]

# runwayml/stable-diffusion-v1-5 unet/config.json (the fields that change the architecture).
SD15_UNET_CONFIG: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "block_out_channels": [320, 640, 1280, 1280],
    "layers_per_block": 2,
    "attention_head_dim": 8,
    "cross_attention_dim": 768,
    "norm_num_groups": 32,
    "norm_eps": 1e-5,
    "act_fn": "silu",
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "mid_block_scale_factor": 1,
    "center_input_sample": False,
}
SD15_VAE_SCALE = 8  # pixels per latent
SD15_TEXT_TOKENS = 77  # CLIP ViT-L/14 context length
SD15_TEXT_DIM = 768

# Official AnimateDiff motion-module layouts on SD1.5 widths (docs/methods.md, "Motion module").
_MOTION_COMMON: dict[str, Any] = {
    "block_out_channels": [320, 640, 1280, 1280],
    "motion_layers_per_block": 2,
    "motion_mid_block_layers_per_block": 1,
    "motion_num_attention_heads": 8,
    "motion_norm_num_groups": 32,
}
MOTION_ADAPTER_CONFIGS: dict[str, dict[str, Any]] = {
    "v1": {**_MOTION_COMMON, "motion_max_seq_length": 24, "use_motion_mid_block": False},
    "v2": {**_MOTION_COMMON, "motion_max_seq_length": 32, "use_motion_mid_block": True},
    "v3": {**_MOTION_COMMON, "motion_max_seq_length": 32, "use_motion_mid_block": False},
}
# Published parameter counts (diffusers MotionAdapter at these configs), used by the tests.
MOTION_ADAPTER_PARAMS: dict[str, int] = {"v1": 417_137_600, "v2": 453_209_280, "v3": 417_137_600}


def _context(meta: bool, device: str | None = None):
    """Meta: parameters and buffers get no storage. Else: random weights made on ``device``."""
    if not meta:
        if device is None:
            return nullcontext()
        import torch

        return torch.device(device)
    from accelerate import init_empty_weights

    return init_empty_weights(include_buffers=True)  # buffers too (e.g. positional tables)


def sd15_unet(meta: bool = True, device: str | None = None):
    """SD1.5's ``UNet2DConditionModel`` with random (or, on meta, no) weights."""
    from diffusers import UNet2DConditionModel

    with _context(meta, device):
        return UNet2DConditionModel(**SD15_UNET_CONFIG)


def sd15_motion_adapter(version: MotionVersion = "v3", meta: bool = True, device: str | None = None):
    """An official-layout ``MotionAdapter`` (v1/v2/v3) at SD1.5 widths."""
    from diffusers import MotionAdapter

    if version not in MOTION_ADAPTER_CONFIGS:
        raise ValueError(f"unknown motion-module version {version!r}; expected one of {list(MOTION_ADAPTER_CONFIGS)}")
    with _context(meta, device):
        return MotionAdapter(**MOTION_ADAPTER_CONFIGS[version])


def sd15_motion_unet(version: MotionVersion = "v3", meta: bool = True, device: str | None = None):
    """SD1.5 + motion module as one ``UNetMotionModel`` (the model ``train_motion`` trains).

    ``from_unet2d`` derives the motion UNet's config from both; on meta it skips the weight
    copy (``load_weights=False``), which meta tensors cannot do, and builds the same modules.
    """
    from diffusers import UNetMotionModel

    unet = sd15_unet(meta=meta, device=device)
    adapter = sd15_motion_adapter(version, meta=meta, device=device)
    with _context(meta, device):
        return UNetMotionModel.from_unet2d(unet, adapter, load_weights=not meta)


def count_params(module, trainable_only: bool = False) -> int:
    """Parameter count (works on the meta device: only shapes are read)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def dummy_batch(batch: int = 1, frames: int = 16, resolution: int = 256, device: str = "meta", dtype=None):
    """Inputs of one SD1.5 motion training step: noisy latents (B, C, F, h, w), timesteps, text."""
    import torch

    dtype = dtype or torch.float32
    side = resolution // SD15_VAE_SCALE
    return {
        "sample": torch.randn(batch, 4, frames, side, side, device=device, dtype=dtype),
        "timestep": torch.randint(0, 1000, (batch,), device=device),
        # UNetMotionModel does not repeat the text per frame (docs/methods.md): pass one row per frame.
        "encoder_hidden_states": torch.randn(
            batch * frames, SD15_TEXT_TOKENS, SD15_TEXT_DIM, device=device, dtype=dtype
        ),
    }


def checkpoint_attention_blocks(unet) -> int:
    """Gradient-checkpoint every spatial transformer and motion module too; returns how many.

    diffusers' ``enable_gradient_checkpointing`` on ``UNetMotionModel`` (0.42) only recomputes
    the resnets; the attention blocks and motion modules, which hold most activations at
    16 frames, keep theirs. This wraps their ``forward`` with non-reentrant checkpointing.
    """
    import functools

    from diffusers.models.transformers.transformer_2d import Transformer2DModel
    from diffusers.models.unets.unet_motion_model import AnimateDiffTransformer3D
    from torch.utils.checkpoint import checkpoint

    unet.enable_gradient_checkpointing()
    wrapped = 0
    for module in unet.modules():
        if isinstance(module, (Transformer2DModel, AnimateDiffTransformer3D)) and not getattr(
            module, "_animatelab_ckpt", False
        ):
            inner = module.forward

            @functools.wraps(inner)
            def forward(*args, _inner=inner, **kwargs):
                import torch

                if not torch.is_grad_enabled():
                    return _inner(*args, **kwargs)
                return checkpoint(_inner, *args, use_reentrant=False, **kwargs)

            module.forward = forward
            module._animatelab_ckpt = True
            wrapped += 1
    return wrapped


def saved_activation_bytes(model, batch: dict) -> int:
    """Bytes autograd saves for backward in one forward (works on meta: only shapes are read).

    An estimate of activation memory: weights (and views of them) saved for backward are not
    counted; other storage shared between saved tensors is counted twice.
    """
    import torch

    total = 0
    param = torch.nn.Parameter

    def pack(t):
        nonlocal total
        if not (isinstance(t, param) or isinstance(t._base, param)):
            total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(**batch)
    return total


def training_step_flops(
    version: MotionVersion = "v3", batch: int = 1, frames: int = 16, resolution: int = 256, unet=None
) -> dict[str, int]:
    """FLOPs of one motion-module training step (UNet forward + backward), counted on meta.

    Only the motion modules train, so backward skips the frozen weights' gradients; the VAE
    and text encoder do not run (latents and text embeddings are cached by ``encode``).
    Recomputation by gradient checkpointing is not included (model FLOPs, as in MFU).
    ``unet``: an already built meta motion UNet to reuse (``version`` is then ignored).
    """
    from torch.utils.flop_counter import FlopCounterMode

    unet = unet if unet is not None else sd15_motion_unet(version, meta=True)
    unet.freeze_unet2d_params()
    inputs = dummy_batch(batch, frames, resolution)
    with FlopCounterMode(display=False) as fwd:
        out = unet(**inputs).sample
    with FlopCounterMode(display=False) as bwd:
        out.float().pow(2).mean().backward()
    return {"forward": fwd.get_total_flops(), "backward": bwd.get_total_flops(),
            "step": fwd.get_total_flops() + bwd.get_total_flops()}
