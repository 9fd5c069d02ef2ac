"""MotionLoRA training: the trained motion module frozen, a LoRA on its temporal attention learns a
motion from a few clips: the first N clips of the camera-motion set (RQ3), or the clips of one
direction (RQ5, one LoRA per direction)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from animatelab.outputs import without_wall_clock

if TYPE_CHECKING:
    from animatelab.schema.train import (
        MotionLoraTraining,
        TrainDirectionLoraParams,
        TrainMotionLoraParams,
        TrainMotionParams,
    )


def lora_dir(out_dir: str | Path, n: int) -> Path:
    """``{train_motion_lora.out_dir}/n{n}``: the MotionLoRA of the first ``n`` clips."""
    return Path(out_dir) / f"n{n}"


def direction_lora_dir(out_dir: str | Path, name: str) -> Path:
    """``{train_direction_lora.out_dir}/{name}``: the MotionLoRA of direction ``name``."""
    return Path(out_dir) / name


def clips_with_phrase(meta: list[dict[str, Any]], phrase: str, limit: int) -> list[int]:
    """Indices of the first ``limit`` clips whose caption contains ``phrase`` (case-insensitive)."""
    phrase = phrase.lower()
    return [i for i, m in enumerate(meta) if phrase in str(m.get("caption", "")).lower()][:limit]


def _train_lora(p: "MotionLoraTraining", indices: list[int], out: Path, name: str, stage: str, *,
                motion: "TrainMotionParams", encoded_dir: str | Path, base_path: str, adapter_dir: str | Path,
                schedule: dict[str, Any]) -> dict[str, Any]:
    """Train a LoRA on the temporal attention of ``p.motion_run`` (a run of ``motion``, the ``train_motion``
    group) over ``indices`` of ``p.dataset`` in the encode cache ``encoded_dir``; the base at ``base_path``,
    the domain adapter of ``adapter_dir`` merged when the motion run trained with it, ``schedule`` the
    study's noise schedule."""
    from animatelab.data.latents import EncodedClips
    from animatelab.models.assemble import motion_unet
    from animatelab.models.motion_lora import add_motion_lora, save_motion_lora
    from animatelab.train.checkpoint import params_fingerprint
    from animatelab.train.loop import fit
    from animatelab.train.motion import motion_fingerprint, video_loss_fn
    from animatelab.utils import write_json

    tm = motion
    if p.motion_run not in tm.runs:
        raise KeyError(f"{stage}.motion_run {p.motion_run!r} is not a train_motion run")
    folder = Path(encoded_dir) / p.dataset
    dataset = EncodedClips(folder, frames=tm.frames, indices=indices)
    adapter = adapter_dir if tm.runs[p.motion_run].with_adapter else None
    unet = motion_unet(base_path, Path(tm.out_dir) / p.motion_run, adapter, adapter_scale=1.0)
    add_motion_lora(unet, p.lora, seed=p.loop.seed)
    stray = [k for k, v in unet.named_parameters() if v.requires_grad and ("lora_" not in k or "motion_modules." not in k)]
    if stray:
        raise AssertionError(f"MotionLoRA would train non-LoRA or spatial parameters: {stray[:5]}")
    motion_id = motion_fingerprint(tm, p.motion_run, schedule=schedule, base_path=base_path, adapter_dir=adapter_dir)
    fingerprint = params_fingerprint(p.lora, p.loop, schedule, p.dataset, indices, motion_id)
    result = fit(trainable=unet, compute_loss=video_loss_fn(unet, schedule, dataset.empty_text, p.loop.cfg_dropout),
                 dataset=dataset, loop=p.loop, checkpoint_dir=Path(p.checkpoint_dir) / name,
                 fingerprint=fingerprint, run_name=f"{stage}@{name}", loss_csv=out / "loss.csv")
    save_motion_lora(unet, out)
    summary = result.summary(n_videos=len(indices), motion_run=p.motion_run, rank=p.lora.rank,
                             videoids=[m.get("videoid") for m in dataset.meta])
    write_json(out / "train_summary.json", without_wall_clock(summary))
    return summary


def train_motion_lora(p: "TrainMotionLoraParams", n: int, *, motion: "TrainMotionParams", encoded_dir: str | Path,
                      base_path: str, adapter_dir: str | Path, schedule: dict[str, Any]) -> dict[str, Any]:
    """RQ3: the MotionLoRA of the first ``n`` camera-motion clips, written to ``{out_dir}/n{n}`` (``p``: the
    ``train_motion_lora`` group; the rest as :func:`_train_lora` takes them)."""
    from animatelab.data.latents import load_encoded

    folder = Path(encoded_dir) / p.dataset
    available = len(load_encoded(folder)[3])
    if n > available:
        raise ValueError(f"train_motion_lora: {n} videos requested, {folder} holds {available}")
    return _train_lora(p, list(range(n)), lora_dir(p.out_dir, n), f"n{n}", "train_motion_lora", motion=motion,
                       encoded_dir=encoded_dir, base_path=base_path, adapter_dir=adapter_dir, schedule=schedule)


def train_direction_lora(p: "TrainDirectionLoraParams", name: str, *, motion: "TrainMotionParams",
                         encoded_dir: str | Path, base_path: str, adapter_dir: str | Path,
                         schedule: dict[str, Any]) -> dict[str, Any]:
    """RQ5: a MotionLoRA on the clips whose caption names direction ``name``, written to ``{out_dir}/{name}``
    (``p``: the ``train_direction_lora`` group; the rest as :func:`_train_lora` takes them)."""
    from animatelab.data.latents import load_encoded

    folder = Path(encoded_dir) / p.dataset
    phrase = p.directions[name]
    indices = clips_with_phrase(load_encoded(folder)[3], phrase, p.videos)
    if not indices:
        raise ValueError(f"train_direction_lora.directions.{name}: no caption in {folder} contains {phrase!r}")
    summary = _train_lora(p, indices, direction_lora_dir(p.out_dir, name), name, "train_direction_lora", motion=motion,
                          encoded_dir=encoded_dir, base_path=base_path, adapter_dir=adapter_dir, schedule=schedule)
    return {**summary, "direction": name, "phrase": phrase}
