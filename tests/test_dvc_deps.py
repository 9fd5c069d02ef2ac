"""Each DVC stage's deps cover the package code it runs (its import closure), so a code change
re-runs exactly the stages it can change. Run as a script to print what each stage lacks."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, STUDIES

SRC = REPO / "src"
# Infrastructure whose effect on outputs is tracked otherwise: the schema's values reach DVC as params
# (and its defaults equal params.yaml: test_params_single_source),
# the CLI dispatches and sets torch's threads from the stage group's `threads` (a param),
# tracking only logs to MLflow.
# A method folder's own params schema (``<method>/schema.py``) is exempt for the same reason as schema/.
EXEMPT = {"animatelab/config.py", "animatelab/cli.py", "animatelab/tracking.py"}
EXEMPT_DIRS = ("animatelab/schema/",)
EXEMPT_NAMES = ("schema.py",)


def _exempt(rel: str) -> bool:
    """``rel`` (relative to ``src``) is infrastructure whose effect on outputs DVC tracks otherwise."""
    return rel in EXEMPT or rel.startswith(EXEMPT_DIRS) or rel.rsplit("/", 1)[-1] in EXEMPT_NAMES


def _module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def imports_of(path: Path) -> set[str]:
    """Every ``animatelab.*`` module imported anywhere in ``path`` (lazy imports inside functions too)."""
    tree = ast.parse(path.read_text())
    pkg = ".".join(path.relative_to(SRC).with_suffix("").parts[:-1])
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("animatelab")}
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                mod = ".".join([*parts, mod] if mod else parts)
            if not mod.startswith("animatelab"):
                continue
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names if _module_file(f"{mod}.{a.name}")}
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant):
                prefix = str(arg.values[0].value).rstrip(".")  # f"animatelab.probes.{name}": the whole package
                if prefix.startswith("animatelab"):
                    out.add(prefix + ".*")
    return out


def closure(module: str) -> set[str]:
    """Repo-relative files (``src/animatelab/...``) reachable from ``module``, a package counting as all its files."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        whole_package = name.endswith(".*")
        f = _module_file(name.removesuffix(".*"))
        if f is None:
            continue
        files = sorted(f.parent.glob("*.py")) if whole_package else [f]
        for g in files:
            if g not in seen:
                seen.add(g)
                todo += sorted(imports_of(g))
    return {str(p.relative_to(REPO)) for p in seen if not _exempt(str(p.relative_to(SRC)))}


def stage_module(cmd: str) -> str:
    from animatelab.cli import RUN_ALIASES

    stage = cmd.split()[1] if cmd.split()[0] == "animatelab" else cmd.split("animatelab.cli")[1].split()[0]
    return "animatelab.stages." + RUN_ALIASES.get(stage, (stage, ""))[0]


def stage_code(dvc_file: Path):
    """``(stage, declared deps, import closure)`` of every ``animatelab`` stage of ``dvc_file``."""
    for name, st in yaml.safe_load(dvc_file.read_text())["stages"].items():
        body = st.get("do", st)
        cmd = body["cmd"] if isinstance(body["cmd"], str) else body["cmd"][0]
        if "animatelab" in cmd:
            yield name, [d if isinstance(d, str) else next(iter(d)) for d in body.get("deps", [])], closure(stage_module(cmd))


def _covered(path: str, prefixes: list[str] | set[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in prefixes)


def missing_deps(dvc_file: Path) -> dict[str, list[str]]:
    """Package files a stage imports but does not list (a change to them would not re-run it)."""
    out = {name: sorted(f for f in need if not _covered(f, deps)) for name, deps, need in stage_code(dvc_file)}
    return {k: v for k, v in out.items() if v}


def superfluous_deps(dvc_file: Path) -> dict[str, list[str]]:
    """Package files a stage lists but never imports (a change to them re-runs it for nothing)."""
    out = {name: [d for d in deps if d.startswith("src/animatelab") and not any(_covered(f, [d]) for f in need)]
           for name, deps, need in stage_code(dvc_file)}
    return {k: v for k, v in out.items() if v}


# the core and every study pipeline on the embedded default (their stages run from the repo root: wdir ../..)
PIPELINES = ["dvc.yaml", *(f"experiments/{s}/dvc.yaml" for s in STUDIES)]


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_no_stage_depends_on_code_it_does_not_run(pipeline):
    extra = superfluous_deps(REPO / pipeline)
    assert not extra, f"{pipeline} deps list code the stage never imports:\n" + "\n".join(
        f"{stage}: {', '.join(files)}" for stage, files in extra.items())


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_every_stage_depends_on_the_code_it_runs(pipeline):
    lacking = missing_deps(REPO / pipeline)
    assert not lacking, f"{pipeline} deps miss code the stage imports:\n" + "\n".join(
        f"{stage}: {', '.join(files)}" for stage, files in lacking.items())


def test_the_closure_follows_lazy_imports():
    files = closure("animatelab.stages.probe")
    assert "src/animatelab/stages/probe.py" in files
    assert "src/animatelab/probes/leakage_proxy.py" in files  # imported inside probes/run.py
    assert "src/animatelab/probes/spectrum.py" in files  # importlib.import_module(f"animatelab.probes.{name}")
    assert "src/animatelab/config.py" not in files


if __name__ == "__main__":
    for stage, files in missing_deps(REPO / (sys.argv[1] if len(sys.argv) > 1 else "dvc.yaml")).items():
        print("missing", stage, files)
    for stage, files in superfluous_deps(REPO / (sys.argv[1] if len(sys.argv) > 1 else "dvc.yaml")).items():
        print("superfluous", stage, files)
