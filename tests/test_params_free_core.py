"""Only the stages (``animatelab.stages``) and the CLI read the whole params: every other function takes
paths, tensors and small typed arguments, its own params group or a small dataclass, so the core can be
called (tests, notebooks, benchmarks) without a params file and each function says what it reads."""

from __future__ import annotations

import ast

from tests.conftest import REPO

PACKAGE = REPO / "src/animatelab"
READERS = {"config.py", "cli.py"}  # the params module itself, and the CLI that loads it for the stages


def _library_files():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] != "stages" and rel.as_posix() not in READERS:
            yield path


def whole_params_arguments(source: str) -> list[str]:
    """``function(argument)`` for every argument named ``params`` or annotated ``Params`` in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            for arg in (*a.posonlyargs, *a.args, *a.kwonlyargs):
                annotation = ast.unparse(arg.annotation).strip("'\"") if arg.annotation is not None else ""
                if arg.arg == "params" or annotation == "Params":
                    found.append(f"{node.name}({arg.arg})")
    return found


def test_the_check_finds_a_whole_params_argument():
    assert whole_params_arguments("def f(params, x): ...\ndef g(p: 'Params'): ...\ndef h(s: 'SampleParams'): ...") \
        == ["f(params)", "g(p)"]


def test_no_library_function_takes_the_whole_params():
    offenders = [f"{path.relative_to(REPO)}: {hit}" for path in _library_files()
                 for hit in whole_params_arguments(path.read_text())]
    assert not offenders, offenders
