"""The one training loop every trainer uses (base, domain adapter, motion module, MotionLoRA).

Trainers supply the module whose ``requires_grad`` parameters train and a ``compute_loss``
closure; ``fit`` owns everything else: accelerate (mixed precision, multi-GPU/multi-node with
``accelerate launch``), AdamW with warm-up, gradient clipping, deterministic data and noise
sampling, atomic checkpoints, bit-exact resume, a NaN guard, tqdm and MLflow/DVC loss logs.

Determinism: a data generator seeded by ``loop.seed`` draws each global batch (its state is
checkpointed); the :class:`StepRandom` handed to ``compute_loss`` is re-seeded from
``(seed, step)`` every step, so it needs no state, and draws the noise of the *global* batch on
every rank before slicing out this rank's rows. A run killed at any step and resumed ends with
the same weights as an uninterrupted one, and N processes x batch b train exactly as one
process x batch N*b (up to float reduction order), noise included.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.data import Dataset, default_collate

from animatelab.parallel import rank_slice
from animatelab.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint, save_snapshot
from animatelab.train.randomness import StepRandom, step_seed

if TYPE_CHECKING:
    from accelerate import Accelerator

    from animatelab.config import LoopParams

log = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN/inf; raised before the optimizer step, so the last checkpoint is intact."""

    def __init__(self, run_name: str, step: int, value: float) -> None:
        super().__init__(f"{run_name}: non-finite loss {value} at step {step}; "
                         "no optimizer step or checkpoint was written (resume restarts from the last good one)")
        self.run_name, self.step, self.value = run_name, step, value


class TensorDict(Dataset):
    """Rows of equally long tensors as dicts (``{"pixels": ..., "ids": ...}``)."""

    def __init__(self, **tensors: torch.Tensor) -> None:
        self.tensors = tensors
        self.n = len(next(iter(tensors.values())))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


@dataclass
class FitResult:
    steps: int  # optimizer steps done in total (including resumed ones)
    losses: list[float]  # one per step, from step 1
    state: dict[str, torch.Tensor]  # trainable parameters at the end (cpu copies)
    resumed_from: int = 0
    loss_csv: Path | None = None
    seconds: float = 0.0

    def summary(self, **info: Any) -> dict[str, Any]:
        """What a trainer reports: ``info``, steps, resume point, the last 20 steps' mean loss and durations
        (``seconds*``: MLflow only, ``animatelab.outputs`` keeps them out of the written summary)."""
        tail = self.losses[-20:]
        return {**info, "steps": self.steps, "resumed_from": self.resumed_from,
                "final_loss": sum(tail) / len(tail) if tail else None, "seconds": round(self.seconds, 2),
                "seconds_per_step": round(self.seconds / max(1, self.steps - self.resumed_from), 4)}


_ACCELERATORS: dict[str, "Accelerator"] = {}


def get_accelerator(loop: "LoopParams") -> "Accelerator":
    """The process's accelerate ``Accelerator`` (one per mixed-precision mode); callers use its
    ``device`` to place frozen modules before ``fit``."""
    from accelerate import Accelerator

    if loop.mixed_precision not in _ACCELERATORS:
        from accelerate import DistributedDataParallelKwargs

        # find_unused_parameters: a trainer may leave some trainable tensors out of a step's graph
        # (e.g. a text encoder's unused pooler); DDP would otherwise wait for their gradients forever
        ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
        _ACCELERATORS[loop.mixed_precision] = Accelerator(mixed_precision=loop.mixed_precision, kwargs_handlers=[ddp])
    return _ACCELERATORS[loop.mixed_precision]


class _LossModule(nn.Module):
    """``compute_loss`` as the forward of a module holding the trainable one, so that DDP (which
    syncs gradients of what runs inside its wrapper's forward) can wrap it."""

    def __init__(self, trainable: nn.Module, compute_loss: Callable[[dict, "StepRandom"], torch.Tensor]) -> None:
        super().__init__()
        self.trainable = trainable
        self.compute_loss = compute_loss

    def forward(self, batch: dict, rng: "StepRandom") -> torch.Tensor:
        return self.compute_loss(batch, rng)


def trainable_parameters(module: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(n, p) for n, p in module.named_parameters() if p.requires_grad]


def param_groups(named: list[tuple[str, nn.Parameter]], multipliers: dict[str, float]) -> list[dict[str, Any]]:
    """AdamW groups, one per lr multiplier (``LoopParams.lr_multipliers``; the first key a name contains
    wins, the rest train at 1x); each group keeps its ``lr_multiplier`` for the schedule."""
    for key, value in multipliers.items():
        if value <= 0:
            raise ValueError(f"lr_multipliers[{key!r}] = {value}: must be > 0")
        if not any(key in n for n, _ in named):
            raise ValueError(f"lr_multipliers key {key!r} matches no trainable parameter")
    by_mult: dict[float, list[nn.Parameter]] = {}
    for n, p in named:
        mult = next((v for k, v in multipliers.items() if k in n), 1.0)
        by_mult.setdefault(mult, []).append(p)
    return [{"params": ps, "lr_multiplier": m} for m, ps in by_mult.items()]


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def lr_factor(step: int, loop: "LoopParams") -> float:
    """Linear warm-up over ``warmup_steps``, then constant or a cosine decay to ``min_lr_ratio`` at the
    last step (a short run ends at a low learning rate: better weights for the same number of steps)."""
    warm = loop.warmup_steps
    if warm > 0 and step < warm:
        return (step + 1) / warm
    if loop.lr_schedule == "constant":
        return 1.0
    progress = (step - warm) / max(1, loop.steps - 1 - warm)
    return loop.min_lr_ratio + (1 - loop.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def write_loss_csv(path: str | Path, losses: list[float]) -> Path:
    """DVC plots file: ``step,loss`` one row per optimizer step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["step", "loss"])
        w.writerows((i + 1, f"{v:.6g}") for i, v in enumerate(losses))
    return path


def loss_key(component: str | None = None) -> str:
    """The one MLflow name of a training loss, so one chart compares every stage's runs: ``train/loss``
    for the model a stage trains, ``train/{component}_loss`` where a stage trains several (the base's
    ``vae``, the evaluation nets)."""
    return f"train/{component}_loss" if component else "train/loss"


def lr_key(component: str | None = None) -> str:
    """The learning-rate metric beside ``loss_key(component)``."""
    return f"train/{component}_lr" if component else "train/lr"


def lr_changes(loop: "LoopParams") -> bool:
    """Whether the loop's learning rate moves (warm-up or a decay): a constant lr is a param, not a curve."""
    return loop.warmup_steps > 0 or loop.lr_schedule != "constant"


def _log_mlflow(metrics: dict[str, float], step: int) -> None:
    """Log to the active MLflow run; a failure warns (a real run must not die of logging) unless
    ``ANIMATELAB_STRICT_TRACKING=1`` (set by the tests), where it raises so a bad name is caught."""
    try:
        import mlflow

        if mlflow.active_run() is not None:
            mlflow.log_metrics(metrics, step=step)
    except Exception as err:
        if os.environ.get("ANIMATELAB_STRICT_TRACKING") == "1":
            raise
        log.warning("mlflow logging failed: %s", err)


def fit(
    *,
    trainable: nn.Module,
    compute_loss: Callable[[dict, StepRandom], torch.Tensor],
    dataset: Dataset,
    loop: "LoopParams",
    checkpoint_dir: str | Path,
    fingerprint: str,
    run_name: str,
    collate_fn: Callable[[list], Any] | None = None,
    loss_csv: str | Path | None = None,
    component: str | None = None,
    snapshot_steps: Collection[int] = (),
) -> FitResult:
    """Train the ``requires_grad`` parameters of ``trainable`` for ``loop.steps`` steps.

    ``compute_loss(batch, rng)`` gets a collated batch already on the accelerator's device and a
    :class:`StepRandom` for noise/timesteps/caption dropout. Resumes from
    ``checkpoint_dir`` when its fingerprint matches. ``batch_size`` is per process.
    At each of ``snapshot_steps`` the trainable weights are also kept in
    ``checkpoint_dir/snapshots/step_NNNNNN`` (weights only), for analyses along training. MLflow gets
    the mean loss of every ``log_every`` steps as ``loss_key(component)`` (and the lr, where it moves).
    """
    from tqdm.auto import tqdm

    acc = get_accelerator(loop)
    device, rank, world = acc.device, acc.process_index, acc.num_processes
    checkpoint_dir = Path(checkpoint_dir)
    collate = collate_fn or default_collate
    trainable.to(device)
    trainable.train()
    if loop.gradient_checkpointing:
        if hasattr(trainable, "enable_gradient_checkpointing"):
            trainable.enable_gradient_checkpointing()
        else:
            log.warning("%s: gradient_checkpointing requested but %s has no enable_gradient_checkpointing()",
                        run_name, type(trainable).__name__)
    named = trainable_parameters(trainable)
    if not named:
        raise ValueError(f"{run_name}: no parameter of the trainable module has requires_grad=True")
    params = [p for _, p in named]
    groups = param_groups(named, loop.lr_multipliers) if loop.lr_multipliers else params
    optimizer = torch.optim.AdamW(groups, lr=loop.lr, betas=tuple(loop.adam_betas),
                                  weight_decay=loop.weight_decay, eps=loop.adam_eps)
    data_gen = torch.Generator().manual_seed(loop.seed)
    torch.manual_seed(loop.seed)
    start, losses = 0, []
    ckpt = load_checkpoint(checkpoint_dir)
    if ckpt is not None and ckpt.fingerprint == fingerprint:
        with torch.no_grad():
            for n, p in named:
                p.copy_(ckpt.weights[n].to(p))
        optimizer.load_state_dict(ckpt.optimizer)
        data_gen.set_state(ckpt.rng["data"])
        torch.set_rng_state(ckpt.rng["torch"])
        start, losses = ckpt.step, list(ckpt.extra.get("losses", []))
        print(f"[{run_name}] resuming from checkpoint at step {start}/{loop.steps}")
    elif ckpt is not None:
        print(f"[{run_name}] checkpoint in {checkpoint_dir} has another fingerprint "
              f"({ckpt.fingerprint} != {fingerprint}): starting fresh")
    if start == 0 and acc.is_main_process:  # snapshots of another run's history must not mix in
        shutil.rmtree(checkpoint_dir / "snapshots", ignore_errors=True)
    optimizer = acc.prepare(optimizer)
    # DDP through accelerate: the loss closure runs inside a module's forward, so DDP's bucketed
    # all-reduce overlaps with backward (with one process this is the bare closure, unchanged)
    runner: nn.Module = _LossModule(trainable, compute_loss)
    if world > 1:
        runner = acc.prepare(runner)
    n = len(dataset)  # type: ignore[arg-type]
    if n == 0:
        raise ValueError(f"{run_name}: empty dataset")

    def save(step: int) -> None:
        if acc.is_main_process:
            rng = {"data": data_gen.get_state(), "torch": torch.get_rng_state()}
            state = {k: v for k, v in named}
            save_checkpoint(checkpoint_dir, Checkpoint(
                step=step, fingerprint=fingerprint, run_name=run_name, weights=state,
                optimizer=optimizer.optimizer.state_dict(), rng=rng, extra={"losses": losses}))
            if loss_csv is not None:
                write_loss_csv(loss_csv, losses)
        acc.wait_for_everyone()

    t0 = time.perf_counter()
    bar = tqdm(total=loop.steps, initial=start, desc=run_name, disable=not acc.is_main_process, dynamic_ncols=True)
    window: list[float] = []
    for step in range(start, loop.steps):
        index = torch.randint(n, (loop.batch_size * world,), generator=data_gen).tolist()
        batch = _to_device(collate([dataset[i] for i in rank_slice(index, rank, world)]), device)
        rng = StepRandom(step_seed(loop.seed, step), loop.batch_size * world, device, rank, world)
        for group in optimizer.param_groups:
            group["lr"] = loop.lr * group.get("lr_multiplier", 1.0) * lr_factor(step, loop)
        with acc.autocast():
            loss = runner(batch, rng)
        # the global batch's loss: logged, and the NaN guard stops every rank at the same step
        value = float(acc.reduce(loss.detach().clone(), reduction="mean") if world > 1 else loss.detach())
        if not math.isfinite(value):
            bar.close()
            raise NonFiniteLossError(run_name, step + 1, value)
        acc.backward(loss)
        if loop.grad_clip:
            acc.clip_grad_norm_(params, loop.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(value)
        window.append(value)
        done = step + 1
        elapsed = time.perf_counter() - t0
        bar.update(1)
        bar.set_postfix(loss=f"{value:.4f}", samples_s=f"{(done - start) * loop.batch_size * world / elapsed:.0f}")
        if done % loop.log_every == 0 or done == loop.steps:
            logged = {loss_key(component): sum(window) / len(window)}
            if lr_changes(loop):
                logged[lr_key(component)] = optimizer.param_groups[0]["lr"]
            _log_mlflow(logged, done)
            window = []
        if done in snapshot_steps and acc.is_main_process:
            save_snapshot(checkpoint_dir / "snapshots", done, dict(named), fingerprint)
        if done % loop.checkpoint_every == 0 or done == loop.steps:
            save(done)
    bar.close()
    if loss_csv is not None and acc.is_main_process:
        write_loss_csv(loss_csv, losses)
    state = {k: v.detach().cpu().clone() for k, v in named}
    return FitResult(steps=max(start, loop.steps), losses=losses, state=state, resumed_from=start,
                     loss_csv=Path(loss_csv) if loss_csv is not None else None,
                     seconds=time.perf_counter() - t0)
