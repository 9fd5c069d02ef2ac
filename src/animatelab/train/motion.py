"""Motion-module training: video diffusion loss on cached latents, base (+ adapter) frozen.

The loss is the official AnimateDiff objective (one timestep per video, eps-prediction, caption
dropout) on a ``UNetMotionModel``, which takes (B, C, F, h, w) and text repeated per frame.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from animatelab.outputs import content_digest, without_wall_clock
from animatelab.models.scheduler import training_scheduler
from animatelab.train.diffusion import (
    add_noise_one_timestep_per_video,
    diffusion_loss,
    diffusion_target,
    drop_captions,
)

if TYPE_CHECKING:
    from animatelab.schema.base import ObjectiveParams
    from animatelab.schema.train import TrainMotionParams
    from animatelab.train.randomness import StepRandom


def video_loss_fn(unet: torch.nn.Module, schedule: dict[str, Any], empty_text: torch.Tensor,
                  cfg_dropout: float,
                  objective: "ObjectiveParams | None" = None) -> Callable[[dict, "StepRandom"], torch.Tensor]:
    """``compute_loss(batch, rng)`` for ``fit``: batch latents (B, F, C, h, w), text (B, L, D); ``schedule``:
    the study's scheduler config (``models.scheduler.study_schedule``); ``objective``: the run's timestep
    distribution and noise prior (None: the official objective)."""
    scheduler = training_scheduler(schedule)

    def compute_loss(batch: dict, rng: "StepRandom") -> torch.Tensor:
        latents, text = batch["latents"], batch["text"]
        text = drop_captions(text, empty_text, cfg_dropout, rng)
        noisy, eps, t = add_noise_one_timestep_per_video(scheduler, latents, rng, objective)
        return video_denoising_loss(unet, scheduler, latents, noisy, eps, t, text)

    return compute_loss


def video_denoising_loss(unet: torch.nn.Module, scheduler, latents: torch.Tensor, noisy: torch.Tensor,
                         eps: torch.Tensor, t: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """The motion module's training loss on clips ``latents`` (B, F, C, h, w) noised to ``noisy`` with
    ``eps`` at ``t`` (B,), text (B, L, D): the one definition the trainer and the probes share."""
    frames = latents.shape[1]
    pred = unet(noisy.transpose(1, 2), t, encoder_hidden_states=text.repeat_interleave(frames, 0)).sample
    return diffusion_loss(pred.transpose(1, 2), diffusion_target(scheduler, latents, eps, t))


def assert_only_motion_trainable(unet: torch.nn.Module, allowed: tuple[str, ...] = ("motion_modules.",)) -> list[str]:
    """Names of the trainable parameters; raises if any lies outside the motion modules."""
    names = [n for n, p in unet.named_parameters() if p.requires_grad]
    stray = [n for n in names if not any(a in n for a in allowed)]
    if stray or not names:
        raise AssertionError(f"trainable parameters outside the motion modules: {stray[:5]}" if stray
                             else "no trainable motion-module parameter")
    return names


def motion_fingerprint(tm: "TrainMotionParams", run: str, *, schedule: dict[str, Any], base_path: str | Path,
                       adapter_dir: str | Path, extra: Any = None) -> str:
    """Hash of what determines a run's weights: its params, frames, loop, noise (``schedule``), base/adapter
    identity (the files under ``base_path`` and ``adapter_dir``; the adapter only for a with-adapter run)."""
    from animatelab.models.assemble import adapter_file
    from animatelab.train.checkpoint import params_fingerprint

    cfg = tm.runs[run]
    adapter = _file_identity(adapter_file(adapter_dir)) if cfg.with_adapter else None
    # the objective joins the hash only where it is not the official one, so a default run's fingerprint
    # (written into its checkpoint's state.json, a DVC output) is what it was before the objective existed
    objective = [] if cfg.objective.is_default() else [cfg.objective]
    run_config = cfg.model_dump(mode="json", exclude={"objective"} | ({"batch_size"} if cfg.batch_size is None else set()))
    return params_fingerprint(run_config, tm.frames, tm.loop, schedule, tm.dataset,
                              _file_identity(Path(base_path) / "unet"), adapter, extra, *objective)


def _file_identity(path: Path) -> str:
    """Content digest of a file or folder: a checkpoint survives a re-checkout (new mtimes, same bytes), and
    the fingerprint written into ``state.json`` (a DVC output) is the same on every machine."""
    return content_digest(path) if path.exists() else "missing"


def load_frozen_unet2d(base_path: str | Path, adapter_dir: str | Path | None = None, scale: float = 1.0):
    """The base UNet2DConditionModel at ``base_path``, with the domain adapter of ``adapter_dir`` merged at
    ``scale`` when given; frozen, eval."""
    from animatelab.models.assemble import motion_unet

    return motion_unet(base_path, adapter=adapter_dir, adapter_scale=scale)


def _publish_snapshots(src: Path, dst: Path) -> None:
    """Copy the weights-only snapshots (kept in the persistent checkpoint folder, so they survive a
    resume) into the run's output folder, which DVC versions and the probes read."""
    import shutil

    shutil.rmtree(dst, ignore_errors=True)
    if src.is_dir():
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".*"))


def train_motion(tm: "TrainMotionParams", run: str, *, encoded_dir: str | Path, base_path: str | Path,
                 adapter_dir: str | Path, schedule: dict[str, Any]) -> dict[str, Any]:
    """Train run ``run`` of ``tm`` (the ``train_motion`` group) on the encode cache ``encoded_dir`` over the
    base at ``base_path`` (+ the domain adapter of ``adapter_dir`` for a with-adapter run) and write its
    folder (CONTRACTS.md); ``schedule``: the study's noise schedule. Returns a summary."""
    from animatelab.data.latents import EncodedClips
    from animatelab.models.motion import build_motion_unet, save_motion
    from animatelab.parallel import is_main_process
    from animatelab.train.checkpoint import snapshot_steps
    from animatelab.train.loop import FitResult, fit, write_loss_csv
    from animatelab.utils import write_json

    if run not in tm.runs:
        raise KeyError(f"train_motion.runs has no run {run!r} (have: {', '.join(tm.runs)})")
    cfg = tm.runs[run]
    loop = tm.loop.for_run(cfg.seed, cfg.steps or None, cfg.batch_size)  # steps 0 (the untrained floor) fits nothing below
    dataset = EncodedClips(Path(encoded_dir) / tm.dataset, frames=tm.frames)
    unet2d = load_frozen_unet2d(base_path, adapter_dir if cfg.with_adapter else None)
    unet = build_motion_unet(unet2d, cfg.module, seed=cfg.seed)
    trainable = assert_only_motion_trainable(unet)
    trainable_names = set(trainable)
    out_dir = Path(tm.out_dir) / run
    if cfg.steps == 0:  # the module as initialised (RQ1's floor): nothing to fit
        (Path(tm.checkpoint_dir) / run).mkdir(parents=True, exist_ok=True)
        result = FitResult(steps=0, losses=[], state={}, loss_csv=write_loss_csv(out_dir / "loss.csv", []))
    else:
        result = fit(
            trainable=unet,
            compute_loss=video_loss_fn(unet, schedule, dataset.empty_text, loop.cfg_dropout, cfg.objective),
            dataset=dataset, loop=loop, checkpoint_dir=Path(tm.checkpoint_dir) / run,
            fingerprint=motion_fingerprint(tm, run, schedule=schedule, base_path=base_path, adapter_dir=adapter_dir),
            run_name=f"train_motion",
            loss_csv=out_dir / "loss.csv", snapshot_steps=snapshot_steps(loop.steps, tm.snapshots),
        )
    unet.eval()
    summary = result.summary(
        run=run, with_adapter=cfg.with_adapter, seed=cfg.seed, clips=len(dataset), frames=tm.frames,
        trainable_parameters=int(sum(p.numel() for n, p in unet.named_parameters() if n in trainable_names)),
        design=cfg.module.model_dump(mode="json"),
        **({} if cfg.objective.is_default() else {"objective": cfg.objective.model_dump(mode="json")}))
    if not is_main_process():  # under a multi-process launch, rank 0 alone writes the run's folder
        return summary
    _publish_snapshots(Path(tm.checkpoint_dir) / run / "snapshots", out_dir / "snapshots")
    save_motion(unet, cfg.module, out_dir, extra={"run": run, "with_adapter": cfg.with_adapter, "seed": cfg.seed})
    write_json(out_dir / "train_summary.json", without_wall_clock(summary))
    return summary
