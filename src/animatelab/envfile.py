"""Keep ``environment.yml`` (conda) in step with ``requirements.lock`` (pip): one source of pins."""

from __future__ import annotations

import sys
from pathlib import Path

HEADER = """# Conda users: `conda env create -f environment.yml`. The pip list is requirements.lock verbatim
# (tests/test_environment.py checks that the two agree). Regenerate with `make lock`.
name: animatelab
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
"""


def lock_pins(lock: str | Path) -> list[str]:
    return [
        line.strip()
        for line in Path(lock).read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def environment_pins(env: str | Path) -> list[str]:
    import yaml

    deps = yaml.safe_load(Path(env).read_text())["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    return [p for p in pip if not p.startswith("-e")]


def write_environment(lock: str | Path, env: str | Path) -> None:
    body = "".join(f"      - {pin}\n" for pin in lock_pins(lock))
    Path(env).write_text(HEADER + body + "      - -e .\n")


if __name__ == "__main__":
    write_environment(sys.argv[1], sys.argv[2])
