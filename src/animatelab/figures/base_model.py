"""The base image model's section of ``reports/README.md``, read from ``pretrain_base``'s quality.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from animatelab.config import FiguresParams


def findings(p: "FiguresParams") -> list[str]:
    """The base image model's own quality: samples read back, beside what the reader and the VAE allow."""
    path = Path(p.base_quality)
    if not path.is_file():
        return []
    q = json.loads(path.read_text())

    def acc(d: dict, key: str = "all") -> str:
        return f"{d[key]:.3f} [{d[key + '_lo']:.3f}, {d[key + '_hi']:.3f}]"

    samples, reader = q["quality"], q["reader_accuracy_on_training_images"]
    line = (f"Colour, shape and background all as prompted: {acc(samples)} of {q['quality_samples']} samples "
            f"(colour {acc(samples, 'colour')}, shape {acc(samples, 'shape')}, background "
            f"{acc(samples, 'background')}; 95 % Wilson). The reader on the training images: {acc(reader)}")
    phrased = q.get("quality_with_motion_phrase")
    if phrased:
        line += (f". The same captions with a motion phrase, as the video prompts word them (\"a red square "
                 f"moving left on a black background\"): {acc(phrased)} (colour {acc(phrased, 'colour')}, shape "
                 f"{acc(phrased, 'shape')}, background {acc(phrased, 'background')}); this is what the video "
                 f"models start from")
    ceiling = q.get("reader_accuracy_on_vae_reconstructions")
    if ceiling:
        line += (f"; on their VAE reconstructions (the most a sample drawn through this VAE can score): "
                 f"{acc(ceiling)}, shape {acc(ceiling, 'shape')}")
    return ["## The base image model (`pretrain_base`)", "", line + ".", ""]
