"""Tables as LaTeX and Markdown (pandas), each cell ``mean [ci_low, ci_high]``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from animatelab.figures.metrics import Metric, MetricsStore


def cell(m: Metric | dict | None, digits: int = 3) -> str:
    if m is None:
        return "—"
    m = Metric.from_dict(m) if isinstance(m, dict) else m
    return m.text(digits)


def runs_table(store: MetricsStore, runs: list[str], metrics: list[str], scale: float | None) -> pd.DataFrame:
    """Rows: the runs present (absent ones are skipped and noted in ``store.missing``)."""
    present = [r for r in runs if r in store.runs]
    for r in runs:
        if r not in store.runs:
            store._miss(f"run {r}")
    return pd.DataFrame(
        {metric: [cell(store.get(r, metric, scale)) for r in present] for metric in metrics},
        index=pd.Index(present, name="run"),
    )


def variants_table(store: MetricsStore, variants: list[str], metrics: list[str], scale: float | None) -> pd.DataFrame:
    """Rows: variants, each metric the mean over seeds with a t interval; plus the seed count."""
    data = {}
    for v in variants:
        row = {}
        for metric in metrics:
            agg, seeds = store.over_seeds(v, metric, scale)
            row[metric] = cell(agg)
        row["seeds"] = len(store.seeds(v))
        data[v] = row
    return pd.DataFrame.from_dict(data, orient="index").rename_axis("variant")


def write(df: pd.DataFrame, folder: str | Path, name: str, caption: str) -> list[Path]:
    """``{name}.md`` and ``{name}.tex``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    md, tex = folder / f"{name}.md", folder / f"{name}.tex"
    body = df.to_markdown() if len(df) else "_no runs found_"
    md.write_text(f"{caption}\n\n{body}\n")
    escaped = df.rename(columns=lambda c: str(c).replace("_", r"\_"), index=lambda i: str(i).replace("_", r"\_"))
    tex.write_text(escaped.to_latex(caption=caption, label=f"tab:{name}", escape=False) if len(df) else f"% {caption}: no runs found\n")
    return [md, tex]
