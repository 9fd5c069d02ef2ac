"""Where ``sample_moonshot`` writes and ``evaluate_moonshot`` reads: one place for the layout.

A mode's folder is the sample stage's (``videos.npy``, ``latents.npy``, ``prompts.json``, ``mp4/``,
``gif/``, read by ``evaluate`` unchanged) under ``{out_dir}/{mode}/scale_{adapter_scale}``, plus two
files of its own: the conditioning frames with their VAE reconstructions, and the mode's settings.
"""

from __future__ import annotations

from pathlib import Path

from animatelab.runs import scale_folder

CONDITION_FILE = "condition.npz"  # frames (N, H, W, 3) uint8, reconstruction (N, H, W, 3) uint8
MODE_FILE = "mode.json"


def samples_folder(out_dir: str | Path, mode: str, adapter_scale: float) -> Path:
    return scale_folder(out_dir, mode, adapter_scale)
