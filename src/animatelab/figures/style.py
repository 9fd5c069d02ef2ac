"""One look for every figure: paper column width (3.3 in), small serif-free fonts, PNG + PDF."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

COLUMN_WIDTH = 3.3  # inches, one column of a two-column paper
PALETTE = {"with_adapter": "#1f77b4", "no_adapter": "#d62728"}
CYCLE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]

RC = {
    "font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "xtick.labelsize": 6, "ytick.labelsize": 6,
    "legend.fontsize": 6, "axes.spines.top": False, "axes.spines.right": False, "axes.linewidth": 0.6,
    "lines.linewidth": 1.0, "lines.markersize": 3, "errorbar.capsize": 2, "savefig.bbox": "tight",
    "pdf.fonttype": 42, "axes.prop_cycle": matplotlib.cycler(color=CYCLE),
}


@contextlib.contextmanager
def paper_style() -> Iterator[None]:
    with plt.rc_context(RC):
        yield


def figure(width: float = COLUMN_WIDTH, aspect: float = 0.62, **kwargs):
    """A figure ``width`` inches wide (default one column) and ``width * aspect`` high."""
    return plt.subplots(figsize=(width, width * aspect), **kwargs)


def save(fig, folder: str | Path, name: str, dpi: int = 300) -> list[Path]:
    """Write ``{name}.png`` and ``{name}.pdf``; close the figure."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png", folder / f"{name}.pdf"]
    for p in paths:
        fig.savefig(p, dpi=dpi, metadata={"CreationDate": None} if p.suffix == ".pdf" else None)
    plt.close(fig)
    return paths


def note_missing(ax, missing: list[str]) -> None:
    """Say on the plot what could not be drawn (empty panels must not look like zeros)."""
    if missing:
        ax.text(0.5, 0.5, "missing:\n" + "\n".join(missing[:6]), transform=ax.transAxes,
                ha="center", va="center", fontsize=5, color="0.4")
