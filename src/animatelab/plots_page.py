"""``make plots``: every DVC plot of the pipelines as one HTML page that opens offline.

``dvc plots show`` writes a page that loads vega, vega-lite and vega-embed from a CDN, so without a network
it is blank; it also colours by revision only (every run of a plot one colour, told apart by dash) and draws
the raw per-step loss. This page takes the same data (``dvc plots show --json`` / ``dvc plots diff --json``),
draws each loss plot with one colour per run (and revision), a rolling mean over ``--window`` steps over
the faint raw curve, renders it to SVG with vl-convert (no browser, no network) and embeds the pipelines'
figure images, so the file holds everything it shows.

    python -m animatelab.plots_page                      # every pipeline's plots -> dvc_plots/offline.html
    python -m animatelab.plots_page loss_rq1_motion      # one plot id
    python -m animatelab.plots_page --diff HEAD~1        # workspace vs a revision
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

WINDOW = 20  # steps in the rolling mean: loss curves are per step (spikes of several times the mean)


def collect(targets: Sequence[str], diff: Sequence[str] | None = None,
            dvc: str = "dvc") -> tuple[dict[str, list[dict]], list[str]]:
    """``({plot id: [entry]}, [missing file])`` as DVC resolves every pipeline's plots (vega entries hold the
    rows, image entries a file path); a file not produced yet is left out of its plot and listed."""
    cmd = [dvc, "plots", "diff", *diff] if diff is not None else [dvc, "plots", "show"]
    run = subprocess.run([*cmd, "--json", *targets], capture_output=True, text=True, check=True)
    out = json.loads(run.stdout)
    missing = sorted({f"{e.get('source')} ({e.get('rev')})" for e in out.get("errors", [])})
    return {pid: entries for pid, entries in out.get("data", {}).items() if entries}, missing


def series_name(row: dict[str, Any], revisions: int) -> str:
    """One legend entry per run: the file's folder (``with_adapter_s0`` of ``.../with_adapter_s0/loss.csv``),
    the file's stem where the folder says nothing, and the revision when several are compared."""
    path = Path(str(row.get("filename", "")))
    name = path.parent.name or path.stem
    if path.stem not in {"loss", name}:
        name = f"{name}/{path.stem}"
    return f"{name} @ {row.get('rev')}" if revisions > 1 else name


def rolling_range(values: list[dict[str, Any]], window: int) -> tuple[float, float]:
    """Lowest and highest rolling mean over all series: the y range, so single-step spikes do not flatten it."""
    import numpy as np

    lo, hi = np.inf, -np.inf
    for name in {v["series"] for v in values}:
        ys = np.array([v["y"] for v in sorted((v for v in values if v["series"] == name), key=lambda v: v["x"])])
        k = max(1, min(window, len(ys)))
        smooth = np.convolve(ys, np.ones(k) / k, mode="valid")
        lo, hi = min(lo, smooth.min()), max(hi, smooth.max())
    pad = 0.1 * (hi - lo) or 0.1 * abs(hi) or 1.0
    return float(lo - pad), float(hi + pad)


def loss_spec(title: str, rows: list[dict[str, Any]], x: str, y: str, window: int = WINDOW) -> dict:
    """A Vega-Lite line chart: the raw curve faint, its rolling mean bold, one colour per series; the y axis
    spans the rolling means (raw spikes beyond it are clipped)."""
    revisions = len({r.get("rev") for r in rows})
    values = [{"x": float(r[x]), "y": float(r[y]), "series": series_name(r, revisions)} for r in rows]
    yscale = {"domain": list(rolling_range(values, window)), "zero": False}
    ytitle = f"{y} (bold: mean of {window} steps)"
    enc = {"x": {"field": "x", "type": "quantitative", "title": x},
           "color": {"field": "series", "type": "nominal", "title": None, "legend": {"orient": "right", "limit": 260, "symbolOpacity": 1}}}
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title, "width": 420, "height": 260, "data": {"values": values},
        "layer": [
            {"mark": {"type": "line", "opacity": 0.15, "clip": True},
             "encoding": {**enc, "y": {"field": "y", "type": "quantitative", "title": ytitle, "scale": yscale}}},
            {"transform": [{"window": [{"op": "mean", "field": "y", "as": "smooth"}], "frame": [-(window // 2), window // 2],
                            "groupby": ["series"], "sort": [{"field": "x"}]}],
             "mark": {"type": "line", "strokeWidth": 2, "clip": True},
             "encoding": {**enc, "y": {"field": "smooth", "type": "quantitative", "title": ytitle, "scale": yscale}}},
        ],
    }


def _axes(entry: dict) -> tuple[str, str]:
    enc = entry["content"].get("encoding", {})
    x = enc.get("x", {}).get("field", "step")
    layers = entry["content"].get("layer", [])
    y = next((lay["encoding"]["y"]["field"] for lay in layers if "y" in lay.get("encoding", {})), "loss")
    return x, y


def render(data: dict[str, list[dict]], window: int = WINDOW, missing: Sequence[str] = ()) -> str:
    """The page: one section per plot id, in DVC's order; SVG charts and base64 images, no external URL."""
    import vl_convert as vlc

    parts = []
    for pid, entries in data.items():
        body = []
        for entry in entries:
            if entry.get("type") == "image":
                png = Path(entry["url"]).read_bytes()
                body.append(f'<figure><img alt="{html.escape(pid)}" src="data:image/png;base64,'
                            f'{base64.b64encode(png).decode()}"><figcaption>{html.escape(", ".join(entry["revisions"]))}'
                            "</figcaption></figure>")
            else:
                x, y = _axes(entry)
                title = entry["content"].get("title", pid)
                title = title.get("text", pid) if isinstance(title, dict) else title
                svg = vlc.vegalite_to_svg(loss_spec(title, entry["content"]["data"]["values"], x, y, window))
                body.append(svg[svg.index("<svg"):])  # inline SVG without its XML prolog
        parts.append(f'<section id="{html.escape(pid)}"><h2>{html.escape(pid)}</h2>{"".join(body)}</section>')
    if missing:
        items = "".join(f"<li>{html.escape(m)}</li>" for m in missing)
        parts.append(f"<h2>Not produced yet (run its pipeline)</h2><ul>{items}</ul>")
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>animatelab plots</title><style>"
            "body{font-family:sans-serif;margin:2em}section{margin-bottom:2em}img{max-width:900px}"
            "</style></head><body><h1>DVC plots</h1>" + "".join(parts) + "</body></html>\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m animatelab.plots_page", description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help="plot ids or files (default: every pipeline's plots)")
    parser.add_argument("--diff", nargs="*", default=None, metavar="REV", help="compare revisions (dvc plots diff)")
    parser.add_argument("--window", type=int, default=WINDOW, help="steps in the rolling mean")
    parser.add_argument("-o", "--out", default="dvc_plots/offline.html")
    args = parser.parse_args(argv)
    dvc = str(Path(sys.executable).with_name("dvc"))
    data, missing = collect(args.targets, args.diff, dvc if Path(dvc).exists() else "dvc")
    page = render(data, args.window, missing)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    print(f"wrote {out} (opens offline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
