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
    from animatelab.config import Params

EDGES_FILE = "edges.npz"  # edges uint8 (N, F, H, W) 0/255, videoids
CONTROL_FILE = "control.json"


def samples_folder(params: "Params", target: str) -> Path:
    sc = params.sample_controlnet
    return scale_folder(sc.out_dir, target, sc.adapter_scale)


def baseline_folder(params: "Params", target: str) -> Path:
    """The uncontrolled samples with the same prompts and initial noise: ``sample``'s folder of the
    motion run (AnimateDiff) or ``sample_moonshot``'s of the mode (MoonShot), at the same adapter scale."""
    t, scale = params.sample_controlnet.targets[target], float(params.sample_controlnet.adapter_scale)
    if t.model == "animatediff":
        return scale_folder(params.sample.out_dir, t.motion_run, scale)
    return scale_folder(params.sample_moonshot.out_dir, t.moonshot_mode, scale)
