"""Data flows down the package: no ``animatelab`` import climbs from a lower floor to a higher one.

Floors, lowest first: the core helpers, ``data/``, ``models/``, ``train/``, ``eval/``, the users of a trained
model (probes, the method folders, sampling, figures), then the entry points (``stages/``, the CLI and the
repository tools). A module may import its own floor or any floor below it; an import that climbs makes the
lower floor depend on code written for a later step, so a change there reaches (and re-runs) more than it
should. Every import counts, a function-local one too; only ``if TYPE_CHECKING:`` imports (annotations, never
run) are exempt.

The params layer (``config.py``, ``schema/`` and a method folder's ``schema.py``) stands beside the floors:
its dataclasses are values that any floor may be handed, and it imports nothing but itself.

``python -m tests.test_import_floors`` prints every climbing import.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import NamedTuple

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "animatelab"

# Lowest first. A key is a root module (``utils``) or a folder (``data``); every module of the package needs one.
FLOORS: dict[str, int] = {
    # core helpers, and the infrastructure that every floor may use (it imports nothing of the package)
    "utils": 0, "world": 0, "parallel": 0, "outputs": 0, "runs": 0, "tracking": 0,
    "data": 1,
    "models": 2,
    "train": 3,
    "eval": 4,
    # what reads a trained model: probes, the method folders, sampling, figures (and the media it logs)
    "probes": 5, "sparsectrl": 5, "moonshot": 5, "controlnet": 5, "sampling": 5, "figures": 5,
    "tracking_media": 5,
    # entry points and repository tools
    "stages": 6, "cli": 6, "warm": 6, "warm_client": 6, "reports_readme": 6, "readme_splice": 6,
    "plots_page": 6, "repro_check": 6, "envfile": 6, "__init__": 6,
}
PARAMS = "params"


class Import(NamedTuple):
    source: str  # importing module, dotted
    target: str  # imported module, dotted
    line: int


def floor_of(module: str) -> int | str:
    """The floor of dotted ``module`` (``animatelab.data.synth``), or ``PARAMS`` for the params layer."""
    parts = module.split(".")[1:] or ["__init__"]
    if parts[0] in ("config", "schema") or parts[-1] == "schema":
        return PARAMS
    return FLOORS[parts[0]]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == "TYPE_CHECKING"


def _targets(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    """The ``animatelab`` modules ``node`` imports (``from animatelab.x import y`` counts as ``animatelab.x``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "animatelab"]
    mod = node.module or ""
    if node.level:
        parts = package.split(".")[: len(package.split(".")) - node.level + 1]
        mod = ".".join([*parts, mod] if mod else parts)
    if mod.split(".")[0] != "animatelab":
        return []
    if mod == "animatelab":  # from animatelab import data: the submodules named
        return [f"animatelab.{a.name}" for a in node.names]
    return [mod]


def imports_of(path: Path, src: Path = SRC) -> list[Import]:
    """Every ``animatelab`` import in ``path`` (under ``src``), module level and function local, outside
    ``if TYPE_CHECKING:``."""
    rel = path.relative_to(src).with_suffix("")
    module = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
    package = ".".join(rel.parts[:-1])
    found: list[Import] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit_one(other)
            else:
                visit_one(child)

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.extend(Import(module, t, node.lineno) for t in _targets(node, package))
        visit(node)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return found


def climbs(src: Path = SRC) -> list[Import]:
    """Imports under ``src/animatelab`` that go to a higher floor, or from the params layer to a floor."""
    out = []
    for path in sorted((src / "animatelab").rglob("*.py")):
        for imp in imports_of(path, src):
            low, high = floor_of(imp.source), floor_of(imp.target)
            if high == PARAMS:
                continue
            if low == PARAMS or high > low:
                out.append(imp)
    return out


def _report(found: list[Import]) -> str:
    return "\n".join(f"{i.source} (floor {floor_of(i.source)}):{i.line} -> {i.target} (floor {floor_of(i.target)})"
                     for i in found)


def test_every_module_has_a_floor():
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        floor_of(".".join(rel.parts))  # KeyError names a module the table lacks


def test_the_checker_sees_local_imports_and_skips_type_checking(tmp_path):
    pkg = tmp_path / "animatelab" / "data"
    pkg.mkdir(parents=True)
    (pkg / "x.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from animatelab.utils import seed\n"
        "if TYPE_CHECKING:\n    from animatelab.models.base import Base\n"
        "def f():\n    from ..eval import fvd\n    import animatelab.train.loop\n")
    assert [(i.target, i.line) for i in climbs(tmp_path)] == [("animatelab.eval", 6), ("animatelab.train.loop", 7)]


def test_no_import_climbs_a_floor():
    found = climbs()
    assert not found, "imports that climb to a higher floor:\n" + _report(found)


if __name__ == "__main__":
    print(_report(climbs()) or "no climbing imports")
    sys.exit(0)
