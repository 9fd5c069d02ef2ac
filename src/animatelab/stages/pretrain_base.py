"""``animatelab pretrain_base``: train and save the tiny SD-format base (embedded default only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from animatelab.config import Params
from animatelab.outputs import without_wall_clock


def run(params: Params, args: Any) -> None:
    import mlflow
    import numpy as np

    from animatelab.eval.base_quality import accuracy
    from animatelab.models.tiny_base import build_tiny_base, save_base
    from animatelab.tracking import stage_run
    from animatelab.tracking_media import log_labelled_grid
    from animatelab.train.pretrain_base import load_synth_images, load_video_frames, pretrain, reconstruct, sample_quality
    from animatelab.utils import seed_everything, write_json
    from animatelab.world import caption_variants

    p, out = params.pretrain_base, Path(params.base.path)
    seed_everything(p.seed)
    with stage_run("pretrain_base", {"pretrain_base": p.model_dump(), "base": params.base.model_dump()}):
        images, rows = load_synth_images(p.synth_dir)
        comps = build_tiny_base(p)
        frames = load_video_frames(p.vae_video_dir, p.vae_video_clips, p.seed)
        captions = [caption_variants(r["shape"], r["colour"], r["background"]) for r in rows]
        summary = pretrain(comps, images, captions, p, p.checkpoint_dir, plots_dir=out, video_frames=frames)
        save_base(comps, out)
        quality, samples, captions_drawn = sample_quality(comps, rows, p, accuracy)
        phrased, phrased_samples, phrased_captions = sample_quality(comps, rows, p, accuracy,
                                                                    motion_phrases=True)
        reader = accuracy(images[:500], rows[:500])  # the reader's own error, on real images
        ceiling = accuracy(reconstruct(comps.vae, images[:500]), rows[:500])  # what the VAE lets through
        result = {**summary, "quality": quality, "quality_with_motion_phrase": phrased,
                  "reader_accuracy_on_training_images": reader,
                  "reader_accuracy_on_vae_reconstructions": ceiling,
                  "quality_samples": len(samples), "quality_steps": p.quality_steps, "guidance": p.quality_guidance}
        write_json(out / "quality.json", without_wall_clock(result))
        np.save(out / "quality_samples.npy", samples)
        mlflow.log_metrics({f"quality_{k}": v for k, v in quality.items()})
        mlflow.log_metrics({f"quality_with_motion_phrase_{k}": v for k, v in phrased.items()})
        mlflow.log_metrics({k: v for k, v in summary.items()})
        log_labelled_grid(samples[:16], captions_drawn[:16], "samples", "base_samples",
                          title=f"base samples ({p.quality_steps} steps, guidance {p.quality_guidance})")
        log_labelled_grid(phrased_samples[:16], phrased_captions[:16], "samples", "base_samples_motion_phrase",
                          title="base samples, captions worded as the video prompts")
        ci = f"[{quality['all_lo']:.3f}, {quality['all_hi']:.3f}]"
        print(f"pretrain_base: saved {out}; all-three accuracy {quality['all']:.3f} {ci} on {len(samples)} "
              f"samples; with a motion phrase {phrased['all']:.3f} (reader on real images: {reader['all']:.3f}, on their VAE reconstructions: {ceiling['all']:.3f})")
