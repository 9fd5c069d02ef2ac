"""Generate ``reports/README.md``: the findings, with numbers and intervals read from metrics files.

Nothing here is typed by hand: every number comes from ``metrics/*.json`` or ``metrics/probes``,
and each comparison only states whether the 95 % intervals separate, whichever way they fall (RQ1: the
Welch interval of the difference between arms over seed means, and an exact permutation p over seeds).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from animatelab.config import FiguresParams
from animatelab.figures import ablations, base_model, probes
from animatelab.figures.metrics import Metric, MetricsStore, minus_floor, welch_difference
from animatelab.figures.tables import cell
from animatelab.eval.publish import REAL_MOTION_LORA
from animatelab.runs import seed_variant


def compare(name: str, a: tuple[str, Metric | None], b: tuple[str, Metric | None]) -> str:
    """One neutral sentence comparing two intervals."""
    (na, ma), (nb, mb) = a, b
    if ma is None or mb is None:
        return f"- `{name}`: not comparable (missing: {', '.join(n for n, m in (a, b) if m is None)})."
    return f"- `{name}`: {na} {ma.text()} vs {nb} {mb.text()}; difference {ma.mean - mb.mean:+.3g} ({overlap(na, ma, nb, mb)})."


def overlap(na: str, ma: Metric, nb: str, mb: Metric) -> str:
    """Whether two 95 % intervals separate, and which way."""
    if ma.ci_high < mb.ci_low or mb.ci_high < ma.ci_low:
        return f"intervals do not overlap; higher for {na if ma.mean > mb.mean else nb}"
    return "intervals overlap: no separation at this number of seeds/videos"


def compare_difference(name: str, a: tuple[str, Metric | None, list[float]],
                       b: tuple[str, Metric | None, list[float]]) -> str:
    """RQ1's sentence: both arms, then the Welch interval of their difference over seed means."""
    (na, ma, sa), (nb, mb, sb) = a, b
    if ma is None or mb is None:
        return f"- `{name}`: not comparable (missing: {', '.join(n for n, m, _ in (a, b) if m is None)})."
    diff = welch_difference(sa, sb)
    if diff is None:
        return compare(name, (na, ma), (nb, mb))
    if diff.ci_low > 0 or diff.ci_high < 0:
        verdict = f"excludes 0: higher for {na if diff.mean > 0 else nb}"
    else:
        verdict = "includes 0: no separation at this number of seeds"
    return (f"- `{name}`: {na} {ma.text()} vs {nb} {mb.text()}; difference {na} − {nb} "
            f"{diff.text()} (Welch 95 % over seed means; {verdict}).")


def seed_test(na: str, a: list[float], nb: str, b: list[float]) -> str:
    """How the per-seed means order, with scipy's exact two-sided permutation p of the mean difference.

    With 3 vs 3 seeds the smallest possible p is 0.1, with 4 vs 4 it is 1/35 = 0.029: both are
    stated, so "no separation" is read as "too few seeds", not "no effect", when every seed agrees.
    """
    if len(a) < 2 or len(b) < 2:
        return ""
    from scipy import stats

    res = stats.permutation_test((a, b), lambda x, y: x.mean() - y.mean(), permutation_type="independent",
                                 n_resamples=float("inf"), alternative="two-sided")
    order = (f"every {na} seed above every {nb} seed" if min(a) > max(b)
             else f"every {nb} seed above every {na} seed" if min(b) > max(a) else "seeds interleave")
    return f" Seeds: {order}; exact permutation p = {res.pvalue:.2g}."


def _rq1(store: MetricsStore, p: FiguresParams) -> list[str]:
    lines = [f"## RQ1: domain adapter (adapter scale {p.rq1_scale:g} at inference)", ""]
    if len(p.rq1_variants) < 2:
        return lines + ["Needs two variants in `figures.rq1_variants`.", ""]
    va, vb = p.rq1_variants[:2]
    lines += rq1_answer(store, p, va, vb)
    lines.append(f"Mean over seeds with a 95 % t interval ({va}: {len(store.seeds(va))} seeds, {vb}: {len(store.seeds(vb))} seeds).")
    lines.append("")
    seeds = store.seeds(va) + store.seeds(vb)
    for metric in dict.fromkeys(p.rq1_metrics + p.table_metrics):
        (ma, sa), (mb, sb) = store.over_seeds(va, metric, p.rq1_scale), store.over_seeds(vb, metric, p.rq1_scale)
        line = compare_difference(metric, (va, ma, sa), (vb, mb, sb)) + seed_test(va, sa, vb, sb)
        real = store.reference(seeds, metric)
        ceiling = _ceiling(store, seeds, metric, p.rq1_scale)
        floor = store.get(p.rq1_floor_run, metric, p.rq1_scale) if p.rq1_floor_run in store.runs else None
        lines.append(line + (f" Real clips: {real.text()}." if real is not None else "")
                     + (f" VAE-reconstruction ceiling (real clips through this VAE): {ceiling.text()}." if ceiling else "")
                     + (f" Floor (`{p.rq1_floor_run}`: the motion module as initialised, the base's own frames): "
                        f"{floor.text()}." if floor is not None else "")
                     + _above_floor(metric, p, (va, ma), (vb, mb), floor))
    lines += _vae_floor(store, seeds, p)
    lines += _defects_alone(p)
    lines += ["", *_dose_response(p, va, vb), *_mechanism(p, va, vb)]
    return lines + ["", "![RQ1](figures/rq1_adapter_ablation.png)", "", "![RQ1 dose-response](figures/rq1_dose_response.png)", ""]


def _above_floor(metric: str, p: FiguresParams, a: tuple[str, Metric | None], b: tuple[str, Metric | None],
                 floor: Metric | None) -> str:
    """For the defect measures (``figures.rq1_above_floor``): each arm minus the floor, i.e. what the
    motion module adds to what the base's own frames already score."""
    if metric not in p.rq1_above_floor or floor is None or a[1] is None or b[1] is None:
        return ""
    parts = [f"{name} {minus_floor(m, floor).text()}" for name, m in (a, b)]
    return " Above the floor (arm − floor, half-widths in quadrature): " + "; ".join(parts) + "."


def _ceiling(store: MetricsStore, runs: list[str], metric: str, scale: float | None, suffix: str = "ceiling") -> Metric | None:
    """``{metric}_vae_ceiling``: what a latent model can show at most through the base's decoder
    (``suffix`` "clean" / "degraded": the decoder's reconstructions of held-out clean twins / degraded clips)."""
    for r in runs:
        groups = store.runs.get(r, {})
        for key in (scale, None):
            if f"{metric}_vae_{suffix}" in groups.get(key, {}):
                return groups[key][f"{metric}_vae_{suffix}"]
    return None


def _vae_floor(store: MetricsStore, runs: list[str], p: FiguresParams) -> list[str]:
    """One sentence: the pixel watermark leakage of the base's VAE alone, i.e. where the floor comes from."""
    clean = _ceiling(store, runs, "watermark_leakage", p.rq1_scale, "clean")
    degraded = _ceiling(store, runs, "watermark_leakage", p.rq1_scale, "degraded")
    floor = store.get(p.rq1_floor_run, "watermark_leakage", p.rq1_scale) if p.rq1_floor_run in store.runs else None
    if clean is None or degraded is None:
        return []
    return ["", f"The floor explained: encoded and decoded by the base's VAE alone, held-out clips rendered clean "
                f"(clean twins) read {clean.text()} of the real clips' pixel watermark score and the same clips "
                f"degraded as the video data is {degraded.text()}"
                + (f"; the floor (`{p.rq1_floor_run}`) is {floor.text()}: the clean twins' reading is "
                   f"{clean.mean / floor.mean:.0%} of it, what the decoder draws on clean latents by itself"
                   if floor is not None and floor.mean > 0 else "")
                + "."]


def _defects_alone(p: FiguresParams) -> list[str]:
    """One sentence: which defect each measure reads, from held-out clips rendered with one defect at a time
    (``train_eval_models``' report): the domain classifier's "video" fraction and the blur and codec leakages."""
    import json

    path = Path(p.eval_report)
    report = json.loads(path.read_text()) if path.is_file() else {}
    sets = [k for k in ("clean", "blur_only", "codec_only", "watermark_only", "all_defects") if f"defect_{k}" in report]
    if not sets:
        return []

    def reads(metric: str) -> str:
        return ", ".join(f"{k.replace('_', ' ')} {report[f'defect_{k}'][metric]['mean']:.2f}" for k in sets
                         if metric in report[f"defect_{k}"])

    return ["", "Each defect alone (held-out clips rendered with one defect, "
            f"{report.get('defect_clips', {}).get('clips', '?')} clips): the domain classifier calls "
            f"\"video\" {reads('domain_video_frac')}; blur leakage reads {reads('blur_leakage')}; codec leakage "
            f"{reads('codec_leakage')}. Codec leakage is not read on generated videos: any VAE decode scores ~6 "
            "on it (the decoder's own noise in flat regions)."]


def _dose_response(p: FiguresParams, va: str, vb: str) -> list[str]:
    """The dose-response in one sentence per arm: the leakage proxy at step 0, the first snapshots (the onset) and
    the end."""
    _, curves = probes.load(p.probes_dir)
    arms = probes.by_arm(curves, "leakage_over_training", "leakage_proxy")
    parts = []
    for v in (va, vb):
        if v not in arms:
            continue
        steps, rows = arms[v]
        means = [sum(col) / len(col) for col in zip(*rows)]
        picks = sorted({*range(min(5, len(steps))), len(steps) - 1})  # the onset (step 0 and the early snapshots), the end
        parts.append(f"{v} " + " → ".join(f"{means[i]:.2f} (step {steps[i]})" for i in picks))
    if not parts:
        return []
    return ["Dose-response (watermark leakage of one-step x0 predictions on clean held-out clips, mean over seeds; "
            "a cheap proxy of sampled leakage along training): " + "; ".join(parts) + "."]


def _ci(m: dict, fmt: str = ".3g") -> str:
    return f"{m['mean']:{fmt}} [{m['ci_low']:{fmt}}, {m['ci_high']:{fmt}}]"


def _onset(steps: list[int], means: list[float]) -> int | None:
    """The first step at which a curve has covered half of its rise from step 0 to its end (None: no rise)."""
    rise = means[-1] - means[0]
    if not steps or rise <= 0:
        return None
    return next(s for s, m in zip(steps, means) if m - means[0] >= rise / 2)


def rq1_answer(store: MetricsStore, p: FiguresParams, va: str, vb: str) -> list[str]:
    """RQ1's answer in one paragraph, each link read from its file: the gap the adapter absorbs, when the module
    trained without it acquires the watermark, what each arm leaks when sampled with the adapter dropped, the
    floor, the gradient measure as it reads, and the study's limits. Links whose file is absent are left out."""
    parts: list[str] = []
    gap = probes.load_gap(p.probes_dir)
    if "scale_0.0" in gap and "scale_1.0" in gap:
        g0, g1 = gap["scale_0.0"]["domain_gap"], gap["scale_1.0"]["domain_gap"]
        absorbs = "more than absorbs" if g1["ci_high"] < 0 else "absorbs" if g1["ci_high"] < g0["ci_low"] else "does not absorb"
        parts.append(f"The domain adapter {absorbs} the image→video gap: the image base alone denoises the degraded "
                     f"held-out clips worse than their clean twins (loss gap {_ci(g0)}); with the adapter merged the gap is "
                     f"{_ci(g1)}" + (": base + adapter now expects the defects" if g1["ci_high"] < 0 else "") + ".")
    _, curves = probes.load(p.probes_dir)
    arms = probes.by_arm(curves, "leakage_over_training", "leakage_proxy")
    if va in arms and vb in arms:
        (sa, ra), (sb, rb) = arms[va], arms[vb]
        ma, mb = ([sum(c) / len(c) for c in zip(*rows)] for rows in (ra, rb))
        onset = _onset(sb, mb)
        flat = max(ma) - min(ma) < 0.1 * max(mb[-1] - mb[0], 1e-9)
        parts.append(f"A module trained on top of it " + ("gains no watermark along training" if flat else "changes")
                     + f" (leakage proxy {ma[0]:.2f} at step 0, {min(ma):.2f}–{max(ma):.2f} over its snapshots, "
                     f"{ma[-1]:.2f} at step {sa[-1]}); trained on the base alone it "
                     + (f"acquires it at once: {mb[0]:.2f} at step 0, half of its rise by step {onset}"
                        + (" (the first snapshot)" if len(sb) > 1 and onset == sb[1] else "")
                        + f", {mb[-1]:.2f} at step {sb[-1]} (mean over seeds)." if onset is not None else
                        f"reads {mb[0]:.2f} at step 0 and {mb[-1]:.2f} at step {sb[-1]}."))
    (ma_, _), (mb_, _) = store.over_seeds(va, "watermark_leakage", p.rq1_scale), store.over_seeds(vb, "watermark_leakage", p.rq1_scale)
    floor = store.get(p.rq1_floor_run, "watermark_leakage", p.rq1_scale) if p.rq1_floor_run in store.runs else None
    clean = _ceiling(store, store.seeds(va) + store.seeds(vb), "watermark_leakage", p.rq1_scale, "clean")
    if ma_ is not None and mb_ is not None:
        parts.append(f"Sampled with the adapter dropped, {va} leaks {ma_.text()} of the real watermark and {vb} "
                     f"{mb_.text()}" + (f"; the floor of the base's own frames is {floor.text()}" if floor is not None else "")
                     + (f", and the VAE alone draws {clean.text()} on clean latents" if clean is not None else "")
                     + (": the floor is the decoder's, not the module's" if clean is not None and floor is not None
                        and clean.ci_low <= floor.ci_high and floor.ci_low <= clean.ci_high else "") + ".")
    split = probes.load(p.probes_dir)[0].get("loss_split", {})

    def split_mean(v: str, key: str) -> float | None:
        vals = [m[key]["mean"] for r, m in split.items() if (seed_variant(r) or ("",))[0] == v and key in m]
        return sum(vals) / len(vals) if vals else None

    keys = ("loss_image_trained", "appearance_gain_trained", "temporal_gain_trained")
    (ia, aa, ta), (ib, ab, tb) = ([split_mean(v, k) for k in keys] for v in (va, vb))
    if None not in (ia, aa, ta, ib, ab, tb):
        parts.append(f"Where each module's gain goes, at the condition it trained in (held-out real clips, mean over "
                     f"seeds): the frozen image model alone reaches a loss of {ia:.3f} with the adapter and {ib:.3f} "
                     f"without; on top of it the {va} module gains {aa:+.3f} from cross-frame appearance and {ta:+.3f} "
                     f"from frame order, the {vb} module {ab:+.3f} and {tb:+.3f}: without the adapter the module "
                     f"spends what it learns on the per-frame look of the video domain.")
    per_run = probes.load(p.probes_dir)[0].get("domain_signal", {})
    grad = {v: [m["domain_grad_frac"]["mean"] for r, m in per_run.items()
                if (seed_variant(r) or ("",))[0] == v and "domain_grad_frac" in m] for v in (va, vb)}
    if grad[va] and grad[vb]:
        a, b = (sum(x) / len(x) for x in (grad[va], grad[vb]))
        parts.append(f"The gradient measure (‖g_degraded − g_clean‖ / ‖g_degraded‖ at each arm's training condition) "
                     f"reads {a:.2f} for {va} and {b:.2f} for {vb}"
                     + ("; it is larger with the adapter because, with the adapter merged, the clean twin is the "
                        "off-domain clip: it does not isolate the defects' pull and is reported as measured." if a > b else
                        ": the defects drive a smaller share of the module's update when it trains on the adapter."))
    if not parts:
        return []
    return ["**Answer.** " + " ".join(parts) + " Limits: one base, one adapter and one set of evaluation networks "
            "(the seeds vary the motion module only), and the modules here learn little motion (the probes' temporal "
            "gain).", ""]


def _mechanism(p: FiguresParams, va: str, vb: str) -> list[str]:
    """The mechanism in two sentences: the image->video gap the adapter removes, and the share of the
    motion module's gradient the defects drive in each arm (final weights, at each arm's training condition)."""
    results, _ = probes.load(p.probes_dir)
    gap = probes.load_gap(p.probes_dir)
    lines = []
    if "scale_0.0" in gap and "scale_1.0" in gap:
        g0, g1 = gap["scale_0.0"]["domain_gap"], gap["scale_1.0"]["domain_gap"]
        removed = gap.get("gap_removed_frac")
        lines.append(
            f"Image→video gap (the image base alone, loss on the degraded held-out clips − on their clean twins, "
            f"same noise; 95 % bootstrap over {g0['n']} clips): {_ci(g0)} at adapter scale 0, {_ci(g1)} at scale 1"
            + (f"; the adapter removes {_ci(removed, '.0%')} of it." if removed and removed["mean"] == removed["mean"]
               else "."))
    per_run = results.get("domain_signal", {})
    parts = []
    for v in (va, vb):
        seeds = [m["domain_grad_frac"]["mean"] for r, m in per_run.items()
                 if (seed_variant(r) or ('',))[0] == v and "domain_grad_frac" in m]
        if seeds:
            parts.append(f"{v} {sum(seeds) / len(seeds):.3f} (seeds {min(seeds):.3f}–{max(seeds):.3f}, n={len(seeds)})")
    if parts:
        lines.append("Domain signal reaching the motion module (‖g_degraded − g_clean‖ / ‖g_degraded‖ of its training "
                     "loss, degraded clips vs their clean twins, at each arm's training condition, final weights, mean "
                     "over seeds): " + "; ".join(parts) + ".")
    return ([""] + lines + ["", "![RQ1 mechanism](figures/rq1_mechanism.png)"]) if lines else []


def _rq2(store: MetricsStore, p: FiguresParams) -> list[str]:
    lines = [f"## RQ2: adapter scale at inference ({p.rq2_run})", ""]
    scales = store.scales(p.rq2_run)
    if not scales:
        return lines + [f"No per-scale metrics for {p.rq2_run}.", ""]
    for metric in p.rq2_metrics:
        parts = [f"{s:g}: {m.text()}" for s in scales if (m := store.get(p.rq2_run, metric, s)) is not None]
        lines.append(f"- `{metric}` by scale: " + "; ".join(parts))
    note = ("`fvd_synth` compares with the training videos, watermark included: it rewards the watermark the "
            "adapter carries, so read it beside the leakage.") if "fvd_synth" in p.rq2_metrics else ""
    return lines + ["", note, "", "![RQ2](figures/rq2_adapter_scale.png)", ""]


def _rq3(store: MetricsStore, p: FiguresParams) -> list[str]:
    lines = ["## RQ3: MotionLoRA data efficiency", ""]
    runs = ablations.lora_runs(store)
    if not runs:
        return lines + ["No `lora_n*` runs.", ""]
    for metric in p.rq3_metrics:
        parts = [f"N={n}: {m.text()}" for n, r in runs if (m := store.get(r, metric)) is not None]
        real = store.reference([r for _, r in runs], metric, REAL_MOTION_LORA)
        if real is not None:
            parts.append(f"the camera-motion clips themselves: {real.text()}")
        lines.append(f"- `{metric}`: " + "; ".join(parts))
    return lines + ["", "![RQ3](figures/rq3_motion_lora.png)", ""]


def _table_section(title: str, path: Path) -> list[str]:
    body = path.read_text().split("\n", 2)[-1] if path.is_file() else "_table not generated_\n"
    return [f"## {title}", "", body.rstrip(), ""]


def _rq8(p: FiguresParams) -> list[str]:
    """RQ8: one line per goal (which levers meet it), the lever table and figure."""
    from animatelab.figures.build import rq8_levers
    from animatelab.figures.levers import findings

    read = [lv for lv in rq8_levers(p) if lv.values]
    lines = ["## RQ8: what makes a motion module learn motion", "",
             "Each lever changes one thing in the core's with-adapter recipe (its first row); each run is read "
             "with the adapter dropped, against the real clips of its own world.", ""]
    lines += findings(read, p.rq8_metrics) + [""]
    lines += _table_section("RQ8 levers", Path(p.tables_dir) / "rq8_levers.md")[2:]
    lines += ["![RQ8](figures/rq8_levers.png)", ""]
    if p.rq8_curves:
        lines += ["Metric against compute along each curve (levers in order of cost; dots: runs):", "",
                  "![RQ8 compute](figures/rq8_compute.png)", ""]
    return lines


def _probes(p: FiguresParams) -> list[str]:
    results, _ = probes.load(p.probes_dir)
    lines = ["## Probes: where the appearance signal goes", ""]
    if not results:
        return lines + ["No probe results.", ""]
    for probe, metrics in probes.SUMMARY.items():
        for metric in metrics:
            per_run = results.get(probe, {})
            vals = [f"{r} {Metric.from_dict(v[metric]).text()}" for r, v in per_run.items() if metric in v]
            if vals:
                lines.append(f"- `{metric}`: " + "; ".join(vals))
    return lines + ["", "![spectrum](figures/probe_spectrum.png) ![probes](figures/probe_summary.png)", ""]


def _rq6(p: FiguresParams) -> list[str]:
    from animatelab.figures import sparsectrl

    data = sparsectrl.load(p.metrics_dir, p.rq6_variants)
    lines = ["## RQ6: SparseCtrl, control at keyframes and between them", ""]
    if not data:
        return lines + ["No `metrics/sparsectrl_*.json`.", ""]
    scales = sparsectrl.conditioning_scales(p.metrics_dir, list(data))
    sampled = (" Sampled at conditioning scale " + " / ".join(f"{s:g}" for s in scales) + " (the encoders train at 1)."
               if scales else "")
    lines += ["Object position error (px) of the controlled videos vs the same prompts and noise without control; "
              "paired difference over videos (negative: control helps)." + sampled, ""]
    return lines + sparsectrl.findings(data) + ["", "![RQ6 propagation](figures/rq6_propagation.png)",
                                                "", "![RQ6 strip](figures/rq6_keyframe_strip.png)", ""]


def _versus(na: str, ma: Metric | None, nb: str, mb: Metric | None) -> str:
    """``na − nb`` and whether the intervals separate (a clause of an RQ7 line)."""
    if ma is None or mb is None or not (np.isfinite(ma.mean) and np.isfinite(mb.mean)):
        return f"{na} vs {nb}: not comparable"
    return f"{na} − {nb} {ma.mean - mb.mean:+.3g} ({overlap(na, ma, nb, mb)})"


def _rq7_shared(store: MetricsStore, moon: MetricsStore, p: FiguresParams) -> list[str]:
    """Per shared metric: every arm, the real clips, then MoonShot text vs AnimateDiff's first arm and
    each other mode vs text (the image condition's effect)."""
    from animatelab.figures import moonshot

    va, m0 = p.rq1_variants[0], p.rq7_modes[0]
    lines = []
    for metric in p.rq7_metrics:
        arms = moonshot.arms(store, moon, p.rq1_variants, p.rq7_modes, metric, p.rq1_scale)
        by = {a.name: a.metric for a in arms}
        parts = [f"{a.name.replace('moonshot_', 'MoonShot ')} {cell(a.metric)}" for a in arms]
        real = moonshot.real_clips(store, moon, p.rq1_variants, p.rq7_modes, metric)
        parts += [f"real clips {real.text()}"] if real is not None else []
        tests = [_versus(f"MoonShot {m0}", by[f"moonshot_{m0}"], va, by[va])]
        tests += [_versus(f"MoonShot {m}", by[f"moonshot_{m}"], f"MoonShot {m0}", by[f"moonshot_{m0}"]) for m in p.rq7_modes[1:]]
        lines.append(f"- `{metric}`: " + "; ".join(parts) + ". " + "; ".join(tests) + ".")
    return lines


def _rq7_fidelity(moon: MetricsStore, p: FiguresParams) -> list[str]:
    """Per MoonShot measure: each mode, the VAE ceiling and the real clips, then each mode vs text."""
    from animatelab.figures import moonshot

    m0, lines = p.rq7_modes[0], []
    for metric in p.rq7_fidelity_metrics:
        ms = {m: moonshot.mode_metric(moon, m, metric, p.rq1_scale) for m in p.rq7_modes}
        parts = [f"{m} {cell(v)}" for m, v in ms.items()]
        top, real = moonshot.ceiling(moon, p.rq7_modes, metric, p.rq1_scale), moon.reference(p.rq7_modes, metric)
        parts += [f"VAE ceiling {top.text()}"] if top is not None else []
        parts += [f"real clips {real.text()}"] if real is not None else []
        tests = [_versus(m, v, m0, ms[m0]) for m, v in ms.items() if m != m0]
        lines.append(f"- `{metric}`: " + "; ".join(parts) + "." + (" " + "; ".join(tests) + "." if tests else ""))
    return lines


def rq7_findings(store: MetricsStore, p: FiguresParams) -> list[str]:
    """RQ7's section (reports/README.md, findings.md, the notebook): MoonShot's modes beside AnimateDiff's
    RQ1 arms, then first-frame fidelity; a note, not an error, until MoonShot is scored."""
    from animatelab.figures import moonshot

    lines = ["## RQ7: MoonShot vs AnimateDiff: does an image condition free the temporal layers for motion?", ""]
    moon = moonshot.load(p.rq7_metrics_dir, p.rq7_modes)
    if moon is None or not p.rq1_variants or not p.rq7_modes:
        return lines + [f"No `{p.rq7_metrics_dir}/*.json` for modes {', '.join(p.rq7_modes)}: RQ7 skipped.", ""]
    seeds = ", ".join(f"{v}: {len(store.seeds(v))} seeds" for v in p.rq1_variants)
    lines += [(f"Same prompts and initial noise, adapter scale {p.rq1_scale:g}. AnimateDiff ({seeds}): mean over seeds "
               "[95 % t interval]; MoonShot (one trained model per mode): mean [95 % bootstrap interval over videos], "
               "which leaves out the spread between trainings, so a separation from AnimateDiff is weaker than it reads."), ""]
    lines += _rq7_shared(store, moon, p)
    lines += ["", ("First-frame fidelity to the conditioning frame (frame 0 of the prompt's held-out clip; text mode: "
                   "the same frame, never shown to the model) and identity across frames:"), ""]
    lines += _rq7_fidelity(moon, p) + _controlnet(p)
    return lines + ["", "![RQ7](figures/rq7_moonshot_vs_animatediff.png)", "", "![RQ7 first frame](figures/rq7_first_frame.png)", ""]


def _controlnet(p: FiguresParams) -> list[str]:
    """The image ControlNet attached per frame: each target's edge agreement, controlled minus uncontrolled on
    the same prompts and noise (paired per video), from ``{rq7_controlnet_dir}/{target}.json``."""
    import json

    rows = []
    for path in sorted(Path(p.rq7_controlnet_dir).glob("*.json")):
        if path.name.endswith(".meta.json"):
            continue
        gain = json.loads(path.read_text()).get("controlled_minus_uncontrolled", {}).get("edge_f1")
        if gain is not None:
            rows.append(f"- {path.stem}: {Metric.from_dict(gain).text()}")
    if not rows:
        return []
    return ["", ("Image ControlNet (Canny edges, trained on images only) attached to every frame, no video training: "
                 "edge F1 of the videos against their conditioning edges, controlled minus uncontrolled (paired over "
                 "videos, 95 % bootstrap interval):"), "", *rows]


def write_readme(p: FiguresParams, manifest: dict) -> Path:
    store = MetricsStore.load(p.metrics_dir)
    tables = Path(p.tables_dir)
    lines = [
        "# Findings (generated by `animatelab figures`; do not edit)",
        "",
        f"Numbers are read from `{p.metrics_dir}/*.json` and `{p.probes_dir}/`: mean [95 % interval].",
        "Per-run intervals are bootstrap percentiles over videos; for distances between sets (FVD, speed W1) "
        "the interval is recentred by the bootstrap bias (resamples repeat videos, which inflates a distance). "
        "FVD depends on N: compare it with the real-vs-real floor at the same N, not across N.",
        "",
    ]
    want = set(p.sections)
    rq1 = _rq1(store, p) if "rq1" in want else []
    rq7 = rq7_findings(store, p) if "rq7" in want else []
    lines += base_model.findings(p) if "base" in want else []
    lines += rq1 + (_rq2(store, p) if "rq2" in want else []) + (_rq3(store, p) if "rq3" in want else [])
    if "rq4" in want:
        lines += _table_section("RQ4: motion-module design", tables / "rq4_design.md")
        lines += ["![RQ4](figures/rq4_design.png)", ""]
    if "rq5" in want:
        lines += _table_section("RQ5: can the motion follow the prompt?", tables / "rq5_prompt_motion.md")
        lines += ["`dir_*` runs: one MotionLoRA per direction, each sampled with prompts asking for its direction; "
                  "the other runs use the held-out prompts (all seven motions).", "", "![RQ5](figures/rq5_prompt_motion.png)", ""]
    lines += (_probes(p) if "probes" in want else []) + (_rq6(p) if "rq6" in want else []) + rq7
    lines += _rq8(p) if "rq8" in want else []
    missing = sorted(set(manifest.get("missing", [])) | set(store.missing))
    lines += ["## Missing inputs", ""] + ([f"- {m}" for m in missing] or ["- none"]) + [""]
    out = Path(p.readme)
    out.parent.mkdir(parents=True, exist_ok=True)
    # links are relative to the README's folder
    out.write_text("\n".join(lines))
    if p.findings is None:
        return out
    # the headline block for the project README: a DVC output of its own, spliced by `make repro`
    # (python -m animatelab.readme_splice), so no stage ever rewrites the hand-edited README
    findings = Path(p.findings)
    findings.parent.mkdir(parents=True, exist_ok=True)
    link = Path(os.path.relpath(out, findings.parent)).as_posix()
    headlines = [line for block in (rq1, rq7) if block for line in ("#" + block[0], *block[1:])]
    findings.write_text("\n".join([*headlines, f"All findings: [{out.as_posix()}]({link})."]) + "\n")
    return out
