"""What may go into a DVC output: only what the computation determines.

A duration, a file's modification time, or the step a run resumed from differs between runs and
machines that computed the same thing. One such value in an
output changes the output's hash and, through it, every downstream entry of ``dvc.lock``, so two runs
that computed the same result would never show the same lock (a fresh ``make repro`` showed exactly
this: identical weights, other hashes; a re-run that resumed finished checkpoints wrote
``resumed_from: 300`` where a fresh run writes 0). Durations and resume points go to MLflow (``pipeline_times`` reads them there)
and to stdout; identities of input files are content digests, not size + mtime. A safetensors header
is rewritten in one key order (:func:`canonical_safetensors`), so equal weights give equal bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

# seconds, unet_seconds, seconds_per_step, seconds_total, wall_s, ...
WALL_CLOCK_KEY = re.compile(r"(^|_)(seconds|wall_s|elapsed_s|timings_s)($|_)")


RUN_HISTORY_KEYS = frozenset({"resumed_from"})  # how this execution went, not what it computed


def is_wall_clock(key: str) -> bool:
    """A duration or another fact of this execution only (the resume point)."""
    return bool(WALL_CLOCK_KEY.search(key)) or key in RUN_HISTORY_KEYS


def without_wall_clock(record: Any) -> Any:
    """``record`` (nested dicts/lists) without its duration keys: what may go into a DVC output."""
    if isinstance(record, dict):
        return {k: without_wall_clock(v) for k, v in record.items() if not is_wall_clock(str(k))}
    if isinstance(record, list):
        return [without_wall_clock(v) for v in record]
    return record


def wall_clock(record: dict[str, Any]) -> dict[str, float]:
    """The top-level numeric duration keys of ``record``: what goes to MLflow instead."""
    return {k: float(v) for k, v in record.items()
            if is_wall_clock(k) and isinstance(v, (int, float)) and not isinstance(v, bool)}


def content_digest(path: str | Path) -> str:
    """A short sha256 of a file, or of every file's relative name and bytes under a folder."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(q for q in path.rglob("*") if q.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            digest.update(f.relative_to(path).as_posix().encode() + b"\0")
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def canonical_safetensors(path: str | Path) -> Path:
    """Rewrite a safetensors file with its ``__metadata__`` keys sorted, so equal tensors and
    metadata give equal bytes. safetensors 0.8 writes the metadata from a Rust HashMap, in an
    order that changes from process to process (safetensors issue #584): two identical LoRA
    saves differed in their header only. The header keeps its length, so it is rewritten in place."""
    import struct

    path = Path(path)
    with path.open("r+b") as fh:
        size = struct.unpack("<Q", fh.read(8))[0]
        header = json.loads(fh.read(size))
        meta = header.pop("__metadata__", None)
        if not meta or len(meta) < 2:
            return path
        text = json.dumps({"__metadata__": dict(sorted(meta.items())), **header}, separators=(",", ":"),
                          ensure_ascii=False).encode()
        if len(text) > size:  # never seen: serde_json and json write the same characters
            raise ValueError(f"{path}: canonical header is longer than the original ({len(text)} > {size})")
        fh.seek(8)
        fh.write(text.ljust(size, b" "))
    return path
