"""Figures, tables and the generated README from fabricated metrics files (no models needed)."""

from __future__ import annotations

import json
from typing import get_args

import pytest

from animatelab.schema.evaluate import FigureSection
from tests.conftest import REPO, core_group
from tests.fabricate import metric, write_all, write_metrics


def test_by_scale_reads_flat_nested_and_slash_layouts():
    from animatelab.figures.metrics import by_scale, split_groups

    flat = by_scale({"fvd_synth": metric(3.0), "meta": {"note": "x"}})
    assert list(flat) == [None] and flat[None]["fvd_synth"].mean == 3.0
    nested = by_scale({"scale_0.5": {"fvd_synth": metric(1.0)}, "scale_1.0": {"fvd_synth": metric(2.0)}})
    assert sorted(nested) == [0.5, 1.0] and nested[1.0]["fvd_synth"].mean == 2.0
    slash = by_scale({"scale_0.25/clip_synth_text": metric(30.0)})
    assert slash[0.25]["clip_synth_text"].mean == 30.0
    # evaluate's layout: the real clips' group is a reference, never a sampling setting
    scales, groups = split_groups({"scale_0.0": {"x": metric(1.0)}, "real_heldout": {"x": metric(9.0)}})
    assert list(scales) == [0.0] and groups["real_heldout"]["x"].mean == 9.0


def test_over_seeds_t_interval_and_missing(tmp_path):
    from animatelab.figures.metrics import MetricsStore

    folder = tmp_path / "m"
    folder.mkdir()
    for s, v in enumerate([1.0, 2.0, 3.0]):
        (folder / f"a_s{s}.json").write_text(json.dumps({"x": metric(v)}))
    store = MetricsStore.load(folder)
    agg, seeds = store.over_seeds("a", "x")
    assert seeds == [1.0, 2.0, 3.0] and agg.mean == pytest.approx(2.0) and agg.n == 3
    # t(0.975, 2) * sd / sqrt(3) = 4.303 * 1 / 1.732
    assert agg.ci_high - agg.mean == pytest.approx(4.303 / 3**0.5, rel=1e-3)
    assert store.over_seeds("b", "x") == (None, [])
    assert store.get("a_s0", "nope") is None
    assert "runs b_s*" in store.missing and "nope of a_s0" in store.missing


def test_build_all_and_readme(tmp_path, monkeypatch):
    from animatelab.figures.build import build_all
    from animatelab.reports_readme import write_readme

    monkeypatch.chdir(tmp_path)
    write_all(tmp_path)
    p = core_group("figures", sections=list(get_args(FigureSection)))  # every question in one folder
    manifest = build_all(p)
    names = {f.rsplit("/", 1)[-1] for f in manifest["figures"]}
    for fig in ("rq1_adapter_ablation", "rq2_adapter_scale", "rq3_motion_lora", "rq4_design", "rq5_prompt_motion", "samples_grid",
                "probe_spectrum", "probe_summary", "probe_loss_over_training", "rq1_dose_response", "rq1_mechanism",
                "rq6_propagation", "rq6_keyframe_strip"):
        assert {f"{fig}.png", f"{fig}.pdf"} <= names
    from PIL import Image

    w, _ = Image.open(tmp_path / "reports/figures/rq1_adapter_ablation.png").size
    assert p.column_width * p.dpi * 1.5 < w <= 2 * p.column_width * p.dpi * 1.1  # text width: 8 panels in 2 rows
    rq4 = (tmp_path / "reports/tables/rq4_design.md").read_text()
    assert "conv1d_s0" in rq4 and "per_frame_norm_s0" not in rq4
    assert "run per_frame_norm_s0" in manifest["missing"]
    assert "\\begin{tabular}" in (tmp_path / "reports/tables/rq1_adapter_ablation.tex").read_text()
    readme = write_readme(p, manifest).read_text()
    # fabricated leakage: with-adapter seeds 0.10/0.12/0.14, without 0.70/0.67/0.64
    assert "with_adapter 0.12 [" in readme and "no_adapter 0.67 [" in readme
    assert "difference with_adapter − no_adapter -0.55 [" in readme
    assert "(Welch 95 % over seed means; excludes 0: higher for no_adapter)" in readme
    assert "every no_adapter seed above every with_adapter seed; exact permutation p = 0.1." in readme
    assert "run random_proj_out_s0" in readme
    assert "no_adapter 0.10 (step 0) → 0.40 (step 2) → 0.60 (step 4)" in readme  # the dose-response sentence
    # the mechanism sentences, read from adapter_gap.json and domain_signal.json (fabricated)
    assert "at adapter scale 0, 0.02 [" in readme and "; the adapter removes 80% [" in readme
    assert "final weights, mean over seeds): with_adapter 0.040 (" in readme and "no_adapter 0.600 (" in readme
    assert "Real clips: " in readme and "no_adapter_s0.meta" not in readme
    assert "VAE-reconstruction ceiling (real clips through this VAE): " in readme
    assert "Floor (`untrained`: the motion module as initialised, the base's own frames): 0.05 [" in readme
    # the defect measures above that floor (fabricated floor 0.05): 0.12 - 0.05 and 0.67 - 0.05
    assert "Above the floor (arm − floor, half-widths in quadrature): with_adapter 0.07 [" in readme
    assert "no_adapter 0.62 [" in readme and readme.count("Above the floor") == 1  # fabricated: leakage only
    # RQ3 read against the LoRAs' own camera-motion clips (fabricated: direction accuracy 0.86)
    assert "N=8: " in readme and "; the camera-motion clips themselves: 0.86 [" in readme
    assert "## RQ6: SparseCtrl" in readme and "- rgb, 4 keyframes: `pos_err_cond` 0.6 [" in readme
    assert "(paired difference -3.4 [" in readme
    # RQ2 reports the domain's defects by adapter scale, not only quality (FVD's reference is watermarked)
    assert "- `watermark_leakage` by scale: 0: " in readme and "rewards the watermark" in readme


def test_figures_stage_with_nothing_but_rq1(workdir):
    """Only RQ1 metrics exist: the stage still succeeds and says what is missing."""
    from animatelab.cli import main

    write_metrics(workdir / "metrics", seeds=1)
    for f in (workdir / "metrics").glob("lora_*.json"):
        f.unlink()
    assert main(["figures"]) == 0
    readme = (workdir / "reports/README.md").read_text()
    assert "samples of with_adapter_s0" in readme
    assert (workdir / "reports/figures/rq1_adapter_ablation.pdf").is_file()
    assert not (workdir / "reports/figures/rq3_motion_lora.png").exists()


def test_core_and_study_draw_their_own_questions_into_their_own_folders(tmp_path, monkeypatch):
    """The core's figures group draws RQ1/RQ2/probes only; a study's params file (laid over the core's)
    draws its question into reports/<study>/ and writes no README headline."""
    from animatelab.cli import main
    from animatelab.config import load_params, study_params_files

    monkeypatch.chdir(tmp_path)
    write_all(tmp_path)
    (tmp_path / "experiments/motion-design").mkdir(parents=True)
    for rel in ("params.yaml", "experiments/motion-design/params.yaml"):
        (tmp_path / rel).write_text((REPO / rel).read_text())
    assert main(["figures"]) == 0
    core = {f.name for f in (tmp_path / "reports/figures").glob("*.png")}
    assert {"rq1_adapter_ablation.png", "rq2_adapter_scale.png", "rq1_dose_response.png"} <= core
    assert not core & {"rq3_motion_lora.png", "rq4_design.png", "rq5_prompt_motion.png", "rq6_propagation.png"}
    assert "## RQ4" not in (tmp_path / "reports/README.md").read_text()
    findings = (tmp_path / "reports/findings.md").read_text()

    files = [str(f.relative_to(tmp_path)) for f in study_params_files("motion-design", tmp_path)]
    assert load_params(files).figures.readme == "reports/motion-design/README.md"
    assert main(["figures", *(a for f in files for a in ("--params", f))]) == 0
    study = {f.name for f in (tmp_path / "reports/motion-design/figures").glob("*.png")}
    assert study == {"rq4_design.png"}
    readme = (tmp_path / "reports/motion-design/README.md").read_text()
    assert "## RQ4" in readme and "## RQ1" not in readme and "conv1d_s0" in readme
    assert (tmp_path / "reports/findings.md").read_text() == findings  # the core's headline untouched


def test_project_readme_headline_is_spliced_between_markers(tmp_path, monkeypatch):
    """The figures stage writes the RQ1 headline to reports/findings.md and never touches the project
    README; `make repro` splices it between the README's markers, re-rooting links, text outside kept."""
    from animatelab.figures.build import build_all
    from animatelab.readme_splice import FINDINGS_END, FINDINGS_START, splice_file
    from animatelab.reports_readme import write_readme

    monkeypatch.chdir(tmp_path)
    write_all(tmp_path)
    original = f"# intro\n{FINDINGS_START}\nstale 0.99\n{FINDINGS_END}\n## after\n"
    (tmp_path / "README.md").write_text(original)
    p = core_group("figures")
    write_readme(p, build_all(p))
    assert (tmp_path / "README.md").read_text() == original  # no stage rewrites the hand-edited README
    findings = (tmp_path / "reports/findings.md").read_text()
    assert "no_adapter 0.67 [" in findings and "](figures/rq1_adapter_ablation.png)" in findings
    assert splice_file(tmp_path / "README.md", tmp_path / "reports/findings.md")
    text = (tmp_path / "README.md").read_text()
    assert text.startswith("# intro\n") and text.endswith("## after\n") and "stale" not in text
    assert "no_adapter 0.67 [" in text and "](reports/figures/rq1_adapter_ablation.png)" in text
    assert "](reports/README.md)" in text
    # no markers: the file is left exactly as it was
    (tmp_path / "README.md").write_text("hand-written\n")
    assert not splice_file(tmp_path / "README.md", tmp_path / "reports/findings.md")
    assert (tmp_path / "README.md").read_text() == "hand-written\n"


def test_seed_test_states_order_and_exact_permutation_p():
    from animatelab.reports_readme import seed_test

    apart = seed_test("with", [-0.03, -0.01, -0.02], "without", [0.03, 0.07, 0.03])
    assert "every without seed above every with seed" in apart and "p = 0.1." in apart  # 2 of 20 splits
    mixed = seed_test("with", [0.0, 0.2, 0.4], "without", [0.1, 0.3, 0.5])
    assert "seeds interleave" in mixed and "p = 0.1" not in mixed
    assert seed_test("with", [0.1], "without", [0.2, 0.3]) == ""


def test_welch_difference_matches_scipy():
    from scipy import stats

    from animatelab.figures.metrics import welch_difference

    a, b = [0.10, 0.12, 0.14, 0.09], [0.70, 0.67, 0.64]
    d = welch_difference(a, b)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert abs(d.mean - (sum(a) / 4 - sum(b) / 3)) < 1e-12
    assert abs(d.ci_low - ci.low) < 1e-9 and abs(d.ci_high - ci.high) < 1e-9
    assert welch_difference([0.1], b) is None


def test_base_model_section_reads_both_caption_wordings(tmp_path):
    from animatelab.figures.base_model import findings

    def acc(all_: float) -> dict:
        out = {}
        for k, v in {"all": all_, "colour": 0.9, "shape": 0.8, "background": 0.95}.items():
            out.update({k: v, f"{k}_lo": v - 0.05, f"{k}_hi": v + 0.05})
        return out

    path = tmp_path / "quality.json"
    path.write_text(json.dumps({"quality": acc(0.71), "quality_with_motion_phrase": acc(0.44), "quality_samples": 240,
                                "reader_accuracy_on_training_images": acc(0.998),
                                "reader_accuracy_on_vae_reconstructions": acc(0.856)}))
    text = "\n".join(findings(core_group("figures", base_quality=str(path))))
    assert "0.710 [0.660, 0.760] of 240 samples" in text
    assert "motion phrase" in text and "0.440 [0.390, 0.490]" in text
    assert "0.856 [0.806, 0.906]" in text
    assert findings(core_group("figures", base_quality=str(tmp_path / "missing.json"))) == []


def test_summary_reads_arm_means_and_file_keys(tmp_path, monkeypatch):
    """figures.summary: an arm's mean over its seeds' files, a key's mean inside a file, None when absent;
    a study's summary replaces the core's (its headline numbers are its own)."""
    from animatelab.config import load_params, study_params_files
    from animatelab.figures.metrics import MetricsStore
    from animatelab.figures.summary import headline
    from animatelab.schema.evaluate import SummaryEntry

    monkeypatch.chdir(tmp_path)
    write_metrics(tmp_path / "metrics", seeds=3)
    store = MetricsStore.load("metrics")
    got = headline([SummaryEntry(name="with", arm="with_adapter", metric="watermark_leakage"),
                    SummaryEntry(name="one", file="metrics/no_adapter_s1.json", key="scale_0.0/watermark_leakage"),
                    SummaryEntry(name="absent", file="metrics/nope.json", key="scale_0.0/watermark_leakage")], store)
    # fabricated leakage: with-adapter seeds 0.10/0.12/0.14, without 0.70/0.67/0.64
    assert got == {"with": pytest.approx(0.12), "one": pytest.approx(0.67), "absent": None}
    with pytest.raises(ValueError, match="either file"):
        SummaryEntry(name="x", file="metrics/x.json", arm="with_adapter", metric="m")
    core = [e.name for e in load_params(REPO / "params.yaml").figures.summary]
    study = [e.name for e in load_params(study_params_files("sparsectrl", REPO)).figures.summary]
    assert "leak_with" in core and "leak_with" not in study and "d_pos_rgb" in study


def test_rq7_reports_the_image_controlnet_edge_gain(tmp_path):
    """The ControlNet's paired edge-F1 gain per target is quoted from its metrics files (meta files skipped)."""
    from animatelab.reports_readme import _controlnet

    folder = tmp_path / "controlnet"
    folder.mkdir()
    gain = {"controlled_minus_uncontrolled": {"edge_f1": {"mean": 0.0916, "ci_low": 0.0524, "ci_high": 0.133, "n": 32}}}
    (folder / "animatediff.json").write_text(json.dumps(gain))
    (folder / "animatediff.meta.json").write_text(json.dumps(gain))
    lines = _controlnet(core_group("figures", rq7_controlnet_dir=str(folder)))
    assert lines[-1] == "- animatediff: 0.0916 [0.0524, 0.133]" and sum(line.startswith("- ") for line in lines) == 1
    assert _controlnet(core_group("figures", rq7_controlnet_dir=str(tmp_path / "none"))) == []


def test_rq1_explains_the_floor_with_the_vaes_own_reconstructions(tmp_path):
    """``watermark_leakage_vae_clean`` / ``_vae_degraded`` (the VAE alone on clean twins / degraded clips)
    become one sentence beside the floor; fabricated: clean twins 0.04, floor 0.05 -> 80 %."""
    from animatelab.figures.metrics import MetricsStore
    from animatelab.reports_readme import _vae_floor
    from tests.fabricate import metric

    floors = {"watermark_leakage_vae_clean": metric(0.04, 0.01), "watermark_leakage_vae_degraded": metric(0.3, 0.02)}
    (tmp_path / "with_adapter_s0.json").write_text(json.dumps({"scale_0.0": {"watermark_leakage": metric(0.1), **floors}}))
    (tmp_path / "untrained.json").write_text(json.dumps({"scale_0.0": {"watermark_leakage": metric(0.05)}}))
    store = MetricsStore.load(tmp_path)
    text = " ".join(_vae_floor(store, ["with_adapter_s0"], core_group("figures")))
    assert "clean twins) read 0.04 [" in text and "degraded as the video data is 0.3 [" in text
    assert "the floor (`untrained`) is 0.05 [" in text and "80 % of it" not in text and "80% of it" in text
    (tmp_path / "with_adapter_s0.json").write_text(json.dumps({"scale_0.0": {"watermark_leakage": metric(0.1)}}))
    assert _vae_floor(MetricsStore.load(tmp_path), ["with_adapter_s0"], core_group("figures")) == []
