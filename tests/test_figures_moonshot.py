"""RQ7 (MoonShot vs AnimateDiff) figures, tables and findings from fabricated metrics files in the
layouts ``evaluate`` and ``evaluate_moonshot`` write (tests/fabricate.py); no models needed.

The expected numbers are read from the JSON files here, independently of ``MetricsStore``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import core_group
from tests.fabricate import write_all, write_metrics


def _mean(d: dict) -> float:
    return d["mean"]


def _file(root: Path, name: str) -> dict:
    return json.loads((root / "metrics" / f"{name}.json").read_text())


def _at_scale0(data: dict, metric: str) -> dict:
    """What a run file holds at adapter scale 0: its ``scale_0.0`` group, else its top level."""
    return data.get("scale_0.0", data)[metric]


def _bars(ax) -> list[tuple[float, float, float, float]]:
    """``(x, height, error low, error high)`` of every bar drawn on ``ax``."""
    from matplotlib.container import BarContainer

    out = []
    for c in ax.containers:
        if isinstance(c, BarContainer):
            (low, high) = c.errorbar.lines[2][0].get_segments()[0][:, 1]
            rect = c.patches[0]
            out.append((rect.get_x() + rect.get_width() / 2, rect.get_height(), low, high))
    return out


def _hlines(ax, ls: str) -> list[float]:
    return [line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == ls and list(line.get_xdata()) == [0, 1]]


@pytest.fixture
def world(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return write_all(tmp_path)


def test_figures_files_and_plotted_values_are_the_metrics_files(world):
    import matplotlib

    matplotlib.use("Agg")
    from animatelab.figures import moonshot
    from animatelab.figures.build import build_all
    from animatelab.figures.metrics import MetricsStore
    from animatelab.figures.style import paper_style

    p = core_group("figures", sections=["rq1", "rq7"])
    manifest = build_all(p)
    for name in ("rq7_moonshot_vs_animatediff", "rq7_first_frame"):
        assert {f"reports/figures/{name}.png", f"reports/figures/{name}.pdf"} <= set(manifest["figures"])
        assert (world / f"reports/figures/{name}.png").stat().st_size > 10_000
        assert (world / f"reports/tables/{name}.md").is_file()

    store, moon = MetricsStore.load(p.metrics_dir), moonshot.load(p.rq7_metrics_dir, p.rq7_modes)
    with paper_style():
        fig = moonshot.comparison_figure(store, moon, p.rq1_variants, p.rq7_modes, p.rq7_metrics, p.rq1_scale, 6.6)
        ff = moonshot.first_frame_figure(moon, p.rq7_modes, p.rq7_fidelity_metrics, p.rq1_scale, 6.6)
    modes = {m: _file(world, f"moonshot/{m}") for m in p.rq7_modes}
    drawn = 0
    for ax, metric in zip(fig.axes, p.rq7_metrics):
        bars = _bars(ax)
        if metric not in modes["text"]["scale_0.0"]:  # absent from the fabricated files: a note, no bar
            assert bars == [] and "missing" in " ".join(t.get_text() for t in ax.texts)
            continue
        drawn += 1
        # AnimateDiff: the mean of the seeds' file means; MoonShot: the file's mean and interval as they are
        for i, variant in enumerate(p.rq1_variants):
            seeds = [_mean(_at_scale0(_file(world, f"{variant}_s{s}"), metric)) for s in range(3)]
            assert bars[i][:2] == pytest.approx((i, np.mean(seeds)))
        for j, mode in enumerate(p.rq7_modes):
            m = modes[mode]["scale_0.0"][metric]
            x, height, low, high = bars[len(p.rq1_variants) + j]
            assert (x, height, low, high) == pytest.approx((len(p.rq1_variants) + j, m["mean"], m["ci_low"], m["ci_high"]))
        assert _hlines(ax, "--") == pytest.approx([modes["text"]["real_heldout"][metric]["mean"]])
    assert drawn >= 4
    for ax, metric in zip(ff.axes, p.rq7_fidelity_metrics):
        got = _bars(ax)
        want = [(j, modes[m]["scale_0.0"][metric]["mean"], modes[m]["scale_0.0"][metric]["ci_low"],
                 modes[m]["scale_0.0"][metric]["ci_high"]) for j, m in enumerate(p.rq7_modes)]
        assert np.allclose(got, want)
        ceiling = modes["animate"]["scale_0.0"].get(f"{metric}_vae_ceiling")
        assert _hlines(ax, "-") == pytest.approx([ceiling["mean"]] if ceiling else [])
        real = modes["animate"]["real_heldout"].get(metric)
        assert _hlines(ax, "--") == pytest.approx([real["mean"]] if real else [])
    assert {"first_frame_psnr", "identity_clip"} <= set(p.rq7_fidelity_metrics)


def test_findings_and_tables_quote_the_files_numbers(world):
    from animatelab.figures.build import build_all
    from animatelab.figures.metrics import Metric
    from animatelab.reports_readme import write_readme

    p = core_group("figures", sections=["rq1", "rq7"])
    readme = write_readme(p, build_all(p)).read_text()
    findings = (world / p.findings).read_text()
    table = (world / "reports/tables/rq7_first_frame.md").read_text()
    text, animate = (_file(world, f"moonshot/{m}")["scale_0.0"] for m in ("text", "animate"))
    for doc in (readme, findings):
        assert "## RQ7: MoonShot vs AnimateDiff" in doc and "](figures/rq7_first_frame.png)" in doc
        lines = {line.split("`")[1]: line for line in doc.split("## RQ7")[1].splitlines() if line.startswith("- `")}
        psnr = lines["first_frame_psnr"]
        t, a = Metric.from_dict(text["first_frame_psnr"]), Metric.from_dict(animate["first_frame_psnr"])
        ceiling = Metric.from_dict(animate["first_frame_psnr_vae_ceiling"])
        assert f"text {t.text()}; animate {a.text()}; VAE ceiling {ceiling.text()}." in psnr
        assert f"animate − text {a.mean - t.mean:+.3g} (intervals do not overlap; higher for animate)" in psnr
        leak = lines["watermark_leakage"]
        assert f"MoonShot text {Metric.from_dict(text['watermark_leakage']).text()}" in leak
        assert f"MoonShot animate {Metric.from_dict(animate['watermark_leakage']).text()}" in leak
        assert "with_adapter 0.12 [" in leak and "MoonShot text − with_adapter " in leak  # fabricated seeds 0.10/0.12/0.14
        assert "one trained model per mode" in doc  # the two kinds of interval are named
    assert f"| animate     | {Metric.from_dict(animate['first_frame_psnr']).text()}" in table
    assert findings.index("### RQ1") < findings.index("### RQ7") < findings.index("All findings")


def test_figures_stage_skips_rq7_without_metrics_moonshot(workdir):
    """No metrics/moonshot folder: the figures stage succeeds, draws no RQ7 figure and says so."""
    from animatelab.cli import main

    write_metrics(workdir / "metrics", seeds=1)
    assert main(["figures", "--set", "figures.sections=[rq1, rq7]"]) == 0
    readme = (workdir / "reports/README.md").read_text()
    assert "No `metrics/moonshot/*.json` for modes text, animate: RQ7 skipped." in readme
    assert "metrics/moonshot/{text,animate}.json (RQ7 MoonShot: skipped)" in readme  # the missing-inputs list
    assert "RQ7 skipped" in (workdir / "reports/findings.md").read_text()
    assert not list((workdir / "reports/figures").glob("rq7_*")) and not list((workdir / "reports/tables").glob("rq7_*"))
    # a folder with no file of a configured mode is skipped the same way
    (workdir / "metrics/moonshot").mkdir()
    (workdir / "metrics/moonshot/other.json").write_text(json.dumps({"scale_0.0": {"x": {"mean": 1, "ci_low": 0, "ci_high": 2, "n": 3}}}))
    assert main(["figures", "--set", "figures.sections=[rq1, rq7]"]) == 0
    assert not list((workdir / "reports/figures").glob("rq7_*"))
