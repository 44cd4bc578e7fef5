"""The package's imports run one way: io -> features -> metrics -> tasks -> runner -> api -> report -> cli.

Read with ast (nothing is imported): every `import` and `from ... import` in s2w_eval, including those inside
functions, is checked against the layer table below. An arrow that runs up the layers, or from s2w_eval into
s2w_models, fails the test and names the file, the line and the import. s2w_models may use s2w_eval's public
modules only (PUBLIC_FOR_MODELS), never its internals.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

#: module (dotted, below s2w_eval) or package prefix -> layer; a module may import only its own layer or lower
LAYERS = {
    "errors": 0,
    "vocab": 0,
    "names": 0,
    "versions": 0,
    "progress": 0,
    "__init__": 0,
    "io": 1,
    "features": 2,
    "stats": 3,
    "metrics": 3,
    "results": 4,
    "protocols": 4,
    "tasks": 5,
    "survey": 5,
    "runner": 6,
    "api": 7,
    "report": 8,
    # leaves that lower layers use: the one table model/renderer (console tables of tasks) and every chart
    # (the survey's too); they import only errors, io and each other
    "report.tables": 4,
    "report.figures": 4,
    "clikit": 9,
    "cli": 9,
}
#: what s2w_models may import from s2w_eval
PUBLIC_FOR_MODELS = (
    "s2w_eval",
    "errors",
    "vocab",
    "names",
    "progress",
    "io",
    "results",
    "protocols",
    "api",
    "clikit",
    "cli",
)


def _layer(module: str) -> int:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in LAYERS:
            return LAYERS[key]
    raise AssertionError(f"s2w_eval.{module} has no layer in tests/test_layering.py: add it to LAYERS")


def _imports(path: Path):
    """(line, imported module as dotted path from the repo root) for every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    pkg_parts = path.relative_to(REPO).with_suffix("").parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(pkg_parts[: len(pkg_parts) - node.level + 1])
                mod = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:  # from . import x, y: x is a module, or a name of the package
                    for alias in node.names:
                        sub = REPO.joinpath(*mod.split("."), alias.name)
                        is_module = sub.with_suffix(".py").is_file() or sub.is_dir()
                        yield node.lineno, f"{mod}.{alias.name}" if is_module else mod
                    continue
                yield node.lineno, mod
            else:
                yield node.lineno, node.module or ""


def _module_of(path: Path) -> str:
    rel = path.relative_to(REPO / "s2w_eval").with_suffix("")
    return ".".join(rel.parts)


def test_s2w_eval_imports_run_down_the_layers():
    bad = []
    for path in sorted((REPO / "s2w_eval").rglob("*.py")):
        me = _module_of(path)
        # the package's __init__ is the API's facade (lazy exports): it may point at any layer
        mine = 99 if me == "__init__" else _layer(me)
        for line, target in _imports(path):
            if target.startswith("s2w_models"):
                bad.append(
                    f"{path.relative_to(REPO)}:{line}: imports {target} (evaluation never imports models)"
                )
            if not target.startswith("s2w_eval"):
                continue
            sub = target[len("s2w_eval.") :] if target != "s2w_eval" else "__init__"
            if sub.split(".")[0] == me.split(".")[0]:
                continue  # within one package or module: its own business
            if _layer(sub) > mine:
                bad.append(
                    f"{path.relative_to(REPO)}:{line}: s2w_eval.{me} (layer {mine}) imports {target} "
                    f"(layer {_layer(sub)}): an arrow up the layers"
                )
    assert not bad, "\n".join(bad)


def test_models_use_only_the_public_evaluation_modules():
    bad = []
    for path in sorted((REPO / "s2w_models").rglob("*.py")):
        for line, target in _imports(path):
            if not target.startswith("s2w_eval"):
                continue
            sub = target.split(".")[1] if "." in target else "s2w_eval"
            if sub not in PUBLIC_FOR_MODELS:
                bad.append(f"{path.relative_to(REPO)}:{line}: imports {target}, an evaluation internal")
    assert not bad, "\n".join(bad)


def test_the_layering_test_catches_an_upward_import():
    """The checker itself: a features module importing the runner is reported."""
    fake = REPO / "s2w_eval" / "features" / "_layering_probe.py"
    fake.write_text("from ..runner import run_task\n")
    try:
        try:
            test_s2w_eval_imports_run_down_the_layers()
        except AssertionError as exc:
            assert "_layering_probe.py:1" in str(exc) and "arrow up the layers" in str(exc)
        else:
            raise AssertionError("an upward import went unnoticed")
    finally:
        fake.unlink()
