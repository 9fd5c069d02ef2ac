"""``make check-repro``: does a fresh run give what the repository committed?

Compares every committed ``metrics/**/*.json`` with the file a fresh ``dvc repro`` left in the
work tree (``git show REF:path`` against the file), key by key, and the DVC hashes of chosen
outputs (``data/synth``, ``data/prepared``) in the work tree's ``dvc.lock`` against the
committed lock. Prints each difference with its absolute and relative size; exits 1 when one is
beyond the tolerance (numbers: ``|fresh - committed| <= abs_tol + rel_tol * |committed|``;
hashes and strings: equal). Timings are skipped: they never reproduce.

With ``--outputs-from DIR`` (a checkout holding the committed run's outputs, e.g. after ``dvc pull``)
every DVC output whose hash differs is opened file by file: a file differs for real only if its bytes
differ and, for JSON, something other than a wall-clock key differs. This tells "another result"
from "the same result that recorded how long it took".

    python -m animatelab.repro_check --rel-tol 0.02 --abs-tol 1e-9 [--within-ci] [--ref HEAD]
    python -m animatelab.repro_check --outputs-from ../committed-checkout
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MISSING = "<missing>"
# wall-clock keys: machine- and load-dependent by nature, never part of a result
DEFAULT_IGNORE = (r"(^|\.)([a-z0-9_]*_)?(seconds|timings_s|wall_s|elapsed_s)(_[a-z0-9_]*)?(\.|\[|$)",)


@dataclass(frozen=True)
class Diff:
    """One key whose committed and fresh values differ; ``ok`` when within tolerance."""

    key: str
    committed: Any
    fresh: Any
    ok: bool

    @property
    def abs(self) -> float | None:
        if not (_number(self.committed) and _number(self.fresh)):
            return None
        return abs(float(self.fresh) - float(self.committed))

    @property
    def rel(self) -> float | None:
        if self.abs is None:
            return None
        scale = abs(float(self.committed))
        return self.abs / scale if scale > 0 else (0.0 if self.abs == 0 else math.inf)

    def line(self) -> str:
        size = "" if self.abs is None else f"  (abs {self.abs:.3g}, rel {self.rel:.3g})"
        return f"  {'ok ' if self.ok else 'BAD'} {self.key}: {self.committed!r} -> {self.fresh!r}{size}"


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of nested dicts/lists keyed ``a.b[2].c``."""
    if isinstance(obj, dict):
        items = [(f"{prefix}.{k}" if prefix else str(k), v) for k, v in obj.items()]
    elif isinstance(obj, list):
        items = [(f"{prefix}[{i}]", v) for i, v in enumerate(obj)]
    else:
        return {prefix: obj}
    out: dict[str, Any] = {}
    for key, value in items:
        out.update(flatten(value, key))
    return out


def _same(a: Any, b: Any) -> bool:
    if _number(a) and _number(b):
        return a == b or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


def _within_ci(key: str, fresh: Any, committed: dict[str, Any]) -> bool:
    """A fresh ``….mean`` inside the committed ``[ci_low, ci_high]`` of the same metric."""
    if not key.endswith(".mean") or not _number(fresh):
        return False
    lo, hi = committed.get(key[:-4] + "ci_low"), committed.get(key[:-4] + "ci_high")
    return _number(lo) and _number(hi) and lo <= fresh <= hi


def compare(committed: Any, fresh: Any, rel_tol: float = 0.0, abs_tol: float = 0.0,
            ignore: tuple[str, ...] = DEFAULT_IGNORE, within_ci: bool = False) -> list[Diff]:
    """Every differing leaf of two JSON documents (ignored keys skipped), judged against the tolerance;
    with ``within_ci`` a mean inside the committed interval is also within tolerance."""
    old, new = flatten(committed), flatten(fresh)
    diffs = []
    for key in sorted(old.keys() | new.keys()):
        if any(re.search(pattern, key) for pattern in ignore):
            continue
        a, b = old.get(key, MISSING), new.get(key, MISSING)
        if _same(a, b):
            continue
        ok = _number(a) and _number(b) and abs(b - a) <= abs_tol + rel_tol * abs(a)
        diffs.append(Diff(key, a, b, bool(ok or (within_ci and _within_ci(key, b, old)))))
    return diffs


def git_show(ref: str, path: str) -> str | None:
    out = subprocess.run(["git", "show", f"{ref}:{path}"], capture_output=True, text=True)
    return out.stdout if out.returncode == 0 else None


def committed_files(ref: str, folder: str, suffix: str = ".json") -> list[str]:
    out = subprocess.run(["git", "ls-tree", "-r", "--name-only", ref, "--", folder], capture_output=True,
                         text=True, check=True)
    return [p for p in out.stdout.splitlines() if p.endswith(suffix)]


def lock_hashes(text: str | None) -> dict[str, str]:
    """``{out path: hash}`` of every stage output in a ``dvc.lock`` text."""
    import yaml

    stages = (yaml.safe_load(text) or {}).get("stages", {}) if text else {}
    return {o["path"]: str(o.get("md5") or o.get("hash")) for s in stages.values() for o in s.get("outs", [])}


def check_lock(ref: str, outs: list[str], lock: Path = Path("dvc.lock")) -> list[Diff]:
    old = lock_hashes(git_show(ref, str(lock)))
    new = lock_hashes(lock.read_text() if lock.is_file() else None)
    return [Diff(f"{lock}:{p}", old.get(p, MISSING), new.get(p, MISSING), False)
            for p in outs if old.get(p, MISSING) != new.get(p, MISSING)]


def _files(path: Path) -> dict[str, Path]:
    if path.is_file():
        return {"": path}
    return {str(f.relative_to(path)): f for f in sorted(path.rglob("*")) if f.is_file()} if path.is_dir() else {}


def compare_output(committed: Path, fresh: Path, ignore: tuple[str, ...] = DEFAULT_IGNORE) -> list[Diff]:
    """Files of one DVC output (a file or a folder) that differ beyond wall-clock keys."""
    old, new = _files(committed), _files(fresh)
    diffs = []
    for name in sorted(old.keys() | new.keys()):
        key = name or committed.name
        if name not in old or name not in new:
            diffs.append(Diff(key, "present" if name in old else MISSING, "present" if name in new else MISSING,
                              False))
            continue
        a, b = old[name].read_bytes(), new[name].read_bytes()
        if a == b:
            continue
        if old[name].suffix == ".json":
            inner = compare(json.loads(a), json.loads(b), ignore=ignore)
            diffs += [Diff(f"{key}:{d.key}", d.committed, d.fresh, False) for d in inner]
        else:
            diffs.append(Diff(key, f"{len(a)} bytes", f"{len(b)} bytes", False))
    return diffs


def check_outputs(ref: str, committed_root: Path, lock: Path = Path("dvc.lock"),
                  ignore: tuple[str, ...] = DEFAULT_IGNORE) -> tuple[dict[str, list[Diff]], list[str]]:
    """``({out: real differences}, outs whose hash differs only by wall-clock keys)`` for every output
    whose hash in the work tree's lock differs from the committed lock's."""
    old = lock_hashes(git_show(ref, str(lock)))
    new = lock_hashes(lock.read_text() if lock.is_file() else None)
    real, timing_only = {}, []
    for out in sorted(p for p in old.keys() & new.keys() if old[p] != new[p]):
        diffs = compare_output(committed_root / out, Path(out), ignore)
        if diffs:
            real[out] = diffs
        else:
            timing_only.append(out)
    return real, timing_only


def check_metrics(ref: str, folder: str, **tolerance: Any) -> dict[str, list[Diff]]:
    result = {}
    for path in committed_files(ref, folder):
        committed = json.loads(git_show(ref, path) or "null")
        fresh_file = Path(path)
        if not fresh_file.is_file():
            result[path] = [Diff("<file>", "present", MISSING, False)]
            continue
        result[path] = compare(committed, json.loads(fresh_file.read_text()), **tolerance)
    return result


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="animatelab.repro_check", description=__doc__.splitlines()[0])
    p.add_argument("--ref", default="HEAD", help="git revision holding the committed results")
    p.add_argument("--rel-tol", type=float, default=0.0, help="relative tolerance on numbers")
    p.add_argument("--abs-tol", type=float, default=0.0, help="absolute tolerance on numbers")
    p.add_argument("--within-ci", action="store_true",
                   help="also accept a mean inside the committed [ci_low, ci_high]")
    p.add_argument("--metrics-dir", default="metrics")
    p.add_argument("--lock-outs", nargs="*", default=["data/synth", "data/prepared"],
                   help="dvc.lock outputs whose hash must match exactly")
    p.add_argument("--ignore", action="append", default=list(DEFAULT_IGNORE), help="regex of keys to skip")
    p.add_argument("--outputs-from", type=Path, default=None,
                   help="a checkout holding the committed run's outputs: open every output whose hash differs")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    tolerance = {"rel_tol": args.rel_tol, "abs_tol": args.abs_tol, "ignore": tuple(args.ignore),
                 "within_ci": args.within_ci}
    report = {"dvc.lock": check_lock(args.ref, args.lock_outs),
              **check_metrics(args.ref, args.metrics_dir, **tolerance)}
    timing_only: list[str] = []
    if args.outputs_from is not None:
        real, timing_only = check_outputs(args.ref, args.outputs_from, ignore=tuple(args.ignore))
        report.update({f"output {out}": diffs for out, diffs in real.items()})
    bad = 0
    for name, diffs in report.items():
        if diffs:
            print(f"{name}: {len(diffs)} differing key(s)")
            print("\n".join(d.line() for d in diffs))
        bad += sum(not d.ok for d in diffs)
    if timing_only:
        print(f"{len(timing_only)} output(s) differ from the committed lock only in wall-clock keys: "
              + ", ".join(timing_only))
    total = sum(len(d) for d in report.values())
    ci = ", or inside the committed CI" if args.within_ci else ""
    print(f"check-repro: {len(report)} files vs {args.ref}; {total} differing key(s), {bad} beyond tolerance "
          f"(rel {args.rel_tol:g}, abs {args.abs_tol:g}{ci})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
