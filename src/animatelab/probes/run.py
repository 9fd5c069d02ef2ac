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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from animatelab.eval.bootstrap import bootstrap_ci
from animatelab.models.scheduler import training_scheduler
from animatelab.models.assemble import adapter_file as domain_adapter_file
from animatelab.probes import domain_signal, leakage_proxy
from animatelab.probes.inputs import find_checkpoints, load_clips, load_motion_unet, load_snapshot_weights
from animatelab.utils import seed_everything, write_json

if TYPE_CHECKING:
    from animatelab.schema.data import SynthDataParams
    from animatelab.schema.evaluate import ProbeParams
    from animatelab.schema.train import MotionRun


def trained_steps(folder: Path) -> int | None:
    """The optimizer steps a saved run was trained for (its last snapshot holds its final weights)."""
    import json

    summary = folder / "train_summary.json"
    return json.loads(summary.read_text()).get("steps") if summary.is_file() else None


def probe_runs(runs: list[str] | None, motion_runs: Mapping[str, Any]) -> list[str]:
    """The runs the probes measure: ``probe.runs`` (``runs``) when set, else every ``train_motion`` run."""
    return list(runs) if runs is not None else list(motion_runs)


@dataclass
class _ProxyInputs:
    base: object
    vae: object
    watermark: object

    @classmethod
    def build(cls, base_path: str, sp: "SynthDataParams") -> "_ProxyInputs":
        import numpy as np

        from animatelab.data.synth import watermark_template
        from animatelab.eval.watermark import Watermark
        from animatelab.models.base import load_base

        base = load_base(base_path)
        template, _ = watermark_template(sp.resolution)
        return cls(base, base.vae, Watermark(template, sp.watermark_alpha, np.ones(3, np.float32)))


EXTRA = ("domain_signal",)  # per-run files beside the probes'


def trained_scale(motion_runs: Mapping[str, "MotionRun"], run: str) -> float:
    """The domain-adapter scale a run's module trained on (``motion_runs``: ``train_motion.runs``): 1 with
    the adapter, 0 without."""
    cfg = motion_runs.get(run)
    return 1.0 if cfg is not None and cfg.with_adapter else 0.0


def run_probes(p: "ProbeParams", runs: list[str], *, motion_runs: Mapping[str, "MotionRun"],
               motion_dir: str | Path, motion_frames: int, encoded_dir: str | Path, base_path: str,
               adapter_dir: str | Path, schedule: dict[str, Any], synth: "SynthDataParams",
               out_dir: str | Path | None = None, adapter_gap: bool = True) -> dict:
    """Every probe of ``p`` (the ``probe`` group) on ``runs`` (runs of ``motion_runs``, ``train_motion.runs``,
    under ``motion_dir``); returns ``{probe: {run: metrics}}``, also written to ``out_dir`` (default
    ``probe.out_dir``). ``motion_frames``: the clip length where ``probe.frames`` is unset;
    ``encoded_dir``: the encode cache holding ``probe.dataset``; ``schedule``: the study's noise schedule;
    ``synth``: the synthetic world the leakage proxy renders its clean clips from. A run's numbers do not
    depend on which other runs the same call probes (each measure seeds its own generator), so runs can be
    split across processes. ``adapter_gap``: also measure the base + adapter's domain gap (one process of
    a split does it)."""
    seed_everything(p.seed)
    frames = p.frames or motion_frames
    clips = load_clips(Path(encoded_dir) / p.dataset, p.num_clips, frames, p.seed)
    scheduler = training_scheduler(schedule)
    adapter_file = domain_adapter_file(adapter_dir)

    def load(folder: Path, scale: float = p.adapter_scale):
        return load_motion_unet(base_path, folder, adapter_file, scale)

    proxy = _ProxyInputs.build(base_path, synth)
    proxy_clips = leakage_proxy.clean_clips(synth, proxy.base, p.proxy_clips, frames)
    if adapter_gap and adapter_file.is_file():
        gap = domain_signal.adapter_gap(base_path, adapter_file, proxy_clips.degraded, proxy_clips.latents,
                                        proxy_clips.text, scheduler, p.timesteps, p.batch_size, p.seed, p.bootstrap)
        write_json(Path(p.out_dir if out_dir is None else out_dir) / "adapter_gap.json", gap)
    k = min(p.domain_grad_clips, len(proxy_clips.latents))
    grad_clips = (proxy_clips.degraded[:k], proxy_clips.latents[:k], proxy_clips.text[:k])
    results: dict[str, dict] = {name: {} for name in (*p.probes, *EXTRA)}
    curves: dict[str, dict] = {}
    missing: dict[str, str] = {}
    for run in tqdm(runs, desc="probe runs"):
        folder = Path(motion_dir) / run
        try:
            unet = load(folder)
        except (OSError, ValueError, RuntimeError, KeyError) as err:
            missing[run] = f"{folder}: {type(err).__name__}: {str(err).splitlines()[0][:200]}"
            continue
        curves[run] = {}
        scale = trained_scale(motion_runs, run)
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


def merge_shards(probes: list[str], runs: list[str], out_dir: str | Path, shard_dirs: list[Path]) -> dict:
    """The probe files of the processes' shards (of ``probes``, the ``probe.probes``), merged in ``runs``
    order (``probe_runs``) into ``out_dir`` (``probe.out_dir``): the same files one process probing every
    run writes. Returns ``{probe: {run: metrics}}``."""
    import json

    def read(name: str) -> dict:
        merged: dict = {}
        for d in shard_dirs:
            merged |= json.loads((d / name).read_text())
        return merged

    order = {run: i for i, run in enumerate(runs)}

    def ordered(per_run: dict) -> dict:
        return dict(sorted(per_run.items(), key=lambda kv: order.get(kv[0], len(order))))

    results = {name: ordered(read(f"{name}.json")) for name in (*probes, *EXTRA)}
    out = Path(out_dir)
    write_probe_files(out, results, ordered(read("curves.json")), ordered(read("missing.json")))
    for d in shard_dirs:  # measured by one process only
        if (d / "adapter_gap.json").is_file():
            (out / "adapter_gap.json").write_text((d / "adapter_gap.json").read_text())
    return results
