"""``animatelab train_adapter``: the domain-adapter LoRA, trained on single video frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from animatelab.config import Params


def run(params: Params, args: Any) -> None:
    import mlflow

    from animatelab.tracking import stage_run
    from animatelab.train.adapter import train_domain_adapter

    p = params.train_adapter
    with stage_run("train_adapter", {"train_adapter": p.model_dump(), "base": params.base.model_dump()}):
        result, path = train_domain_adapter(params.base.path, Path(params.encode.out_dir) / p.dataset, p,
                                            params.base.scheduler_overrides)
        mlflow.log_metric("final_loss", sum(result.losses[-20:]) / len(result.losses[-20:]))
        log_adapter_samples(params.base.path, path.parent, p.loop.seed)
        print(f"train_adapter: {result.steps} steps, saved {path}")


ADAPTER_SAMPLE_STEPS = 15


def log_adapter_samples(base_path: str, adapter_dir: Path, seed: int, scales: tuple[float, ...] = (0.0, 1.0)) -> None:
    """Images of one caption per shape x colour, at each adapter scale with the same noise, as one labelled
    grid in MLflow: the adapter's domain (watermark bars, blur) should appear at scale 1 and not at 0.
    For the eye only: nothing here is a DVC output."""
    import numpy as np
    import torch

    from animatelab.models.assemble import motion_unet
    from animatelab.models.base import load_base
    from animatelab.tracking_media import log_labelled_grid
    from animatelab.world import COLOURS, SHAPES, caption_for

    captions = [caption_for(shape, colour, "gray") for shape in SHAPES for colour in list(COLOURS)[:3]]
    rows, labels = [], []  # rows: (captions, H, W, 3) per scale
    for scale in scales:
        comps = load_base(base_path)
        motion_unet(comps.unet, adapter=adapter_dir, adapter_scale=scale)
        pipe = comps.pipeline()
        pipe.set_progress_bar_config(disable=True)
        size = comps.unet.config.sample_size * 2 ** (len(comps.vae.config.block_out_channels) - 1)
        out = pipe(captions, height=size, width=size, num_inference_steps=ADAPTER_SAMPLE_STEPS,
                   generator=torch.Generator().manual_seed(seed), output_type="np")
        rows.append((np.clip(out.images, 0, 1) * 255).round().astype(np.uint8))
        labels.append(f"adapter scale {scale:g}")
    # one row per scale, one column per caption: the same noise, so columns differ only by the adapter
    log_labelled_grid(np.stack(rows), labels, "samples", "adapter_scale_0_vs_1", frames=len(captions),
                      title="base + domain adapter, same noise per column: " + "; ".join(captions))
