"""Library errors name their parameter, never a command-line flag; the CLI shows the parameter as its option.

A library function (`s2w_models`, every module but `cli*.py`) raises `UsageError(..., param="train_splices")`:
called from Python the message reads `train_splices: ...`, the command prints `--train-splices: ...`. A
message or fix of a library error that spelled a flag (`--split`) would tell a Python caller about an option
of a command they did not run; a backquoted command line to type (`s2w-models data prepare SOURCE --out DIR`)
is fine.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import pytest

from s2w_eval.clikit import in_cli_words, run_main
from s2w_eval.errors import UsageError
from s2w_models.cli import cli as models_cli

PACKAGE = Path(__file__).resolve().parents[1] / "s2w_models"
LIBRARY = sorted(p for p in PACKAGE.rglob("*.py") if not p.name.startswith("cli"))
EVAL = Path(__file__).resolve().parents[1] / "s2w_eval"
#: s2w_eval's library: everything but the CLI package and its kit
EVAL_LIBRARY = sorted(
    p for p in EVAL.rglob("*.py") if p.relative_to(EVAL).parts[0] != "cli" and p.name != "clikit.py"
)
CLI_MODULES = sorted(PACKAGE.glob("cli*.py"))

_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
#: command lines a message may show (the user types them; their flags are not the failed call's): backquoted
#: s2w commands, and pip installs
_COMMAND = re.compile(r"`s2w(?:-models|-eval)? [^`]*`|pip install [^();]*")


def _text(node: ast.AST, constants: dict[str, str]) -> list[str]:
    """The string literals under `node` (an f-string as one text, `{}` for each placeholder), and the module
    constants it names."""
    parts = {id(v) for sub in ast.walk(node) if isinstance(sub, ast.JoinedStr) for v in sub.values}
    out: list[str] = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.JoinedStr):
            out.append("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in sub.values))
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str) and id(sub) not in parts:
            out.append(sub.value)
        elif isinstance(sub, ast.Name) and sub.id in constants:
            out.append(constants[sub.id])
    return out


def flags_in_raises(source: str) -> list[tuple[int, str, str]]:
    """(line, flag, text) for every `--flag` outside a backquoted command in the arguments of a `raise X(...)`."""
    tree = ast.parse(source)
    constants = {
        t.id: n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            args = [*node.exc.args, *(k.value for k in node.exc.keywords)]
            for arg in args:
                for text in _text(arg, constants):
                    for flag in _FLAG.findall(_COMMAND.sub("", text)):
                        found.append((node.lineno, flag, text))
    return found


def test_the_scan_finds_a_flag_and_allows_a_command():
    bad = 'raise UsageError(f"--n must be positive, got {n}")\nraise DataError("x", p, "use --split test")\n'
    assert [f for _, f, _ in flags_in_raises(bad)] == ["--n", "--split"]
    via_constant = 'FIX = "pass --replace"\ndef f():\n    raise UsageError("taken", p, FIX)\n'
    assert [f for _, f, _ in flags_in_raises(via_constant)] == ["--replace"]
    ok = (
        'raise DataError("no dataset", p, "run `s2w-models data prepare SOURCE --out DIR` first")\n'
        'raise UsageError(f"x", fix=f"run `s2w-models train {prev} --out DIR` first")\n'
        'raise UsageError("must be positive", param="batch_size")\n'
    )
    assert flags_in_raises(ok) == []


@pytest.mark.parametrize("path", LIBRARY, ids=[str(p.relative_to(PACKAGE)) for p in LIBRARY])
def test_library_errors_name_no_flag(path):
    found = flags_in_raises(path.read_text(encoding="utf-8"))
    assert not found, "\n".join(
        f"{path.name}:{line}: {flag} in {text!r} (name the parameter: param=..., or the setting)"
        for line, flag, text in found
    )


def _params(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        k.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
        for k in node.exc.keywords
        if k.arg == "param" and isinstance(k.value, ast.Constant)
    }


def _renamed() -> set[str]:
    """Library keywords that a command re-raises under its own option name (`in_cli_words({...})`)."""
    out = set()
    for path in CLI_MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "in_cli_words" and node.args:
                if isinstance(node.args[0], ast.Dict):
                    out |= {k.value for k in node.args[0].keys if isinstance(k, ast.Constant)}
    return out


def _options(group: click.Group) -> set[str]:
    ctx = click.Context(group)
    out = set()
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            out |= _options(cmd)
        else:
            out |= {o for p in cmd.params if isinstance(p, click.Option) for o in p.opts + p.secondary_opts}
    return out


def test_every_param_is_shown_as_an_existing_option():
    params = set().union(*(_params(p) for p in LIBRARY))
    assert {"temperature", "split", "train_splices"} <= params  # the scan sees the converted errors
    opts, renamed = _options(models_cli), _renamed()
    missing = sorted(p for p in params if f"--{p.replace('_', '-')}" not in opts and p not in renamed)
    assert not missing, f"params with no option of that name and no in_cli_words renaming: {missing}"


def test_a_library_error_names_its_param_and_the_cli_its_option(tmp_path, capsys):
    from s2w_models.data.deap import parse_train_splices

    with pytest.raises(UsageError) as err:
        parse_train_splices("twenty")
    assert err.value.param == "train_splices"
    assert str(err.value) == "train_splices: must be a number or 'all', got 'twenty'"
    assert "--" not in str(err.value)

    argv = [
        "data",
        "deap",
        str(tmp_path / "ratings.csv"),
        str(tmp_path / "videos"),
        "--out",
        str(tmp_path / "o"),
    ]
    assert run_main(models_cli, [*argv, "--train-splices", "twenty"]) == 2
    assert "error: --train-splices: must be a number or 'all', got 'twenty'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before any work


def test_in_cli_words_renames_a_param_and_a_fix():
    with pytest.raises(UsageError) as err, in_cli_words({"checkpoints": "checkpoint"}, {"fix A": "fix --a"}):
        raise UsageError("no checkpoint given", fix="fix A", param="checkpoints")
    assert err.value.format(as_option=True) == "--checkpoint: no checkpoint given (fix: fix --a)"
    assert str(err.value) == "checkpoint: no checkpoint given (fix: fix --a)"
    with pytest.raises(UsageError) as err, in_cli_words({"checkpoints": "checkpoint"}):
        raise UsageError("bad", param="temperature")  # not renamed
    assert err.value.format(as_option=True) == "--temperature: bad"


@pytest.mark.parametrize("path", EVAL_LIBRARY, ids=[str(p.relative_to(EVAL)) for p in EVAL_LIBRARY])
def test_no_eval_library_error_names_a_flag(path):
    """s2w_eval's library (metrics, tasks, runner, api, report, survey, io) speaks in parameters too."""
    found = flags_in_raises(path.read_text(encoding="utf-8"))
    assert not found, "; ".join(f"{path.name}:{line} {flag} in {text!r}" for line, flag, text in found)
