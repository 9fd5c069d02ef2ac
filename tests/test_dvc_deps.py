"""Each DVC stage's deps cover the package code it runs (its import closure), so a code change re-runs
every stage it can change. Deps are by folder, a few lines per stage: the package folders the stage imports
from (``src/animatelab/sparsectrl``, ``src/animatelab/data``, ...), the root modules it imports and its own
``stages/`` modules; a change anywhere in a folder re-runs the stages that import from it, and a folder
dep must hold at least one file the stage imports. ``.dvcignore`` keeps bytecode out of a folder's hash.
Every ``dvc.yaml`` of the repo is checked, so a new study's is too.
``python -m tests.test_dvc_deps [dvc.yaml ...]`` prints each stage's package deps as they should read."""

from __future__ import annotations

import ast
import functools
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, STUDIES

SRC = REPO / "src"
PACKAGE = "src/animatelab"
# Infrastructure whose effect on outputs is tracked otherwise: the schema's values reach DVC as params
# (and its defaults equal params.yaml: test_params_single_source),
# the CLI dispatches and sets torch's threads from the stage group's `threads` (a param),
# tracking only logs to MLflow.
# A method folder's own params schema (``<method>/schema.py``) is exempt for the same reason as schema/.
EXEMPT = {"animatelab/config.py", "animatelab/cli.py", "animatelab/tracking.py"}
EXEMPT_DIRS = ("animatelab/schema/",)
EXEMPT_NAMES = ("schema.py",)
# stages/ is the one folder listed file by file: a folder dep on it would re-run every stage for any stage's change
FILE_BY_FILE = f"{PACKAGE}/stages"


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


@functools.cache
def closure(module: str) -> frozenset[str]:
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
    return frozenset(str(p.relative_to(REPO)) for p in seen if not _exempt(str(p.relative_to(SRC))))


def dep_of(path: str) -> str:
    """The dep that covers package file ``path``: its folder below the package root, or the file itself when it
    is a root module or a ``stages/`` module (a folder dep on ``path`` is itself)."""
    top = path.removeprefix(PACKAGE + "/").split("/")
    return path if len(top) == 1 or f"{PACKAGE}/{top[0]}" == FILE_BY_FILE else f"{PACKAGE}/{top[0]}"


def pipelines() -> list[str]:
    """Every DVC pipeline of the repo (repo-relative): the core's and each ``experiments/<folder>/``'s."""
    return ["dvc.yaml", *sorted(str(p.relative_to(REPO)) for p in REPO.glob("experiments/*/dvc.yaml"))]


def _inline_vars(doc: dict) -> dict[str, str]:
    """A pipeline's own string ``vars`` (``launch: accelerate launch ... -m animatelab.cli``), by name."""
    return {k: v for entry in doc.get("vars", []) if isinstance(entry, dict) for k, v in entry.items()
            if isinstance(v, str)}


def stage_module(cmd: str) -> str | None:
    """The ``animatelab.stages`` module that ``cmd`` runs (``animatelab <stage>`` or ``... -m animatelab.cli <stage>``)."""
    from animatelab.cli import RUN_ALIASES

    found = re.search(r"(?:^|[\s/])animatelab(?:\.cli)?\s+(\w+)", cmd)
    if found is None:
        return None
    return "animatelab.stages." + RUN_ALIASES.get(found[1], (found[1], ""))[0]


def stage_code(pipeline: str):
    """``(stage, declared deps, import closure)`` of every stage of ``pipeline`` that runs an ``animatelab`` stage;
    deps repo-relative (a stage's ``wdir`` and the pipeline's folder resolved), commands with the pipeline's
    string ``vars`` substituted."""
    dvc_file = REPO / pipeline
    doc = yaml.safe_load(dvc_file.read_text())
    known = _inline_vars(doc)
    for name, st in doc["stages"].items():
        body = st.get("do", st)
        cmd = body["cmd"] if isinstance(body["cmd"], str) else body["cmd"][0]
        module = stage_module(re.sub(r"\$\{(\w+)\}", lambda m: known.get(m[1], m[0]), cmd))
        if module is None:
            continue
        wdir = dvc_file.parent / body.get("wdir", ".")
        deps = [d if isinstance(d, str) else next(iter(d)) for d in body.get("deps", [])]
        yield name, [os.path.relpath(os.path.normpath(wdir / d), REPO) for d in deps], closure(module)


def _covered(path: str, prefixes: list[str] | set[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in prefixes)


def _code_deps(deps: list[str]) -> list[str]:
    return [d for d in deps if d == PACKAGE or d.startswith(PACKAGE + "/")]


def missing_deps(pipeline: str) -> dict[str, list[str]]:
    """Package files a stage imports but no dep covers (a change to them would not re-run it)."""
    out = {name: sorted(f for f in need if not _covered(f, deps)) for name, deps, need in stage_code(pipeline)}
    return {k: v for k, v in out.items() if v}


def superfluous_deps(pipeline: str) -> dict[str, list[str]]:
    """Package deps (files or folders) that cover no file the stage imports (a change to them re-runs it for
    nothing; a dep on a path that no longer exists is one too)."""
    out = {name: [d for d in _code_deps(deps) if not any(_covered(f, [d]) for f in need)]
           for name, deps, need in stage_code(pipeline)}
    return {k: v for k, v in out.items() if v}


def not_by_folder(pipeline: str) -> dict[str, list[str]]:
    """Package deps that name a file inside a folder (other than ``stages/``) instead of the folder."""
    out = {name: [d for d in _code_deps(deps) if dep_of(d) != d] for name, deps, _ in stage_code(pipeline)}
    return {k: v for k, v in out.items() if v}


PIPELINES = pipelines()


def _report(found: dict[str, list[str]]) -> str:
    return "\n".join(f"{stage}: {', '.join(files)}" for stage, files in found.items())


def test_every_pipeline_is_checked():
    assert {f"experiments/{s}/dvc.yaml" for s in STUDIES} <= set(PIPELINES)
    assert "experiments/webvid-sd15/dvc.yaml" in PIPELINES


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_every_stage_is_read(pipeline):
    """A stage whose command the test cannot read would escape every check below."""
    stages = yaml.safe_load((REPO / pipeline).read_text())["stages"]
    assert [name for name, _, _ in stage_code(pipeline)] == list(stages)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_no_stage_depends_on_code_it_does_not_run(pipeline):
    extra = superfluous_deps(pipeline)
    assert not extra, f"{pipeline} deps list code the stage never imports:\n" + _report(extra)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_every_stage_depends_on_the_code_it_runs(pipeline):
    lacking = missing_deps(pipeline)
    assert not lacking, f"{pipeline} deps miss code the stage imports:\n" + _report(lacking)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_code_deps_are_folders(pipeline):
    files = not_by_folder(pipeline)
    assert not files, f"{pipeline} deps list files of a folder (list the folder):\n" + _report(files)


def test_a_folder_dep_hashes_no_bytecode():
    ignored = (REPO / ".dvcignore").read_text().split()
    assert "__pycache__/" in ignored and "*.pyc" in ignored


def test_the_closure_follows_lazy_imports():
    files = closure("animatelab.stages.probe")
    assert "src/animatelab/stages/probe.py" in files
    assert "src/animatelab/probes/leakage_proxy.py" in files  # imported inside probes/run.py
    assert "src/animatelab/probes/spectrum.py" in files  # importlib.import_module(f"animatelab.probes.{name}")
    assert "src/animatelab/config.py" not in files


def test_launched_stages_are_read():
    """webvid-sd15's training stages run as ``${launch} <stage>`` (``accelerate launch -m animatelab.cli``)."""
    deps = {name: need for name, _, need in stage_code("experiments/webvid-sd15/dvc.yaml")}
    assert "src/animatelab/stages/train_motion.py" in deps["train_motion"]
    assert "src/animatelab/stages/encode.py" in deps["encode"]


if __name__ == "__main__":
    for pipeline in sys.argv[1:] or PIPELINES:
        for stage, _, need in stage_code(pipeline):
            print(f"{pipeline} {stage} (repo-relative):", *sorted({dep_of(f) for f in need}), sep="\n  - ")
