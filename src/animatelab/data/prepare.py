"""WebVid preprocessing: CSV + videos -> fixed-length clips (decord, resize at decode, centre crop)
in shards, with every skipped input counted by reason instead of silently resampled.

Workers decode; the parent writes shards in CSV order, so re-runs give byte-identical shards
whatever the number of workers. Multi-host runs split the CSV by a hash of ``videoid`` (so
duplicates meet on the same host) and write host-named shards plus a host summary that
:func:`merge_summaries` combines.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from animatelab.config import DatasetSpec, PrepareParams
from animatelab.data.shards import ShardWriter
from animatelab.data.video_io import VideoError, center_crop, decode_resized, probe
from animatelab.data.webvid import WebVidRow, find_video, read_webvid_csv


@dataclass(frozen=True)
class ClipResult:
    videoid: str
    frames: np.ndarray | None = None
    meta: dict[str, Any] | None = None
    reason: str | None = None
    detail: str = ""


def clip_indices(num_frames: int, fps: float, p: PrepareParams, videoid: str) -> tuple[list[int], int, int]:
    """Frame indices of the clip, its stride and start; VideoError('too_short') if it won't fit."""
    stride = p.stride if p.target_fps is None or fps <= 0 else max(1, round(fps / p.target_fps))
    span = (p.frames - 1) * stride + 1
    if num_frames < span:
        raise VideoError("too_short", f"{num_frames} frames < {span} needed")
    if p.clip_start == "first":
        start = 0
    elif p.clip_start == "middle":
        start = (num_frames - span) // 2
    else:  # a per-video draw from the seed, independent of order and workers
        rng = np.random.default_rng([p.seed, zlib.crc32(videoid.encode())])
        start = int(rng.integers(0, num_frames - span + 1))
    return list(range(start, start + span, stride)), stride, start


def decode_clip(path: str | Path, videoid: str, caption: str, p: PrepareParams) -> ClipResult:
    """One video -> one clip (uint8 F×R×R×3), or the reason it cannot be used. Never raises."""
    try:
        info = probe(path)
        picked: dict[str, int] = {}

        def pick(num_frames: int) -> list[int]:
            indices, picked["stride"], picked["start"] = clip_indices(num_frames, info.fps, p, videoid)
            return indices

        frames, resize = decode_resized(path, info, p.resolution, pick)
        frames = center_crop(frames, p.resolution)
        stride, start = picked["stride"], picked["start"]
    except VideoError as err:
        return ClipResult(videoid, reason=err.reason, detail=str(err))
    except Exception as err:  # anything else a broken file can trigger: count it, never crash
        return ClipResult(videoid, reason="decode_error", detail=f"{type(err).__name__}: {err}"[:200])
    meta = {"videoid": videoid, "caption": caption, "source_fps": round(info.fps, 6), "stride": stride,
            "start": start, "source_size": [info.width, info.height], "codec": info.codec,
            "resize": resize}
    return ClipResult(videoid, np.ascontiguousarray(frames), meta)


def _decode_task(task: tuple[str, str, str, PrepareParams]) -> ClipResult:
    return decode_clip(*task)


def _isolated(task: tuple[str, str, str, PrepareParams]) -> ClipResult:
    """One video in a process of its own, so a decoder crash costs only that video."""
    with ProcessPoolExecutor(max_workers=1) as pool:
        try:
            return pool.submit(_decode_task, task).result()
        except BrokenProcessPool:
            return ClipResult(task[1], reason="decoder_crash", detail="the decoding process died")


def decode_all(tasks: list[tuple[str, str, str, PrepareParams]], workers: int) -> Iterator[ClipResult]:
    """Results in task order from ``workers`` processes. If a native decoder kills a worker (a
    segfault is not an exception), the rest run one process per video, and the culprit is
    counted as ``decoder_crash`` instead of aborting the run."""
    done = 0
    try:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            chunk = max(1, min(16, len(tasks) // (4 * workers)))
            for res in pool.map(_decode_task, tasks, chunksize=chunk):
                done += 1
                yield res
    except BrokenProcessPool:
        for task in tasks[done:]:
            yield _isolated(task)


def host_rows(rows: list[WebVidRow], shard_index: int | None, num_shards: int | None) -> list[WebVidRow]:
    """This host's part of the CSV: rows whose ``crc32(videoid) % num_shards == shard_index``."""
    if not num_shards or num_shards == 1:
        return rows
    return [r for r in rows if zlib.crc32(r.videoid.encode()) % num_shards == shard_index]


def prepare_dataset(
    ds: DatasetSpec,
    p: PrepareParams,
    shard_index: int | None = None,
    num_shards: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Decode one dataset into ``{out_dir}/{name}/``; returns its summary (kept, skipped by reason)."""
    multi = bool(num_shards and num_shards > 1)
    folder = Path(p.out_dir) / ds.name
    rows = host_rows(read_webvid_csv(ds.csv), shard_index, num_shards)
    skipped: Counter[str] = Counter()
    repaired: Counter[str] = Counter()
    log: list[dict[str, str]] = []
    tasks, seen = [], set()
    for row in rows:
        reason = None
        if not row.videoid:
            reason = "missing_videoid"
        elif row.videoid in seen:
            reason = "duplicate_id"
        elif row.caption_issue and p.bad_caption == "skip":
            reason = row.caption_issue
        if reason:
            skipped[reason] += 1
            log.append({"videoid": row.videoid, "reason": reason})
            continue
        seen.add(row.videoid)
        if row.caption_issue:
            repaired[row.caption_issue] += 1
        tasks.append((str(find_video(ds.video_dir, row)), row.videoid, row.caption, p))

    writer = ShardWriter(folder, p.shard_size, host=shard_index if multi else None)
    results = decode_all(tasks, p.workers)
    for res in tqdm(results, total=len(tasks), desc=f"prepare {ds.name}", unit="video", disable=not progress):
        if res.reason:
            skipped[res.reason] += 1
            log.append({"videoid": res.videoid, "reason": res.reason, "detail": res.detail})
        else:
            writer.add(res.frames, res.meta)
    writer.close()
    suffix = f"-h{shard_index:03d}" if multi else ""
    (folder / f"skipped{suffix}.jsonl").write_text(
        "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in log), encoding="utf-8")
    return {"rows": len(rows), "kept": writer.num_clips, "skipped": dict(sorted(skipped.items())),
            "caption_repaired": dict(sorted(repaired.items())), "shards": writer.num_shards}


def summarize(per_dataset: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Totals over datasets beside the per-dataset summaries (the ``summary.json`` layout)."""
    skipped: Counter[str] = Counter()
    for s in per_dataset.values():
        skipped.update(s["skipped"])
    return {"kept": sum(s["kept"] for s in per_dataset.values()), "skipped": dict(sorted(skipped.items())),
            "datasets": per_dataset}


def merge_summaries(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Combine the summaries of several hosts (each a ``summarize`` output) into one."""
    merged: dict[str, dict[str, Any]] = {}
    for summary in summaries:
        for name, s in summary["datasets"].items():
            m = merged.setdefault(name, {"rows": 0, "kept": 0, "skipped": Counter(),
                                         "caption_repaired": Counter(), "shards": 0})
            for key in ("rows", "kept", "shards"):
                m[key] += s[key]
            m["skipped"].update(s["skipped"])
            m["caption_repaired"].update(s.get("caption_repaired", {}))
    for m in merged.values():
        m["skipped"] = dict(sorted(m["skipped"].items()))
        m["caption_repaired"] = dict(sorted(m["caption_repaired"].items()))
    return summarize(merged)


def prepare(p: PrepareParams, shard_index: int | None = None, num_shards: int | None = None,
            progress: bool = True) -> dict[str, Any]:
    """Every dataset of ``p``; writes ``summary.json`` (one host) or ``summary-h{k}.json`` and
    the merge of all host summaries present so far (multi-host)."""
    multi = bool(num_shards and num_shards > 1)
    if multi and not (shard_index is not None and 0 <= shard_index < num_shards):
        raise ValueError(f"--shard-index must be in [0, {num_shards}), got {shard_index}")
    per_dataset = {ds.name: prepare_dataset(ds, p, shard_index, num_shards, progress) for ds in p.datasets}
    summary = summarize(per_dataset)
    out = Path(p.out_dir)
    if not multi:
        _write(out / "summary.json", summary)
        return summary
    summary["host"] = {"shard_index": shard_index, "num_shards": num_shards}
    _write(out / f"summary-h{shard_index:03d}.json", summary)
    parts = [json.loads(f.read_text()) for f in sorted(out.glob("summary-h*.json"))]
    merged = merge_summaries(parts)
    merged["hosts_done"] = sorted(s["host"]["shard_index"] for s in parts)
    merged["complete"] = len(merged["hosts_done"]) == num_shards
    _write(out / "summary.json", merged)
    return summary


def _write(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
