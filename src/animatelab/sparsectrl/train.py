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

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from animatelab.data.latents import EncodedClips
from animatelab.sparsectrl.model import clip_sketches, place_keyframes
from animatelab.outputs import without_wall_clock
from animatelab.models.scheduler import training_scheduler
from animatelab.train.diffusion import (
    add_noise_one_timestep_per_video,
    diffusion_loss,
    diffusion_target,
    drop_captions,
)

if TYPE_CHECKING:
    from animatelab.sparsectrl.schema import ConditionDraw, SparseCtrlVariant, TrainSparseCtrlParams
    from animatelab.train.randomness import StepRandom


@dataclass(frozen=True)
class FrozenVideoModel:
    """The frozen video model an encoder steers (``train_sparsectrl.motion_run`` on the base): the base folder,
    the motion run's folder, the domain adapter's folder and whether the run trained with it, and the
    study's noise schedule. The stage reads them from params and passes them down."""

    base_path: str
    motion_dir: Path  # {train_motion.out_dir}/{motion_run}
    adapter_dir: str
    with_adapter: bool
    schedule: dict[str, Any]


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


def sparse_loss_fn(model: SparseCtrlTrainee, ts: "TrainSparseCtrlParams", modality: str, empty_text: torch.Tensor,
                   schedule: dict[str, Any]):
    """``compute_loss(batch, rng)`` for ``fit``: caption dropout and condition frames of ``ts`` (the
    ``train_sparsectrl`` group), noise on the study's ``schedule``."""
    scheduler = training_scheduler(schedule)

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


def sparsectrl_fingerprint(ts: "TrainSparseCtrlParams", variant: str, video: FrozenVideoModel) -> str:
    """Hash of what determines an encoder's weights: its params (``ts``, the ``train_sparsectrl`` group),
    base, adapter and motion module (``video``)."""
    from animatelab.models.assemble import adapter_file
    from animatelab.train.checkpoint import params_fingerprint
    from animatelab.train.motion import _file_identity

    parts = [ts.variants[variant], ts.frames, ts.loop, video.schedule, ts.dataset, ts.condition, ts.canny_thresholds,
             ts.motion_num_attention_heads, ts.sketch_embedding_channels, ts.sketch_embedding_init, ts.motion_run]
    files = [Path(video.base_path) / "unet", Path(video.motion_dir)]
    if video.with_adapter:
        files.append(adapter_file(video.adapter_dir))
    return params_fingerprint(*parts, *(_file_identity(f) for f in files))


def frozen_video_unet(video: FrozenVideoModel, adapter_scale: float | None = None):
    """``(unet2d, UNetMotionModel)``: the motion run of ``video`` on the base (+ domain adapter at
    ``adapter_scale``; None: scale 1 when the motion run was trained with it, as during training), frozen."""
    from animatelab.models.assemble import motion_unet

    scale = (1.0 if video.with_adapter else 0.0) if adapter_scale is None else adapter_scale
    adapter = video.adapter_dir if scale > 0 else None
    unet2d = motion_unet(video.base_path, adapter=adapter, adapter_scale=scale)
    return unet2d, motion_unet(unet2d, Path(video.motion_dir))


def new_encoder(ts: "TrainSparseCtrlParams", base_path: str | Path, unet2d: nn.Module, variant: "SparseCtrlVariant"):
    """A fresh encoder for ``variant`` on ``unet2d`` (the base at ``base_path``: its VAE's depth sets the
    condition embedding's), shaped by ``ts`` (the ``train_sparsectrl`` group)."""
    from animatelab.sparsectrl.model import build_encoder

    vae_cfg = json_config(Path(base_path) / "vae")
    return build_encoder(unet2d, variant, len(vae_cfg["block_out_channels"]), ts.motion_num_attention_heads,
                         max(32, ts.frames), ts.sketch_embedding_channels, ts.sketch_embedding_init)


def sketch_kwargs(ts: "TrainSparseCtrlParams", variant: "SparseCtrlVariant", written: int) -> dict[str, Any]:
    """``clip_sketches``' keyword arguments of a variant's training (``written``: the synthetic world's
    resolution, ``synth_data.resolution``); the sampler reads the same values back from the encoder's
    ``sparsectrl.json`` (variant, thresholds, synth_dir)."""
    return {"source": variant.sketch_source, "thresholds": tuple(ts.canny_thresholds), "synth_dir": ts.synth_dir,
            "written": written}


def json_config(folder: Path) -> dict:
    import json

    return json.loads((folder / "config.json").read_text())


def train_sparsectrl(ts: "TrainSparseCtrlParams", variant: str, video: FrozenVideoModel, *, encoded_dir: str | Path,
                     prepared_dir: str | Path, synth_resolution: int) -> dict[str, Any]:
    """Train encoder ``variant`` of ``ts`` (the ``train_sparsectrl`` group) on ``video`` and write
    ``{out_dir}/{variant}`` (diffusers folder + info); a summary. ``encoded_dir`` / ``prepared_dir``: the
    encode cache and the prepared clips (sketch variants) holding ``ts.dataset``; ``synth_resolution``: the
    synthetic world's (``synth_data.resolution``), at which ground-truth sketches are drawn."""
    from animatelab.sparsectrl.model import save_encoder
    from animatelab.train.loop import fit
    from animatelab.utils import write_json

    cfg = ts.variants[variant]
    loop = ts.loop.for_run(cfg.seed, cfg.steps)
    prepared = Path(prepared_dir) / ts.dataset if cfg.modality == "sketch" else None
    dataset = SparseClips(Path(encoded_dir) / ts.dataset, ts.frames, prepared, sketch_kwargs(ts, cfg, synth_resolution))
    unet2d, unet = frozen_video_unet(video)
    model = SparseCtrlTrainee(new_encoder(ts, video.base_path, unet2d, cfg), unet)
    out_dir = Path(ts.out_dir) / variant
    result = fit(trainable=model, compute_loss=sparse_loss_fn(model, ts, cfg.modality, dataset.empty_text, video.schedule),
                 dataset=dataset, loop=loop, checkpoint_dir=Path(ts.checkpoint_dir) / variant,
                 fingerprint=sparsectrl_fingerprint(ts, variant, video), run_name=f"train_sparsectrl@{variant}",
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
