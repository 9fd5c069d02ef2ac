"""Run every ``benchmarks/bench_*.py`` and print one table; results JSON under ``reports/bench/``.

Each benchmark runs in its own process (its own threads and memory). Convention: a benchmark
prints a JSON object as its last JSON line (``status``: ok / skipped / estimate, plus its
numbers), which becomes its table row; without one, the row shows its last printed line.
Everything it prints is kept in ``reports/bench/<script>.json`` as ``stdout_tail``.

    python benchmarks/run_all.py [-k substring] [--timeout 1800] [-- extra args for every script]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def last_json(stdout: str) -> dict | None:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                return obj
    return None


def run_one(script: Path, timeout: float, extra: list[str]) -> dict:
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, str(script), *extra], cwd=REPO, capture_output=True,
                              text=True, timeout=timeout)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out, err = "timeout", exc.stdout or "", exc.stderr or ""
        out, err = (x.decode() if isinstance(x, bytes) else x for x in (out, err))
    parsed = last_json(out) or {}
    if rc != 0:
        status = "failed" if rc != "timeout" else "timeout"
    elif out.lstrip().startswith("skipped") or parsed.get("status") == "skipped":
        status = "skipped"
    else:
        status = parsed.get("status", "ok")
    return {
        "benchmark": script.stem, "status": status, "returncode": rc,
        "seconds": round(time.perf_counter() - start, 1), "result": parsed,
        "stdout_tail": out[-4000:], "stderr_tail": err[-4000:] if rc != 0 else "",
    }


def summary(result: dict, width: int = 70) -> str:
    """The headline numbers of one result, in one cell."""
    skip = {"benchmark", "status"}
    items = [f"{k}={v}" for k, v in result["result"].items() if k not in skip and not isinstance(v, (dict, list))]
    if result["status"] in {"failed", "timeout"} or not items:  # no JSON line: its last printed line
        lines = (result["stderr_tail"] or result["stdout_tail"]).strip().splitlines()
        items = [lines[-1].strip() if lines else "no output"]
    text = ", ".join(items)
    return text if len(text) <= width else text[: width - 1] + "…"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", dest="select", default="", help="only benchmarks whose name contains this")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per benchmark")
    parser.add_argument("--out-dir", default=str(REPO / "reports" / "bench"))
    parser.add_argument("extra", nargs="*", help="arguments passed to every benchmark (after --)")
    args = parser.parse_args(argv)
    scripts = sorted(p for p in HERE.glob("bench_*.py") if args.select in p.stem)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for script in scripts:
        print(f"running {script.name} ...", file=sys.stderr, flush=True)
        result = run_one(script, args.timeout, args.extra)
        (out_dir / f"{script.stem}.json").write_text(json.dumps(result, indent=2) + "\n")
        results.append(result)
    (out_dir / "summary.json").write_text(json.dumps(
        [{k: r[k] for k in ("benchmark", "status", "seconds", "result")} for r in results], indent=2) + "\n")
    name_w = max([len("benchmark"), *(len(r["benchmark"]) for r in results)])
    print(f"{'benchmark':<{name_w}}  {'status':<8}  {'seconds':>7}  result")
    for r in results:
        print(f"{r['benchmark']:<{name_w}}  {r['status']:<8}  {r['seconds']:>7}  {summary(r)}")
    return 1 if any(r["status"] in {"failed", "timeout"} for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
