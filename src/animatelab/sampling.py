"""Sampling with ``AnimateDiffPipeline``: base + motion module (+ MotionLoRA), domain adapter at a scale.

DDIM with the official inference settings (linear betas of the training schedule, "leading"
spacing, steps_offset 1), prompts batched per pipeline call (both guidance branches in one UNet
batch, as diffusers does). Video ``i`` always uses seed ``seed + i``, so a video does not depend
on the batch size. The pipeline returns latents (``output_type="latent"``), kept as
``latents.npy`` for latent-space metrics, then decoded with the pipeline's own VAE decode and
video post-processing, so the pixels are those of ``output_type="np"``. One process loads the
base once for all adapter scales of a run; the UNet, decode and write times are reported apart.
Two study levers, off by default: ``sample.noise_prior: mixed`` (frame-correlated initial noise, as a
run trained with that prior saw) and ``sample.free_init`` (diffusers' FreeInit).
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Collection, Iterator

import numpy as np
import torch

from animatelab.utils import evenly_spaced
from animatelab.runs import scale_folder, scale_name

if TYPE_CHECKING:
    from animatelab.schema.base import ObjectiveParams
    from animatelab.schema.evaluate import FreeInitParams, SampleParams
    from animatelab.schema.train import TrainDirectionLoraParams, TrainMotionLoraParams


@dataclass(frozen=True)
class StudyModels:
    """The frozen models every video sampler builds on: the base folder (``base.path``), the domain
    adapter's folder (``train_adapter.out_dir``) and the study's noise schedule
    (``models.scheduler.study_schedule``). The stage reads them from params once and passes them down."""

    base_path: str
    adapter_dir: str
    schedule: dict[str, Any]


@dataclass(frozen=True)
class SampleRun:
    """What ``sample --run`` names: a motion run, optionally with a MotionLoRA whose motion the
    prompts then ask for (``lora_motion``)."""

    name: str
    motion_run: str
    lora_dir: Path | None = None
    lora_motion: str | None = None


def resolve_run(run: str, *, motion_runs: Collection[str], motion_lora: "TrainMotionLoraParams",
                direction_lora: "TrainDirectionLoraParams", lora_motion: str) -> SampleRun:
    """``{train_motion run}`` (one of ``motion_runs``), ``lora_n{N}`` (RQ3: MotionLoRA of N camera-motion
    videos, of the ``motion_lora`` group; its prompts ask for ``lora_motion``) or ``dir_{name}`` (RQ5:
    MotionLoRA of direction ``name``, of the ``direction_lora`` group)."""
    from animatelab.runs import RunId

    rid = RunId.parse(run)
    if rid.kind == "motion_lora":
        p, n = motion_lora, rid.n_videos
        if n not in p.n_videos:
            raise KeyError(f"{run}: {n} is not in train_motion_lora.n_videos {p.n_videos}")
        return SampleRun(run, p.motion_run, Path(p.out_dir) / rid.train_folder, lora_motion)
    if rid.kind == "direction_lora":
        p, name = direction_lora, rid.key
        if name not in p.directions:
            raise KeyError(f"{run}: {name} is not in train_direction_lora.directions {list(p.directions)}")
        return SampleRun(run, p.motion_run, Path(p.out_dir) / rid.train_folder, name)
    if run not in motion_runs:
        raise KeyError(f"{run!r} is neither a train_motion run ({', '.join(motion_runs)}), "
                       "lora_n<N> nor dir_<direction>")
    return SampleRun(run, run)


def motion_prompt(record: dict[str, Any], motion: str) -> str:
    """The held-out clip's caption re-phrased to ask for ``motion`` (synthetic world), or the
    caption with the motion appended where the clip has no ground truth (real data)."""
    from animatelab.data.synth import caption_for

    if all(record.get(k) for k in ("shape", "colour", "background")):
        return caption_for(record["shape"], record["colour"], record["background"], motion)
    return f"{record['prompt']}, {motion.replace('_', ' ')}"


def heldout_prompts(heldout_dir: str | Path, ground_truth: str | Path, num_videos: int,
                    motion: str | None = None) -> list[dict[str, Any]]:
    """``{prompt, shape, colour, background, motion}`` for each held-out clip (the ``shard-*.jsonl`` captions
    of ``heldout_dir``, the truth of ``ground_truth`` where that file exists), cycled to ``num_videos``.

    With ``motion`` (MotionLoRA runs), every prompt asks for that motion and records it as the
    expected one, so direction accuracy measures how often the LoRA's motion appears.
    """
    records = []
    for jsonl in sorted(Path(heldout_dir).glob("shard-*.jsonl")):
        records += [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines() if line]
    if not records:
        raise FileNotFoundError(f"no held-out captions (shard-*.jsonl) in {heldout_dir}")
    truth = json.loads(Path(ground_truth).read_text()) if Path(ground_truth).is_file() else {}
    out = []
    for i in range(num_videos):
        rec = records[i % len(records)]
        gt = truth.get(rec.get("videoid"), {})
        item = {"prompt": rec["caption"], "videoid": rec.get("videoid"),
                **{k: gt.get(k) for k in ("shape", "colour", "background", "motion")}}
        if motion is not None:
            item["prompt"], item["motion"] = motion_prompt(item, motion), motion
        out.append(item)
    return out


def inference_scheduler(schedule: dict[str, Any], s: "SampleParams"):
    """``sample.sampler`` (``s``: the ``sample`` group) on the study's ``schedule`` (every video pipeline:
    AnimateDiff, SparseCtrl, MoonShot, ControlNet)."""
    from animatelab.models.scheduler import sampling_scheduler

    return sampling_scheduler(schedule, s.timestep_spacing, s.sampler)


def apply_free_init(pipe, free_init: "FreeInitParams | None"):
    """``pipe`` with diffusers' FreeInit enabled on ``free_init``'s settings (None: left as it is)."""
    if free_init is not None:
        pipe.enable_free_init(**free_init.model_dump())
    return pipe


def noise_prior_for(s: "SampleParams", trained: "ObjectiveParams | None" = None) -> tuple[str, float]:
    """``(prior, alpha)`` of the initial noise: ``s.noise_prior`` and ``noise_alpha`` (``s``: the ``sample``
    group), or under ``noise_prior: run`` those of ``trained``, the objective the sampled motion run
    trained with."""
    if s.noise_prior != "run":
        return s.noise_prior, s.noise_alpha
    if trained is None:
        raise KeyError("sample.noise_prior: run needs the objective of a train_motion run to read")
    return trained.noise_prior, trained.noise_alpha


def initial_latents(pipe, generators: list[torch.Generator], frames: int, size: int, prior: str,
                    alpha: float) -> torch.Tensor | None:
    """The initial noise (B, C, F, h, w) of one pipeline call, one video per generator, under the
    ``mixed`` prior: each video first draws what diffusers' ``prepare_latents`` draws from its generator
    (independent noise, (1, C, F, h, w)), then one shared frame (1, C, 1, h, w), mixed as in training
    (``train.diffusion.mix_noise``). ``independent``: None, so the pipeline draws its own noise exactly
    as before."""
    if prior == "independent":
        return None
    from animatelab.train.diffusion import mix_noise

    c, h = pipe.unet.config.in_channels, size // pipe.vae_scale_factor
    out = []
    for g in generators:
        independent = torch.randn((1, c, frames, h, h), generator=g)
        shared = torch.randn((1, c, 1, h, h), generator=g)
        out.append(mix_noise(independent, shared, alpha))
    return torch.cat(out).to(pipe.unet.dtype)


def build_pipeline(models: StudyModels, s: "SampleParams", motion_dir: str | Path, run: SampleRun,
                   adapter_scale: float, base: Any = None):
    """An ``AnimateDiffPipeline`` for ``run`` (its motion module under ``motion_dir``, ``train_motion.out_dir``)
    with the domain adapter merged at ``adapter_scale`` into ``base`` (loaded from ``models.base_path`` when
    not given; the merge changes ``base.unet``); ``s``: the ``sample`` group (sampler, LoRA scale)."""
    from animatelab.models.assemble import motion_unet, pipeline
    from animatelab.models.base import load_base
    from animatelab.models.motion_lora import ADAPTER_NAME, WEIGHT_NAME

    base = base if base is not None else load_base(models.base_path)
    unet = motion_unet(base.unet, Path(motion_dir) / run.motion_run, models.adapter_dir, adapter_scale)
    pipe = apply_free_init(pipeline(base, unet, inference_scheduler(models.schedule, s)), s.free_init)
    if run.lora_dir is not None:
        pipe.load_lora_weights(str(run.lora_dir), weight_name=WEIGHT_NAME, adapter_name=ADAPTER_NAME)
        pipe.set_adapters([ADAPTER_NAME], [s.lora_scale])
    return pipe


def pipelines(models: StudyModels, s: "SampleParams", motion_dir: str | Path, run: SampleRun,
              scales: list[float]) -> Iterator[tuple[float, Any]]:
    """``(scale, pipeline)`` (:func:`build_pipeline`) for each scale from one loaded base: the weights the
    adapter merge changes (the modules its saved file names) are snapshotted once and restored exactly
    before each merge."""
    from animatelab.models.base import load_base
    from animatelab.models.lora import saved_lora_modules

    base = load_base(models.base_path)
    keys = {f"{n}.weight" for n in saved_lora_modules(models.adapter_dir)} if any(scales) else set()
    pristine = {k: v.clone() for k, v in base.unet.state_dict().items() if k in keys}
    for scale in scales:
        if pristine:  # in place: the merge may have replaced tensors, so address them afresh
            base.unet.load_state_dict(pristine, strict=False)
        yield scale, build_pipeline(models, s, motion_dir, run, scale, base)


def denoise(pipe, prompts: list[str], s: "SampleParams", first_seed: int,
            noise: tuple[str, float] = ("independent", 1.0)) -> list[torch.Tensor]:
    """Final latents per pipeline call, each (B, C, F, h, w): ``batch_size`` prompts per call,
    seed ``first_seed + i`` per video; frames, steps and guidance of ``s`` (the ``sample`` group); the
    initial noise of ``noise`` (``(prior, alpha)``, :func:`noise_prior_for`)."""
    from tqdm.auto import tqdm

    prior, alpha = noise
    size = pipe.unet.config.sample_size * pipe.vae_scale_factor
    out = []
    for i in tqdm(range(0, len(prompts), s.batch_size), desc="sample batches"):
        batch = prompts[i : i + s.batch_size]
        gens = [torch.Generator().manual_seed(first_seed + i + j) for j in range(len(batch))]
        latents = initial_latents(pipe, gens, s.frames, size, prior, alpha)
        with torch.inference_mode():
            out.append(pipe(prompt=batch, num_frames=s.frames, height=size, width=size,
                            num_inference_steps=s.num_inference_steps, guidance_scale=s.guidance_scale,
                            generator=gens, output_type="latent", latents=latents).frames)
    return out


def decode(pipe, latents: torch.Tensor, decode_chunk_size: int = 16) -> np.ndarray:
    """uint8 videos (B, F, H, W, 3) of latents (B, C, F, h, w): what ``output_type="np"`` returns,
    rounded to 8 bits."""
    with torch.inference_mode():
        video = pipe.decode_latents(latents, decode_chunk_size)
        frames = pipe.video_processor.postprocess_video(video=video, output_type="np")
    return np.clip(np.rint(np.asarray(frames) * 255), 0, 255).astype(np.uint8)


def latents_array(latents: list[torch.Tensor]) -> np.ndarray:
    """float16 (N, F, C, h, w): frames first, like the videos."""
    return torch.cat(latents).permute(0, 2, 1, 3, 4).to(torch.float16).numpy()


@contextmanager
def clock(times: dict[str, float], key: str) -> Iterator[None]:
    """Add the block's wall seconds to ``times[key]``."""
    t0 = time.perf_counter()
    yield
    times[key] = times.get(key, 0.0) + time.perf_counter() - t0


def generate(pipe, prompts: list[str], s: "SampleParams", first_seed: int,
             times: dict[str, float] | None = None,
             noise: tuple[str, float] = ("independent", 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 videos (N, F, H, W, 3), float16 latents (N, F, C, h, w)); each call's latents are
    decoded as that call would have. ``times`` gets ``unet`` (text encoder + denoising) and
    ``decode`` seconds; ``noise``: the initial noise's ``(prior, alpha)``."""
    times = {} if times is None else times
    with clock(times, "unet"):
        latents = denoise(pipe, prompts, s, first_seed, noise)
    with clock(times, "decode"):
        videos = np.concatenate([decode(pipe, lat) for lat in latents])
    return videos, latents_array(latents)


def write_videos(out_dir: Path, videos: np.ndarray, prompts: list[dict], fps: int,
                 latents: np.ndarray | None = None) -> None:
    """``videos.npy`` + ``prompts.json`` + ``mp4/`` and ``gif/`` per video (CONTRACTS.md), and
    ``latents.npy`` (float16 (N, F, C, h, w), before the VAE decode) when given.

    mp4s are encoded in-process (PyAV/libx264, near-lossless crf 12): diffusers' ``export_to_video``
    spawns an ffmpeg process per video, which cost ~8 s of every 32-video sampling pass here.
    """
    from animatelab.data.video_io import write_gif, write_mp4

    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / "videos.npy", videos)
    if latents is not None:
        np.save(out_dir / "latents.npy", latents)
    (out_dir / "prompts.json").write_text(json.dumps(prompts, indent=1))
    (out_dir / "mp4").mkdir(exist_ok=True)
    (out_dir / "gif").mkdir(exist_ok=True)
    for i, video in enumerate(videos):
        write_mp4(out_dir / "mp4" / f"{i:03d}.mp4", video, fps, crf=12)
        write_gif(out_dir / "gif" / f"{i:03d}.gif", video, fps)


def frame_grid(videos: np.ndarray, rows: int = 8, cols: int = 8) -> np.ndarray:
    """An image of ``rows`` videos x ``cols`` evenly spaced frames (uint8 H x W x 3)."""
    videos = videos[:rows]
    idx = evenly_spaced(videos.shape[1], cols)
    return np.concatenate([np.concatenate(list(v[idx]), axis=1) for v in videos], axis=0)


def log_sample_dir(out: Path, key: str, log_videos: int, files: tuple[str, ...] = ("prompts.json",),
                   timings: dict[str, Any] | None = None, metric_prefix: str = "", fps: int = 8) -> None:
    """One sample folder to the stage's MLflow run: a frame grid (also kept beside the folder as
    ``grid_{key}.png``), the same grid labelled with each row's prompt and upscaled, the first
    ``log_videos`` videos as upscaled mp4 and gif, ``files`` and the ``*seconds`` durations of
    ``timings`` (which stay out of the DVC outputs)."""
    import mlflow
    from PIL import Image

    from animatelab.tracking_media import log_labelled_grid, log_upscaled_videos

    if timings:
        mlflow.log_metrics({f"{metric_prefix}{k}": v for k, v in timings.items() if k.endswith("seconds")})
    videos = np.load(out / "videos.npy", mmap_mode="r")
    grid = out.parent / f"grid_{key}.png"
    Image.fromarray(frame_grid(np.asarray(videos[:8]))).save(grid)
    prompts = json.loads((out / "prompts.json").read_text()) if (out / "prompts.json").is_file() else []
    labels = [p.get("prompt", "") if isinstance(p, dict) else str(p) for p in prompts[:8]]
    labels += [""] * (min(8, len(videos)) - len(labels))
    log_labelled_grid(np.asarray(videos[:8]), labels, "grids", f"{key}_labelled", title=f"{out.parent.name} / {key}")
    n = min(log_videos, len(videos))
    log_upscaled_videos(np.asarray(videos[:n]), [f"{i:03d}" for i in range(n)], key, fps)
    for name in files:
        mlflow.log_artifact(str(out / name), key)


def sample_run(s: "SampleParams", spec: SampleRun, models: StudyModels, motion_dir: str | Path,
               trained: "ObjectiveParams | None" = None) -> dict[str, Any]:
    """Sample run ``spec`` (:func:`resolve_run`; motion modules under ``motion_dir``) at every scale of
    ``s.scales_for(run)`` (``s``: the ``sample`` group) on the held-out prompts; ``trained``: the objective
    its motion run trained with (read under ``sample.noise_prior: run``). Returns ``{scale: {dir,
    seconds, videos, load/unet/decode/write seconds}}`` (``seconds``: load + UNet + decode, as before)."""
    run = spec.name
    noise = noise_prior_for(s, trained)
    prompts = heldout_prompts(s.heldout_dir, s.ground_truth, s.num_videos, spec.lora_motion)
    results: dict[str, Any] = {}
    scales = s.scales_for(run)
    built = pipelines(models, s, motion_dir, spec, scales)
    for _ in scales:
        times: dict[str, float] = {}
        with clock(times, "load"):
            scale, pipe = next(built)
        videos, latents = generate(pipe, [p["prompt"] for p in prompts], s, s.seed, times, noise)
        out = scale_folder(s.out_dir, run, scale)
        with clock(times, "write"):
            write_videos(out, videos, prompts, s.fps, latents)
        results[scale_name(scale)] = {
            "dir": str(out), "videos": len(videos), **{f"{k}_seconds": round(v, 2) for k, v in times.items()},
            "seconds": round(times["load"] + times["unet"] + times["decode"], 2)}
    return results
