"""Where ``sample_controlnet`` writes and ``evaluate_controlnet`` reads, and the uncontrolled baseline.

A target's folder is the sample stage's (``videos.npy``, ``latents.npy``, ``prompts.json``, ``mp4/``,
``gif/``, read by ``evaluate`` unchanged) under ``{sample_controlnet.out_dir}/{target}/scale_{adapter_scale}``,
plus the condition edges and the settings (seeds and the baseline folder included).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from animatelab.runs import scale_folder

if TYPE_CHECKING:
    from animatelab.controlnet.schema import ControlTarget

EDGES_FILE = "edges.npz"  # edges uint8 (N, F, H, W) 0/255, videoids
CONTROL_FILE = "control.json"


def samples_folder(out_dir: str | Path, target: str, adapter_scale: float) -> Path:
    """``{sample_controlnet.out_dir}/{target}/scale_{adapter_scale}``."""
    return scale_folder(out_dir, target, adapter_scale)


def baseline_folder(target: "ControlTarget", adapter_scale: float, sample_dir: str | Path,
                    moonshot_dir: str | Path) -> Path:
    """The uncontrolled samples with the same prompts and initial noise: ``sample``'s folder
    (``sample_dir``) of the motion run (AnimateDiff) or ``sample_moonshot``'s (``moonshot_dir``) of the
    mode (MoonShot), at the same adapter scale."""
    scale = float(adapter_scale)
    if target.model == "animatediff":
        return scale_folder(sample_dir, target.motion_run, scale)
    return scale_folder(moonshot_dir, target.moonshot_mode, scale)
