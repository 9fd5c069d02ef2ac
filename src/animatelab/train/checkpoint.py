"""Training checkpoints without pickle: safetensors for tensors, JSON for the rest.

A checkpoint is a folder ``{checkpoint_dir}/last`` holding the trainable weights, the AdamW
state, the RNG states and ``state.json`` (step, fingerprint, loss history). It is written to a
temporary folder and swapped in with renames, so a crash never leaves a half-written
checkpoint: the previous good one stays until the new one is complete.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import torch

LAST, TMP, OLD = "last", ".tmp", ".old"


@dataclass
class Checkpoint:
    step: int
    fingerprint: str
    run_name: str
    weights: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    rng: dict[str, torch.Tensor]
    extra: dict[str, Any] = field(default_factory=dict)


def safe_torch_load(path: str | Path) -> Any:
    """Read a pickle checkpoint (e.g. an official AnimateDiff ``.ckpt``) with ``weights_only=True``:
    only tensors and plain containers are rebuilt, no code runs."""
    return torch.load(Path(path), map_location="cpu", weights_only=True)


def _optimizer_to_files(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, per_param in state["state"].items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_from_files(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    for idx, values in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(directory: str | Path, ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` atomically as ``directory/last``; returns that path."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tmp, last, old = directory / TMP, directory / LAST, directory / OLD
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file({k: v.detach().cpu().contiguous() for k, v in ckpt.weights.items()}, str(tmp / "trainable.safetensors"))
    opt_tensors, opt_meta = _optimizer_to_files(ckpt.optimizer)
    save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
    save_file({k: v.contiguous() for k, v in ckpt.rng.items()}, str(tmp / "rng.safetensors"))
    meta = {"step": ckpt.step, "fingerprint": ckpt.fingerprint, "run_name": ckpt.run_name,
            "optimizer": opt_meta, "extra": ckpt.extra}
    (tmp / "state.json").write_text(json.dumps(meta))
    shutil.rmtree(old, ignore_errors=True)
    if last.exists():
        last.rename(old)
    tmp.rename(last)
    shutil.rmtree(old, ignore_errors=True)
    return last


def load_checkpoint(directory: str | Path) -> Checkpoint | None:
    """The last complete checkpoint under ``directory`` (or None)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    for folder in (directory / LAST, directory / OLD):  # .old survives a crash mid-swap
        if (folder / "state.json").is_file():
            meta = json.loads((folder / "state.json").read_text())
            return Checkpoint(
                step=meta["step"], fingerprint=meta["fingerprint"], run_name=meta["run_name"],
                weights=load_file(str(folder / "trainable.safetensors")),
                optimizer=_optimizer_from_files(load_file(str(folder / "optimizer.safetensors")), meta["optimizer"]),
                rng=load_file(str(folder / "rng.safetensors")), extra=meta.get("extra", {}),
            )
    return None


def params_fingerprint(*parts: Any) -> str:
    """A short stable hash of params (pydantic models, dicts, strings) for checkpoint matching."""
    import hashlib

    def norm(x: Any) -> Any:
        return x.model_dump(mode="json") if hasattr(x, "model_dump") else x

    blob = json.dumps([norm(p) for p in parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def save_snapshot(directory: str | Path, step: int, weights: dict[str, torch.Tensor], fingerprint: str) -> Path:
    """Weights only, as ``directory/step_NNNNNN/{trainable.safetensors,state.json}`` (atomic rename):
    the probes' "along training" analyses read these; resume never does."""
    from safetensors.torch import save_file

    final = Path(directory) / f"step_{step:06d}"
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()}, str(tmp / "trainable.safetensors"))
    (tmp / "state.json").write_text(json.dumps({"step": step, "fingerprint": fingerprint}))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


def snapshot_steps(steps: int, spec: int | Sequence[int]) -> list[int]:
    """The steps of a run of ``steps`` whose weights are kept: ``spec`` a count (that many steps spread
    evenly, the last one included) or the steps themselves (those within ``1..steps``)."""
    if not isinstance(spec, int):
        return sorted({int(s) for s in spec if 1 <= int(s) <= steps})
    return sorted({max(1, round(steps * k / spec)) for k in range(1, spec + 1)}) if spec else []
