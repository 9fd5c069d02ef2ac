"""Run the probes for every motion run in params and write their metrics files.

Writes ``{out_dir}/{probe}.json`` (``{run: {metric: {mean, ci_low, ci_high, n}}}``; the loss split also at
each run's training condition, ``*_trained``; ``domain_signal.json``: the final weights' domain gradient
fraction), ``{out_dir}/curves.json`` (``{run: {probe: {...lists...}}}``), ``{out_dir}/adapter_gap.json``
(the image base's degraded-vs-clean gap at adapter scale 0 and 1: one per base + adapter, not per run),
plus ``{out_dir}/missing.json`` naming runs that could not be probed and why. Figures are drawn from
these files.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from animatelab.config import Params
from animatelab.eval.bootstrap import bootstrap_ci
from animatelab.models.scheduler import study_schedule, training_scheduler
from animatelab.models.assemble import adapter_file as domain_adapter_file
from animatelab.probes import domain_signal, leakage_proxy
from animatelab.probes.inputs import find_checkpoints, load_clips, load_motion_unet, load_snapshot_weights
from animatelab.utils import seed_everything, write_json


def trained_steps(folder: Path) -> int | None:
    """The optimizer steps a saved run was trained for (its last snapshot holds its final weights)."""
    import json

    summary = folder / "train_summary.json"
    return json.loads(summary.read_text()).get("steps") if summary.is_file() else None


def probe_runs(params: Params) -> list[str]:
    p = params.probe
    return list(p.runs) if p.runs is not None else list(params.train_motion.runs)


@dataclass
class _ProxyInputs:
    base: object
    vae: object
    watermark: object

    @classmethod
    def build(cls, params: Params) -> "_ProxyInputs":
        import numpy as np

        from animatelab.data.synth import watermark_template
        from animatelab.eval.watermark import Watermark
        from animatelab.models.base import load_base

        base = load_base(params.base.path)
        sp = params.synth_data
        template, _ = watermark_template(sp.resolution)
        return cls(base, base.vae, Watermark(template, sp.watermark_alpha, np.ones(3, np.float32)))


EXTRA = ("domain_signal",)  # per-run files beside the probes'


def trained_scale(params: Params, run: str) -> float:
    """The domain-adapter scale a run's module trained on: 1 with the adapter, 0 without."""
    cfg = params.train_motion.runs.get(run)
    return 1.0 if cfg is not None and cfg.with_adapter else 0.0


def run_probes(params: Params, runs: list[str] | None = None, out_dir: str | Path | None = None,
               adapter_gap: bool = True) -> dict:
    """Every probe on ``runs`` (default: every probed run); returns ``{probe: {run: metrics}}``, also
    written to ``out_dir`` (default ``probe.out_dir``). A run's numbers do not depend on which other runs
    the same call probes (each measure seeds its own generator), so runs can be split across processes.
    ``adapter_gap``: also measure the base + adapter's domain gap (one process of a split does it)."""
    p = params.probe
    seed_everything(p.seed)
    frames = p.frames or params.train_motion.frames
    clips = load_clips(Path(params.encode.out_dir) / p.dataset, p.num_clips, frames, p.seed)
    scheduler = training_scheduler(study_schedule(params))
    adapter_file = domain_adapter_file(params.train_adapter.out_dir)

    def load(folder: Path, scale: float = p.adapter_scale):
        return load_motion_unet(params.base.path, folder, adapter_file, scale)

    proxy = _ProxyInputs.build(params)
    proxy_clips = leakage_proxy.clean_clips(params, proxy.base, p.proxy_clips, frames)
    if adapter_gap and adapter_file.is_file():
        gap = domain_signal.adapter_gap(params.base.path, adapter_file, proxy_clips.degraded, proxy_clips.latents,
                                        proxy_clips.text, scheduler, p.timesteps, p.batch_size, p.seed, p.bootstrap)
        write_json(Path(p.out_dir if out_dir is None else out_dir) / "adapter_gap.json", gap)
    k = min(p.domain_grad_clips, len(proxy_clips.latents))
    grad_clips = (proxy_clips.degraded[:k], proxy_clips.latents[:k], proxy_clips.text[:k])
    results: dict[str, dict] = {name: {} for name in (*p.probes, *EXTRA)}
    curves: dict[str, dict] = {}
    missing: dict[str, str] = {}
    for run in tqdm(probe_runs(params) if runs is None else runs, desc="probe runs"):
        folder = Path(params.train_motion.out_dir) / run
        try:
            unet = load(folder)
        except (OSError, ValueError, RuntimeError, KeyError) as err:
            missing[run] = f"{folder}: {type(err).__name__}: {str(err).splitlines()[0][:200]}"
            continue
        curves[run] = {}
        scale = trained_scale(params, run)
        # the run at its training condition (with the adapter merged at 1 for a with-adapter run)
        trained = unet if scale == p.adapter_scale else load(folder, scale)
        final_grad = domain_signal.grad_fraction(trained, *grad_clips, scheduler, p.seed)
        results["domain_signal"][run] = {"domain_grad_frac": bootstrap_ci(final_grad, p.bootstrap, p.seed)}
        final_values: dict[str, dict] = {}
        for name in p.probes:
            module = importlib.import_module(f"animatelab.probes.{name}")
            out = module.measure(unet, clips, scheduler, p.timesteps, p.batch_size, p.seed)
            final_values[name] = out["values"]
            results[name][run] = {
                k: bootstrap_ci(v, p.bootstrap, p.seed) for k, v in out["values"].items()
            }
            if out["curves"]:
                curves[run][name] = out["curves"]
            if name == "loss_split":  # the same split at the run's training condition
                trained_out = out if trained is unet else module.measure(
                    trained, clips, scheduler, p.timesteps, p.batch_size, p.seed)
                results[name][run] |= {f"{k}_trained": bootstrap_ci(v, p.bootstrap, p.seed)
                                       for k, v in trained_out["values"].items()}
        snapshots = find_checkpoints(folder / "snapshots")
        # every snapshot differs from the run only in its motion weights: swap them into the one UNet
        # (the probes of the final weights are done) instead of rebuilding base + adapter + run per snapshot
        def at_step(checkpoint: Path | None, unet=unet):
            return unet if checkpoint is None else load_snapshot_weights(unet, Path(checkpoint))

        if "loss_split" in p.probes:
            from animatelab.probes.loss_split import over_training

            picked = [(s, c) for s, c in snapshots if p.loss_split_steps is None or s in p.loss_split_steps]
            curves[run]["loss_over_training"] = over_training(
                at_step, picked, clips, scheduler, p.timesteps, p.batch_size, p.seed,
                known={trained_steps(folder): final_values["loss_split"]})
        curves[run]["leakage_over_training"] = leakage_proxy.over_training(
            at_step, snapshots, proxy.vae, proxy_clips, proxy.watermark, scheduler,
            p.proxy_timestep, p.batch_size, p.seed)

        def trained_at(checkpoint: Path | None, trained=trained):
            return trained if checkpoint is None else load_snapshot_weights(trained, Path(checkpoint))

        curves[run]["domain_grad_over_training"] = domain_signal.over_training(
            trained_at, snapshots, *grad_clips, scheduler, p.seed, p.domain_grad_steps,
            known={trained_steps(folder): final_grad})
    write_probe_files(Path(p.out_dir if out_dir is None else out_dir), results, curves, missing)
    return results


def write_probe_files(out_dir: Path, results: dict, curves: dict, missing: dict) -> None:
    for name, per_run in results.items():
        write_json(out_dir / f"{name}.json", per_run)
    write_json(out_dir / "curves.json", curves)
    write_json(out_dir / "missing.json", missing)


def merge_shards(params: Params, shard_dirs: list[Path]) -> dict:
    """The probe files of the processes' shards, merged in ``probe_runs`` order into ``probe.out_dir``:
    the same files one process probing every run writes. Returns ``{probe: {run: metrics}}``."""
    import json

    def read(name: str) -> dict:
        merged: dict = {}
        for d in shard_dirs:
            merged |= json.loads((d / name).read_text())
        return merged

    order = {run: i for i, run in enumerate(probe_runs(params))}

    def ordered(per_run: dict) -> dict:
        return dict(sorted(per_run.items(), key=lambda kv: order.get(kv[0], len(order))))

    results = {name: ordered(read(f"{name}.json")) for name in (*params.probe.probes, *EXTRA)}
    out = Path(params.probe.out_dir)
    write_probe_files(out, results, ordered(read("curves.json")), ordered(read("missing.json")))
    for d in shard_dirs:  # measured by one process only
        if (d / "adapter_gap.json").is_file():
            (out / "adapter_gap.json").write_text((d / "adapter_gap.json").read_text())
    return results
