"""RQ6 (SparseCtrl) figures and findings, from ``metrics/sparsectrl_{variant}.json`` and the samples.

A metrics file holds groups ``k{K}`` (controlled), ``baseline_k{K}`` (the same prompts and noise
without control), ``control_minus_baseline_k{K}`` (paired differences) and ``real_heldout_k{K}``
(the tracker on the real clips: the floor of every position error).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from animatelab.figures.metrics import Metric
from animatelab.figures.style import CYCLE, figure
from animatelab.runs import keyframes_name, parse_keyframes, sparsectrl_name

DIST = re.compile(r"^traj_err_d(\d+)$")


def load(metrics_dir: str | Path, variants: list[str]) -> dict[str, dict]:
    """``{variant: metrics file}`` for the variants whose file exists."""
    out = {}
    for v in variants:
        path = Path(metrics_dir) / f"{sparsectrl_name(v)}.json"
        if path.is_file():
            out[v] = json.loads(path.read_text())
    return out


def conditioning_scales(metrics_dir: str | Path, variants: list[str]) -> list[float]:
    """The distinct ``controlnet_conditioning_scale`` values the variants were sampled at, as their meta
    files record them (a file that records none is left out rather than guessed)."""
    metas = [json.loads(m.read_text()) for v in variants
             if (m := Path(metrics_dir) / f"{sparsectrl_name(v)}.meta.json").is_file()]
    return sorted({float(m["conditioning_scale"]) for m in metas if "conditioning_scale" in m})


def keyframe_counts(data: dict) -> list[int]:
    return sorted(k for g in data if (k := parse_keyframes(g)) is not None)


def curve(group: dict) -> tuple[list[int], list[Metric]]:
    """Position error against distance from the nearest keyframe (``traj_err_d{d}``)."""
    pts = sorted((int(m[1]), Metric.from_dict(v)) for k, v in group.items() if (m := DIST.match(k)))
    pts = [(d, m) for d, m in pts if np.isfinite(m.mean)]
    return [d for d, _ in pts], [m for _, m in pts]


def _errorbar(ax, group: dict, label: str, colour: str, ls: str = "-", offset: float = 0.0) -> None:
    d, ms = curve(group)
    if not d:
        return
    y = np.array([m.mean for m in ms])
    err = np.array([[m.mean - m.ci_low for m in ms], [m.ci_high - m.mean for m in ms]]).clip(min=0)
    ax.errorbar(np.array(d) + offset, y, yerr=err, fmt="o" + ls, color=colour, ms=2.5, label=label, lw=0.9)


def propagation_figure(data: dict[str, dict], width: float, main: str = "rgb"):
    """Left: the main encoder at each keyframe count against its no-control baseline. Right: every
    variant at the keyframe count they share."""
    if not data:
        return None
    fig, axes = figure(width, 0.42, ncols=2, squeeze=False, sharey=True)
    left, right = axes[0]
    if main in data:
        for i, k in enumerate(keyframe_counts(data[main])):
            _errorbar(left, data[main][keyframes_name(k)], f"{main}, {k} keyframe{'s' * (k > 1)}", CYCLE[i],
                      offset=0.08 * i)
        ks = keyframe_counts(data[main])
        if ks:
            _errorbar(left, data[main][f"baseline_{keyframes_name(ks[0])}"], "no control", "0.4", "--")
    shared = set.intersection(*(set(keyframe_counts(d)) for d in data.values()))
    if shared:
        k = min(shared, key=lambda x: abs(x - 2))
        for i, (v, d) in enumerate(data.items()):
            _errorbar(right, d[keyframes_name(k)], v, CYCLE[i % len(CYCLE)], offset=0.08 * i)
        _errorbar(right, next(iter(data.values()))[f"baseline_{keyframes_name(k)}"], "no control", "0.4", "--")
        right.set_title(f"{k} keyframes, by encoder")
    left.set_title(f"{main} encoder")
    left.set_ylabel("object position error (px)")
    for ax in (left, right):
        ax.set_xlabel("frames from the nearest keyframe")
        ax.legend(frameon=False, fontsize=5)
    fig.tight_layout(w_pad=0.5)
    return fig


def strip_figure(samples_dir: str | Path, variant: str, keyframes: int, baseline_dir: str | Path, width: float,
                 video: int = 0):
    """One held-out prompt: the controlled video (conditioned frames boxed) above the same prompt and
    noise without control."""
    folder = Path(samples_dir) / sparsectrl_name(variant) / keyframes_name(keyframes)
    base = Path(baseline_dir) / "videos.npy"
    if not (folder / "videos.npy").is_file() or not base.is_file():
        return None
    ours, theirs = np.load(folder / "videos.npy")[video], np.load(base)[video]
    info = json.loads((folder / "keyframes.json").read_text()) if (folder / "keyframes.json").is_file() else {}
    cond = set(info.get("indices", []))  # shared by every video of the pass
    frames = ours.shape[0]
    fig, axes = figure(width, 2 / frames + 0.25 / width, nrows=2, ncols=frames, squeeze=False)  # square cells
    for f in range(frames):
        for row, (video_, name) in enumerate(((ours, f"{variant}, {keyframes} kf"), (theirs, "no control"))):
            ax = axes[row, f]
            ax.imshow(video_[f], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(row == 0 and f in cond)
                spine.set_color("#ff7f0e")
                spine.set_linewidth(1.5)
            if f == 0:
                ax.set_ylabel(name, fontsize=5)
        axes[0, f].set_title(str(f), fontsize=5)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return fig


def findings(data: dict[str, dict]) -> list[str]:
    """One line per variant and keyframe count: control vs no control at conditioned and free frames."""
    lines = []
    for v, d in data.items():
        for k in keyframe_counts(d):
            g = keyframes_name(k)
            parts = []
            for m in ("pos_err_cond", "pos_err_free"):
                ours, base = d[g].get(m), d[f"baseline_{g}"].get(m)
                diff = d.get(f"control_minus_baseline_{g}", {}).get(m)
                if ours and base:
                    text = f"`{m}` {Metric.from_dict(ours).text()} vs {Metric.from_dict(base).text()} without control"
                    if diff:
                        text += f" (paired difference {Metric.from_dict(diff).text()})"
                    parts.append(text)
            if "psnr_cond" in d[g]:
                parts.append(f"PSNR at keyframes {Metric.from_dict(d[g]['psnr_cond']).text()} dB "
                             f"(no control {Metric.from_dict(d[f'baseline_{g}']['psnr_cond']).text()})"
                             if "psnr_cond" in d[f"baseline_{g}"] else
                             f"PSNR at keyframes {Metric.from_dict(d[g]['psnr_cond']).text()} dB")
            floor = d.get(f"real_heldout_{g}", {}).get("pos_err_free")
            if floor:
                parts.append(f"tracker floor on real clips {Metric.from_dict(floor).text()} px")
            lines.append(f"- {v}, {k} keyframe{'s' * (k > 1)}: " + "; ".join(parts) + ".")
    return lines
