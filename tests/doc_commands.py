"""The `s2w-eval` / `s2w-models` command lines of README.md and docs/*.md, as the docs tests read them.

Used by tests/test_docs_commands.py (each line names a command and options that exist) and
tests/test_docs_examples_run.py (each example line runs). Fenced shell blocks (```bash, ```sh, ```console,
```shell and plain ```) are read; a line (with its `\\` continuations) that starts with one of the two console
scripts (after an optional `$ ` prompt) is one command line.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click

from s2w_eval.cli import cli as eval_cli
from s2w_models.cli import cli as models_cli
from tests.conftest import REPO

GROUPS = {"s2w-eval": eval_cli, "s2w-models": models_cli}
SHELL_FENCES = {"", "bash", "sh", "console", "shell"}
_FENCE = re.compile(r"^\s*```\s*([\w-]*)\s*$")


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def command_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, command) for each s2w command line in a shell block of `path`, continuations joined."""
    out: list[tuple[int, str]] = []
    lang: str | None = None
    pending: tuple[int, str] | None = None
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fence = _FENCE.match(raw)
        if fence:
            lang = None if lang is not None else fence.group(1).lower()
            pending = None
            continue
        if lang not in SHELL_FENCES:
            continue
        line = raw.strip()
        if pending is not None:
            pending = (pending[0], pending[1] + " " + line.rstrip("\\").strip())
        elif line.removeprefix("$ ").split(" ", 1)[0] in GROUPS:
            pending = (n, line.removeprefix("$ ").rstrip("\\").strip())
        if pending is not None and not line.endswith("\\"):
            out.append(pending)
            pending = None
    return out


#: (file, line number, command line) for every documented command line, in file and line order
EXAMPLES = [(p, n, cmd) for p in doc_files() for n, cmd in command_lines(p)]


def resolve(line: str) -> tuple[list[str], click.Command, list[str]]:
    """The command path, the command and the remaining words of one command line."""
    words = shlex.split(line, comments=True)
    group: click.Command = GROUPS[words[0]]
    path = [words[0]]
    rest = words[1:]
    while isinstance(group, click.Group) and rest and not rest[0].startswith("-"):
        sub = group.get_command(click.Context(group), rest[0])
        assert sub is not None, f"no command {' '.join(path + [rest[0]])!r}"
        path.append(rest.pop(0))
        group = sub
    return path, group, rest


def unquoted(line: str) -> str:
    """`line` with its quoted strings emptied and its ` #` comment removed (what a shell reads as syntax)."""
    return re.sub(r"'[^']*'|\"[^\"]*\"", "''", line).split(" #", 1)[0]
