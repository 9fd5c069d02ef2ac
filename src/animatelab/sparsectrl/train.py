"""SparseCtrl encoder training: noise loss of the frozen video model, steered by the encoder's residuals.

Base UNet, domain adapter (merged at scale 1 when the motion run was trained with it) and the
motion module of ``train_sparsectrl.motion_run`` are frozen; only the encoder trains. Its
down/mid outputs enter the ``UNetMotionModel`` as ``down_block_additional_residuals`` /
``mid_block_additional_residual``, exactly as ``AnimateDiffSparseControlNetPipeline`` adds them.

Conditions: ``rgb`` uses the clip's cached VAE latents (posterior mean x scaling factor: what
``encode`` wrote; the pipeline VAE-encodes keyframes the same way but draws a posterior sample);
``sketch`` uses cv2.Canny edge maps of the same clips (``sparsectrl.model.clip_sketches``: of the
prepared frames, or of the object alone drawn from the ground truth, per the variant's ``sketch_source``),
in [0, 1] at pixel resolution, as the pipeline hands non-simplified encoders their images.
Each clip conditions frame 0, frames 0 and F-1, or a random subset (``train_sparsectrl.condition``);
the rest get zeros and mask 0 (``place_keyframes``, the pipeline's construction).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from animatelab.data.latents import EncodedClips
from animatelab.sparsectrl.model import clip_sketches, place_keyframes
from animatelab.outputs import without_wall_clock
from animatelab.models.scheduler import study_schedule, training_scheduler
from animatelab.train.diffusion import (
    add_noise_one_timestep_per_video,
    diffusion_loss,
    diffusion_target,
    drop_captions,
)

if TYPE_CHECKING:
    from animatelab.config import ConditionDraw, Params, SparseCtrlVariant
    from animatelab.train.randomness import StepRandom


class SparseClips(EncodedClips):
    """Encoded clips, plus (sketch modality) their sketches, uint8 (F, H, W): ``sketch`` is
    ``clip_sketches``' keyword arguments (source, thresholds, synth_dir, written)."""

    def __init__(self, encoded: str | Path, frames: int, prepared: str | Path | None = None,
                 sketch: dict[str, Any] | None = None) -> None:
        super().__init__(encoded, frames=frames)
        self.sketch = None
        if prepared is not None:
            from animatelab.eval.suite import load_clips

            pixels, meta = load_clips(prepared)
            ids = [m.get("videoid") for m in meta]
            if ids != [m.get("videoid") for m in self.meta]:
                raise ValueError(f"{prepared} and {encoded} do not hold the same clips in the same order")
            if sketch is None:
                raise ValueError("sketch clips need clip_sketches' arguments (sparsectrl.train.sketch_kwargs)")
            drawn = clip_sketches(pixels[:, :frames], meta, **sketch)
            self.sketch = torch.from_numpy(drawn[..., 0].copy())

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = super().__getitem__(i)
        if self.sketch is not None:
            item["sketch"] = self.sketch[self.indices[i]]
        return item


def draw_condition_frames(rng: "StepRandom", batch: int, frames: int, draw: "ConditionDraw") -> list[list[int]]:
    """Per clip, the sorted frame indices it conditions on (from the step's seeded randomness)."""
    kind = rng.rand(batch).tolist()
    count = (rng.randint(min(draw.max_random, frames), batch) + 1).tolist()
    order = rng.randn((batch, frames)).argsort(dim=1).tolist()
    out = []
    for u, k, perm in zip(kind, count, order):
        if u < draw.first:
            out.append([0])
        elif u < draw.first + draw.first_last:
            out.append([0, frames - 1])
        else:
            out.append(sorted(perm[:k]))
    return out


def condition_values(batch: dict, modality: str) -> torch.Tensor:
    """Per-frame condition values (B, C, F, h, w): latents (rgb) or sketches in [0, 1], 3 channels."""
    if modality == "rgb":
        return batch["latents"].transpose(1, 2)
    s = batch["sketch"].float().div(255.0)  # (B, F, H, W)
    return s[:, None].expand(-1, 3, -1, -1, -1)


class SparseCtrlTrainee(nn.Module):
    """The encoder (trainable) and the frozen video UNet in one module, so ``fit`` places both."""

    def __init__(self, encoder: nn.Module, unet: nn.Module) -> None:
        super().__init__()
        self.encoder, self.unet = encoder, unet.requires_grad_(False)

    def enable_gradient_checkpointing(self) -> None:
        self.encoder.enable_gradient_checkpointing()
        self.unet.enable_gradient_checkpointing()

    def forward(self, noisy: torch.Tensor, t: torch.Tensor, text: torch.Tensor, cond: torch.Tensor,
                mask: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """Noise prediction (B, C, F, h, w) for noisy latents (B, C, F, h, w) and text (B, L, D)."""
        frames = noisy.shape[2]
        text = text.repeat_interleave(frames, 0)
        down, mid = self.encoder(noisy, t, encoder_hidden_states=text, controlnet_cond=cond, conditioning_mask=mask,
                                 conditioning_scale=scale, return_dict=False)
        return self.unet(noisy, t, encoder_hidden_states=text, down_block_additional_residuals=down,
                         mid_block_additional_residual=mid).sample


def sparse_loss_fn(model: SparseCtrlTrainee, params: "Params", modality: str, empty_text: torch.Tensor):
    """``compute_loss(batch, rng)`` for ``fit``."""
    ts = params.train_sparsectrl
    scheduler = training_scheduler(study_schedule(params))

    def compute_loss(batch: dict, rng: "StepRandom") -> torch.Tensor:
        latents = batch["latents"]
        text = drop_captions(batch["text"], empty_text, ts.loop.cfg_dropout, rng)
        noisy, eps, t = add_noise_one_timestep_per_video(scheduler, latents, rng)
        indices = draw_condition_frames(rng, latents.shape[0], latents.shape[1], ts.condition)
        cond, mask = build_condition(condition_values(batch, modality), indices)
        pred = model(noisy.transpose(1, 2), t, text, cond, mask)
        return diffusion_loss(pred.transpose(1, 2), diffusion_target(scheduler, latents, eps, t))

    return compute_loss


def build_condition(values: torch.Tensor, indices: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Training's ``(cond, mask)`` from per-frame values (B, C, F, h, w): each clip's keyframes
    gathered (zero-padded to the longest list), then placed as the pipeline places them."""
    k = max(len(x) for x in indices)
    keyframes = values.new_zeros((values.shape[0], values.shape[1], k, *values.shape[3:]))
    for i, idx in enumerate(indices):
        keyframes[i, :, : len(idx)] = values[i, :, idx]
    return place_keyframes(keyframes, indices, values.shape[2])


def condition_sensitivity(encoder: nn.Module, dataset: "SparseClips", modality: str, clips: int = 8,
                          timestep: int = 500) -> dict[str, float]:
    """How much an encoder's residuals depend on its condition: the relative change (norm of the
    difference over the norm, over every down and mid residual) when each of the first ``clips``
    clips' keyframes (frames 0 and F-1, mask 1) are replaced by another clip's (``vs_other``) or
    by none (zeros, mask 0: ``vs_none``), at one timestep. Near 0, the encoder ignores its
    condition whatever its loss says: on the embedded default, sketch encoders from diffusers'
    embedding init read vs_other 1e-4 / 7e-4 after 600 / 1,200 steps, from Kaiming's 0.04 / 0.19
    (``sparsectrl.model.he_init_condition_embedding``)."""
    from torch.utils.data import default_collate

    param = next(encoder.parameters())
    batch = {k: v.to(param.device) if torch.is_tensor(v) else v
             for k, v in default_collate([dataset[i] for i in range(min(clips, len(dataset)))]).items()}
    latents = batch["latents"].transpose(1, 2).to(param.dtype)  # (B, C, F, h, w): zeroed by the paper's encoder
    b, frames = latents.shape[0], latents.shape[2]
    values, indices = condition_values(batch, modality).to(param.dtype), [[0, frames - 1]] * b
    cond, mask = build_condition(values, indices)
    conds = {"own": (cond, mask), "other": (build_condition(values.roll(1, 0), indices)[0], mask),
             "none": (torch.zeros_like(cond), torch.zeros_like(mask))}
    text = batch["text"].repeat_interleave(frames, 0)
    out = {}
    with torch.no_grad():
        for name, (c, m) in conds.items():
            down, mid = encoder(latents, torch.full((b,), timestep, device=param.device), encoder_hidden_states=text,
                                controlnet_cond=c, conditioning_mask=m, return_dict=False)
            out[name] = torch.cat([r.flatten().float() for r in (*down, mid)])
    norm = out["own"].norm()
    return {f"vs_{k}": float((out["own"] - out[k]).norm() / norm) if norm > 0 else 0.0 for k in ("other", "none")}


def sparsectrl_fingerprint(params: "Params", variant: str) -> str:
    """Hash of what determines an encoder's weights: its params, base, adapter and motion module."""
    from animatelab.models.assemble import adapter_file
    from animatelab.train.checkpoint import params_fingerprint
    from animatelab.train.motion import _file_identity

    ts = params.train_sparsectrl
    parts = [ts.variants[variant], ts.frames, ts.loop, study_schedule(params), ts.dataset, ts.condition, ts.canny_thresholds,
             ts.motion_num_attention_heads, ts.sketch_embedding_channels, ts.sketch_embedding_init, ts.motion_run]
    files = [Path(params.base.path) / "unet", Path(params.train_motion.out_dir) / ts.motion_run]
    if params.train_motion.runs[ts.motion_run].with_adapter:
        files.append(adapter_file(params.train_adapter.out_dir))
    return params_fingerprint(*parts, *(_file_identity(f) for f in files))


def frozen_video_unet(params: "Params", adapter_scale: float | None = None):
    """The motion run's ``UNetMotionModel`` on the base (+ domain adapter at ``adapter_scale``; None:
    scale 1 when the motion run was trained with it, as during training), frozen."""
    from animatelab.models.assemble import motion_unet

    run = params.train_sparsectrl.motion_run
    scale = (1.0 if params.train_motion.runs[run].with_adapter else 0.0) if adapter_scale is None else adapter_scale
    adapter = params.train_adapter.out_dir if scale > 0 else None
    unet2d = motion_unet(params.base.path, adapter=adapter, adapter_scale=scale)
    return unet2d, motion_unet(unet2d, Path(params.train_motion.out_dir) / run)


def new_encoder(params: "Params", unet2d: nn.Module, variant: "SparseCtrlVariant"):
    from animatelab.sparsectrl.model import build_encoder

    ts = params.train_sparsectrl
    vae_cfg = json_config(Path(params.base.path) / "vae")
    return build_encoder(unet2d, variant, len(vae_cfg["block_out_channels"]), ts.motion_num_attention_heads,
                         max(32, ts.frames), ts.sketch_embedding_channels, ts.sketch_embedding_init)


def sketch_kwargs(params: "Params", variant: "SparseCtrlVariant") -> dict[str, Any]:
    """``clip_sketches``' keyword arguments of a variant's training; the sampler reads the same values
    back from the encoder's ``sparsectrl.json`` (variant, thresholds, synth_dir)."""
    ts = params.train_sparsectrl
    return {"source": variant.sketch_source, "thresholds": tuple(ts.canny_thresholds), "synth_dir": ts.synth_dir,
            "written": params.synth_data.resolution}


def json_config(folder: Path) -> dict:
    import json

    return json.loads((folder / "config.json").read_text())


def train_sparsectrl(params: "Params", variant: str) -> dict[str, Any]:
    """Train encoder ``variant`` and write ``{out_dir}/{variant}`` (diffusers folder + info); a summary."""
    from animatelab.sparsectrl.model import save_encoder
    from animatelab.train.loop import fit
    from animatelab.utils import write_json

    ts = params.train_sparsectrl
    cfg = ts.variants[variant]
    loop = ts.loop.for_run(cfg.seed, cfg.steps)
    prepared = Path(params.prepare.out_dir) / ts.dataset if cfg.modality == "sketch" else None
    dataset = SparseClips(Path(params.encode.out_dir) / ts.dataset, ts.frames, prepared, sketch_kwargs(params, cfg))
    unet2d, unet = frozen_video_unet(params)
    model = SparseCtrlTrainee(new_encoder(params, unet2d, cfg), unet)
    out_dir = Path(ts.out_dir) / variant
    result = fit(trainable=model, compute_loss=sparse_loss_fn(model, params, cfg.modality, dataset.empty_text),
                 dataset=dataset, loop=loop, checkpoint_dir=Path(ts.checkpoint_dir) / variant,
                 fingerprint=sparsectrl_fingerprint(params, variant), run_name=f"train_sparsectrl@{variant}",
                 loss_csv=out_dir / "loss.csv")
    encoder = model.encoder.eval()
    info = {"variant": cfg.model_dump(mode="json"), "name": variant, "motion_run": ts.motion_run,
            "frames": ts.frames, "canny_thresholds": list(ts.canny_thresholds)}
    if cfg.modality == "sketch":
        info["synth_dir"] = ts.synth_dir
    save_encoder(encoder, out_dir, info)
    summary = result.summary(**info, clips=len(dataset),
                             trainable_parameters=int(sum(p.numel() for p in encoder.parameters())),
                             condition_sensitivity=condition_sensitivity(encoder, dataset, cfg.modality))
    write_json(out_dir / "train_summary.json", without_wall_clock(summary))
    return summary
