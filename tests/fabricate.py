"""Fabricated micro inputs of the figures stage: metrics files, samples, probe results (CONTRACTS.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

METRICS = ["watermark_leakage", "watermark_leakage_vae_ceiling", "fvd_synth", "fvd_synth_floor", "clip_synth_text", "gt_moving_frac",
           "gt_direction_acc", "gt_appearance_acc"]


def metric(mean: float, half: float = 0.05, n: int = 8) -> dict:
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def run_metrics(rng: np.random.Generator, leak: float, scales: list[float] | None = None) -> dict:
    """Flat metrics, or per-scale groups ``scale_{s}`` when ``scales`` is given."""
    def one(shift: float = 0.0) -> dict:
        return {m: metric(float((leak if m == "watermark_leakage" else rng.uniform(0.2, 0.9)) + shift)) for m in METRICS}
    if not scales:
        return one()
    return {**{f"scale_{s}": one(0.3 * s) for s in scales}, "real_heldout": one()}  # evaluate's layout


def write_metrics(folder: Path, seeds: int = 3, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(seeds):
        scales = [0.0, 0.5, 1.0] if s == 0 else None
        (folder / f"with_adapter_s{s}.json").write_text(json.dumps(run_metrics(rng, 0.1 + 0.02 * s, scales)))
        (folder / f"no_adapter_s{s}.json").write_text(json.dumps(run_metrics(rng, 0.7 - 0.03 * s, [0.0])))
        (folder / f"no_adapter_s{s}.meta.json").write_text(json.dumps({"run": f"no_adapter_s{s}", "frames": 8}))
    for n in (2, 4, 8):  # evaluate's layout for a MotionLoRA: its own camera-motion clips scored too
        lora = {**run_metrics(rng, 0.1, [0.0]), "real_motion_lora": {"gt_direction_acc": metric(0.86)}}
        (folder / f"lora_n{n}.json").write_text(json.dumps(lora))
    (folder / "conv1d_s0.json").write_text(json.dumps(run_metrics(rng, 0.2)))
    (folder / "untrained.json").write_text(json.dumps(run_metrics(rng, 0.05, [0.0])))  # RQ1's floor
    (folder / "text_xattn_s0.json").write_text(json.dumps(run_metrics(rng, 0.15)))
    return folder


def write_samples(folder: Path, runs: tuple[str, ...] = ("with_adapter_s0", "no_adapter_s0")) -> Path:
    rng = np.random.default_rng(0)
    for run in runs:
        d = folder / run / "scale_0.0"
        d.mkdir(parents=True, exist_ok=True)
        np.save(d / "videos.npy", rng.integers(0, 255, (3, 8, 32, 32, 3), dtype=np.uint8))
        prompts = [{"prompt": "a red circle moving left", "shape": "circle", "colour": "red", "background": "black", "motion": "left"}] * 3
        (d / "prompts.json").write_text(json.dumps(prompts))
    return folder


def write_probes(folder: Path, runs: tuple[str, ...] = ("with_adapter_s0", "no_adapter_s0")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    names = {"spectrum": ["residual_hf_fraction", "input_hf_fraction", "residual_rel_norm"],
             "static_input": ["static_prediction_change", "static_temporal_residual", "real_prediction_change"],
             "loss_split": ["appearance_gain", "temporal_gain", "loss_real", "loss_shuffled", "loss_image"]}
    for probe, metrics in names.items():
        data = {r: {m: metric(0.1 * (i + 1) + 0.01 * j) for j, m in enumerate(metrics)} for i, r in enumerate(runs)}
        (folder / f"{probe}.json").write_text(json.dumps(data))
    curves = {r: {"spectrum": {"frequency": [0.125, 0.375, 0.625, 0.875], "residual_power": [0.4, 0.3, 0.2, 0.1],
                               "input_power": [0.25, 0.25, 0.25, 0.25]},
                  "loss_over_training": {"step": [2, 4], "appearance_gain": [0.01, 0.02], "temporal_gain": [0.0, 0.01]},
                  "leakage_over_training": {"step": [0, 2, 4], "leakage_proxy": [0.1, 0.1, 0.1] if r.startswith("with")
                                            else [0.1, 0.4, 0.6], "leakage_proxy_sd": [0.05, 0.05, 0.05]},
                  "domain_grad_over_training": {"step": [2, 4], "domain_grad_frac": [0.05, 0.04] if r.startswith("with")
                                                else [0.5, 0.6], "domain_grad_frac_sd": [0.01, 0.01]}}
              for r in runs}
    (folder / "curves.json").write_text(json.dumps(curves))
    (folder / "domain_signal.json").write_text(json.dumps(
        {r: {"domain_grad_frac": metric(0.04 if r.startswith("with") else 0.6)} for r in runs}))
    gap = {"scale_0.0": {"loss_degraded": metric(0.3), "loss_clean": metric(0.2), "domain_gap": metric(0.1)},
           "scale_1.0": {"loss_degraded": metric(0.22), "loss_clean": metric(0.2), "domain_gap": metric(0.02)},
           "gap_removed_frac": metric(0.8)}
    (folder / "adapter_gap.json").write_text(json.dumps(gap))
    return folder


def write_sparsectrl(metrics: Path, samples: Path, variants: tuple[str, ...] = ("rgb", "sketch")) -> None:
    """``metrics/sparsectrl_{v}.json`` (groups k{K}, baseline_k{K}, control_minus_baseline_k{K},
    real_heldout_k{K}) and ``samples/sparsectrl_{v}/k{K}/`` as the SparseCtrl stages write them."""
    rng = np.random.default_rng(1)
    for v in variants:
        ks = (1, 2, 4) if v == "rgb" else (2,)
        data = {}
        for k in ks:
            ours = {f"traj_err_d{d}": metric(0.5 + 0.4 * d) for d in range(4)}
            ours |= {"pos_err_cond": metric(0.6), "pos_err_free": metric(1.5), "psnr_cond": metric(24.0)}
            base = {f"traj_err_d{d}": metric(4.0) for d in range(4)}
            base |= {"pos_err_cond": metric(4.0), "pos_err_free": metric(4.0), "psnr_cond": metric(12.0)}
            data |= {f"k{k}": ours, f"baseline_k{k}": base,
                     f"control_minus_baseline_k{k}": {"pos_err_cond": metric(-3.4), "pos_err_free": metric(-2.5)},
                     f"real_heldout_k{k}": {"pos_err_free": metric(0.15)}}
            d = samples / f"sparsectrl_{v}" / f"k{k}"
            d.mkdir(parents=True, exist_ok=True)
            np.save(d / "videos.npy", rng.integers(0, 255, (3, 8, 32, 32, 3), dtype=np.uint8))
            (d / "keyframes.json").write_text(json.dumps({"indices": [0, 7][:k], "modality": "rgb"}))
        metrics.mkdir(parents=True, exist_ok=True)
        (metrics / f"sparsectrl_{v}.json").write_text(json.dumps(data))


MOONSHOT = {  # mode: value of every shared metric's mean, then MoonShot's own measures
    "text": {"shared": 0.3, "first_frame_psnr": 11.0, "first_frame_ssim": 0.2, "identity_clip": 70.0, "identity_frame_acc": 0.4},
    "animate": {"shared": 0.2, "first_frame_psnr": 24.0, "first_frame_ssim": 0.7, "identity_clip": 88.0, "identity_frame_acc": 0.8},
}


def write_moonshot(folder: Path, modes: tuple[str, ...] = ("text", "animate")) -> Path:
    """``{mode}.json`` as evaluate_moonshot writes it: ``scale_0.0`` (every METRICS entry, first-frame
    fidelity with its VAE ceiling, identity) and ``real_heldout`` (the same metrics and identity)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, mode in enumerate(modes):
        v = MOONSHOT[mode]
        ours = {m: metric(v["shared"] + 0.01 * j, 0.02) for j, m in enumerate(METRICS)}
        ours |= {k: metric(x, 0.5 if "psnr" in k or "clip" in k else 0.03) for k, x in v.items() if k != "shared"}
        ours |= {"first_frame_psnr_vae_ceiling": metric(31.0, 0.4), "first_frame_ssim_vae_ceiling": metric(0.9, 0.01)}
        real = {m: metric(1.0, 0.05) for m in METRICS} | {"identity_clip": metric(93.0, 0.5), "identity_frame_acc": metric(0.95, 0.02)}
        (folder / f"{mode}.json").write_text(json.dumps({"scale_0.0": ours, "real_heldout": real}))
        (folder / f"{mode}.meta.json").write_text(json.dumps({"mode": mode, "frames": 8}))
    return folder


def write_all(root: Path) -> Path:
    write_metrics(root / "metrics")
    write_moonshot(root / "metrics/moonshot")
    write_sparsectrl(root / "metrics", root / "samples")
    write_probes(root / "metrics/probes")
    write_samples(root / "samples")
    return root
