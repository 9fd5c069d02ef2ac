"""Draw every figure and table of the paper from the metrics files (stage ``figures``, notebooks)."""

from __future__ import annotations

from pathlib import Path

from animatelab.config import FiguresParams
from animatelab.figures import ablations, grids, levers, moonshot, probes, sparsectrl, tables
from animatelab.figures.metrics import MetricsStore
from animatelab.figures.style import paper_style, save
from animatelab.runs import scale_folder


def _rq7(store: MetricsStore, p: FiguresParams, keep, out_tables: list[Path]) -> list[str]:
    """RQ7's two figures and two tables; skipped with a note (not an error) until MoonShot is scored."""
    moon = moonshot.load(p.rq7_metrics_dir, p.rq7_modes)
    if moon is None:
        return [f"{p.rq7_metrics_dir}/{{{','.join(p.rq7_modes)}}}.json (RQ7 MoonShot: skipped)"]
    w, scale = p.column_width, p.rq1_scale
    keep(moonshot.comparison_figure(store, moon, p.rq1_variants, p.rq7_modes, p.rq7_metrics, scale, 2 * w),
         "rq7_moonshot_vs_animatediff")
    keep(moonshot.first_frame_figure(moon, p.rq7_modes, p.rq7_fidelity_metrics, scale, 2 * w), "rq7_first_frame")
    for df, name, caption in (
        (moonshot.comparison_table(store, moon, p.rq1_variants, p.rq7_modes, p.rq7_metrics, scale), "rq7_moonshot_vs_animatediff",
         (f"RQ7: MoonShot modes vs AnimateDiff's RQ1 arms (adapter scale {scale:g}); AnimateDiff: mean over seeds "
          "[95% t interval]; MoonShot: one trained model [95% bootstrap interval over videos].")),
        (moonshot.first_frame_table(moon, p.rq7_modes, p.rq7_fidelity_metrics, scale), "rq7_first_frame",
         "RQ7: first-frame fidelity to the conditioning frame and identity across frames; mean [95% bootstrap interval]."),
    ):
        out_tables.extend(tables.write(df, p.tables_dir, name, caption))
    return [f"MoonShot: {m}" for m in moon.missing]


def rq8_levers(p: FiguresParams) -> list[levers.LeverRuns]:
    """Every RQ8 lever of ``p`` read at the inference scale (``rq1_scale``)."""
    return [levers.load_lever(spec, p.metrics_dir, p.rq8_motion_dir, p.rq1_scale) for spec in p.rq8_levers]


def _rq8(p: FiguresParams, keep, out_tables: list[Path]) -> list[str]:
    """RQ8's lever figure and table; a lever with no metrics file yet is listed as missing."""
    read = rq8_levers(p)
    missing = [f"RQ8 lever {lv.name}: metrics of {', '.join(lv.runs)}" for lv in read if not lv.values]
    read = [lv for lv in read if lv.values]
    if read:
        goals = [m for m in p.rq8_metrics if m in levers.GOALS]
        keep(levers.levers_figure(read, goals, 2 * p.column_width), "rq8_levers")
        if p.rq8_curves:
            fig = levers.compute_figure(read, p.rq8_curves, ["gt_persistent_object", "speed_ratio"], 2 * p.column_width)
            keep(fig, "rq8_compute") if fig is not None else missing.append("rq8_compute (fewer than two levers a curve)")
        out_tables.extend(tables.write(
            levers.levers_table(read, p.rq8_metrics), p.tables_dir, "rq8_levers",
            "RQ8: each lever's runs at the inference setting; mean over runs [lowest, highest bound of the runs' "
            "95% bootstrap intervals over videos]; order gain share: the loss split's temporal / appearance gain."))
    return missing


def build_all(p: FiguresParams) -> dict:
    """Returns ``{"figures": [...], "tables": [...], "missing": [...]}`` (paths as strings).

    Whatever runs exist are drawn; absent runs and metrics are listed in ``missing``.
    """
    store = MetricsStore.load(p.metrics_dir)
    fig_dir, tab_dir, w = Path(p.figures_dir), Path(p.tables_dir), p.column_width
    figures: list[Path] = []
    out_tables: list[Path] = []
    missing: list[str] = []

    def keep(fig, name: str) -> None:
        if fig is not None:
            figures.extend(save(fig, fig_dir, name, p.dpi))

    want = set(p.sections)
    with paper_style():
        if "rq1" in want:
            keep(ablations.rq1_bars(store, p.rq1_variants, p.rq1_metrics, p.rq1_scale, 2 * w, p.rq1_floor_run),
                 "rq1_adapter_ablation")
        if "rq2" in want:
            if store.scales(p.rq2_run):
                keep(ablations.rq2_scale_curve(store, p.rq2_run, p.rq2_metrics, w * max(1, len(p.rq2_metrics) // 2)),
                     "rq2_adapter_scale")
            else:
                missing.append(f"per-scale metrics of {p.rq2_run} (RQ2)")
        if "rq3" in want:
            if ablations.lora_runs(store):
                keep(ablations.rq3_lora_curve(store, p.rq3_metrics, w), "rq3_motion_lora")
            else:
                missing.append("runs lora_n* (RQ3)")
        for section, runs, metrics, name in (("rq4", p.rq4_runs, p.rq4_metrics, "rq4_design"),
                                             ("rq5", p.rq5_runs, p.rq5_metrics, "rq5_prompt_motion")):
            if section not in want:
                continue
            if any(r in store.runs for r in runs):
                keep(ablations.runs_bars(store, runs, metrics, p.rq1_scale, 2 * w, reference=runs[0]), name)
            else:
                missing.append(f"runs {', '.join(runs)} ({name})")
        if "grid" in want:
            fig, absent = grids.frame_grid(p.samples_dir, p.grid_runs, p.rq1_scale, p.grid_videos, p.grid_frames, 2 * w)
            keep(fig, "samples_grid")
            missing.extend(f"samples of {r}" for r in absent)
        results, curves = probes.load(p.probes_dir) if want & {"probes", "rq1"} else ({}, {})
        drawn = []
        if "probes" in want:
            drawn += [("probe_spectrum", lambda: probes.spectrum_figure(curves, w)),
                      ("probe_summary", lambda: probes.summary_figure(results, 2 * w)),
                      ("probe_loss_over_training", lambda: probes.loss_training_figure(curves, w))]
        if "rq1" in want:
            drawn += [("rq1_dose_response", lambda: probes.dose_response_figure(curves, 2 * w, p.rq1_variants)),
                      ("rq1_mechanism", lambda: probes.mechanism_figure(curves, probes.load_gap(p.probes_dir), 2 * w,
                                                                       p.rq1_variants))]
        if "rq6" in want:
            drawn += [("rq6_propagation", lambda: sparsectrl.propagation_figure(sparsectrl.load(p.metrics_dir, p.rq6_variants), 2 * w)),
                      ("rq6_keyframe_strip", lambda: sparsectrl.strip_figure(
                          p.samples_dir, p.rq6_strip_variant, p.rq6_strip_keyframes,
                          scale_folder(p.samples_dir, p.rq6_baseline_run, p.rq1_scale), 2 * w))]
        for name, draw in drawn:
            fig = draw()
            keep(fig, name) if fig is not None else missing.append(f"{name} (no inputs)")
        if "rq7" in want:
            missing.extend(_rq7(store, p, keep, out_tables))
        if "rq8" in want:
            missing.extend(_rq8(p, keep, out_tables))

    scale = p.rq1_scale
    for section, df, name, caption in (
        ("rq1", lambda: tables.variants_table(store, p.rq1_variants, p.table_metrics, scale), "rq1_adapter_ablation",
         f"RQ1: motion module trained with vs. without the domain adapter (adapter scale {scale:g} at inference); mean over seeds [95% t interval]."),
        ("rq4", lambda: tables.runs_table(store, p.rq4_runs, p.table_metrics, scale), "rq4_design",
         "RQ4: motion-module design variants; mean [95% bootstrap interval over videos]."),
        ("rq5", lambda: tables.runs_table(store, p.rq5_runs, p.table_metrics, scale), "rq5_prompt_motion",
         "RQ5: temporal text cross-attention vs. the AnimateDiff module; mean [95% bootstrap interval]."),
        ("rq3", lambda: tables.runs_table(store, [r for _, r in ablations.lora_runs(store)], p.table_metrics, scale), "rq3_motion_lora",
         "RQ3: MotionLoRA by number of reference videos; mean [95% bootstrap interval]."),
    ):
        if section in want:
            out_tables.extend(tables.write(df(), tab_dir, name, caption))
    if "probes" in want:
        prob_rows = probes.as_rows(results)
        import pandas as pd

        df = pd.DataFrame({r: {k: tables.cell(v) for k, v in vals.items()} for r, vals in prob_rows.items()}).T
        out_tables.extend(tables.write(df.rename_axis("run"), tab_dir, "probes", "Probes (RQ1 why): mean [95% bootstrap interval over clips]."))
    missing = sorted(set(missing) | set(store.missing))
    return {"figures": [str(f) for f in figures], "tables": [str(t) for t in out_tables], "missing": missing}
