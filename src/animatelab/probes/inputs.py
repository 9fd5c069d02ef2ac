"""Inputs of every probe: real encoded clips and a motion UNet per run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from animatelab.models.assemble import load_snapshot_weights  # noqa: F401  (probes.run imports it from here)


@dataclass
class Clips:
    """Encoded clips: ``latents`` (N, C, F, h, w) in the UNet's layout and ``text`` (N, L, D)."""

    latents: torch.Tensor
    text: torch.Tensor

    def __len__(self) -> int:
        return len(self.latents)

    def batches(self, size: int):
        for i in range(0, len(self), size):
            yield self.latents[i : i + size], self.text[i : i + size]


def load_clips(folder: str | Path, num_clips: int, frames: int, seed: int) -> Clips:
    """A seeded subset of ``data/encoded/{dataset}`` shards (latents already scaled, CONTRACTS.md)."""
    from safetensors.torch import load_file

    shards = sorted(Path(folder).glob("shard-*.safetensors"))
    if not shards:
        raise FileNotFoundError(f"no encoded shards in {folder}")
    parts = [load_file(p) for p in shards]
    latents = torch.cat([p["latents"] for p in parts]).float()
    text = torch.cat([p["text"] for p in parts]).float()
    if latents.shape[1] < frames:
        raise ValueError(f"{folder}: clips have {latents.shape[1]} frames, probe needs {frames}")
    rng = np.random.default_rng(seed)
    take = np.sort(rng.choice(len(latents), size=min(num_clips, len(latents)), replace=False))
    lat = latents[take, :frames].permute(0, 2, 1, 3, 4).contiguous()  # (N, F, C, h, w) -> (N, C, F, h, w)
    return Clips(lat, text[take])


def load_motion_unet(
    base_path: str | Path,
    motion_dir: str | Path,
    domain_adapter: str | Path | None = None,
    adapter_scale: float = 0.0,
    checkpoint: str | Path | None = None,
):
    """Frozen base UNet (+ the domain adapter *merged* at ``adapter_scale``, exactly as training and
    sampling assemble it) + a saved run of any design, optionally with a snapshot's weights in place
    of the final ones.

    ``adapter_scale`` 0 is the inference setting (adapter dropped); 1 the training setting of a
    with-adapter run.
    """
    from animatelab.models.assemble import motion_unet

    adapter = domain_adapter if domain_adapter and Path(domain_adapter).is_file() else None
    return motion_unet(base_path, motion_dir, adapter, adapter_scale, snapshot=checkpoint)


def find_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """``(step, dir)`` of the saved training states under ``folder``.

    Two layouts: ``animatelab.train.checkpoint`` folders (``state.json`` + ``trainable.safetensors``;
    the trainer keeps only the latest) and MotionAdapter folders whose name holds the step.
    """
    import json
    import re

    out = []
    for state in Path(folder).glob("**/state.json"):
        if (state.parent / "trainable.safetensors").is_file() and not state.parent.name.startswith("."):
            out.append((int(json.loads(state.read_text())["step"]), state.parent))
    for cfg in Path(folder).glob("**/config.json"):
        found = re.findall(r"\d+", cfg.parent.name)
        if found and any(cfg.parent.glob("*.safetensors")):
            out.append((int(found[-1]), cfg.parent))
    return sorted(out)


def noisy(latents: torch.Tensor, scheduler, timestep: int, generator: torch.Generator):
    """``(x_t, eps, t)`` for one timestep shared by the batch."""
    eps = torch.randn(latents.shape, generator=generator)
    t = torch.full((len(latents),), timestep, dtype=torch.long)
    return scheduler.add_noise(latents, eps, t), eps, t


def predict(unet, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Noise prediction for (B, C, F, h, w) clips; diffusers 0.42's ``UNetMotionModel`` wants the
    text states already repeated per frame (the pipeline does it), so this does it here."""
    return unet(x, t, encoder_hidden_states=text.repeat_interleave(x.shape[2], dim=0)).sample
