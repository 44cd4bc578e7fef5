"""Every `s2w-eval` / `s2w-models` command line in README.md and docs/*.md names a command and options that exist.

The fenced shell blocks (```bash, ```sh, ```console, ```shell and plain ```) are read; each line (with its `\\`
continuations) that starts with one of the two console scripts is split like a shell would, its command path
is looked up in the click groups and every option it uses (usage placeholders such as `[--raters N]` and
`[--sandbox|--live]` included) must be an option of that command. Nothing is executed. An unquoted `>` inside a
word (`--prefer a>b:0.8`) is refused too: a shell would redirect the output to a file named `b:0.8`.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from s2w_eval.cli import cli as eval_cli
from s2w_models.cli import cli as models_cli
from tests.conftest import REPO

GROUPS = {"s2w-eval": eval_cli, "s2w-models": models_cli}
SHELL_FENCES = {"", "bash", "sh", "console", "shell"}
_FENCE = re.compile(r"^\s*```\s*([\w-]*)\s*$")
_OPTION = re.compile(r"^--?[A-Za-z]")


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


EXAMPLES = [(p, n, cmd) for p in doc_files() for n, cmd in command_lines(p)]


def test_the_docs_have_examples_to_check():
    assert len(EXAMPLES) >= 20, EXAMPLES
    assert {cmd.split()[0] for _, _, cmd in EXAMPLES} == set(GROUPS)


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


def used_options(words: list[str]) -> list[str]:
    """The option names used in `words`, placeholders `[--x N]` and alternatives `--a|--b` included."""
    names = []
    for word in words:
        if word in ("|", "&&", ";", ">", ">>"):
            break  # the s2w command ends here (a pipe, a second command, a redirect)
        for part in word.strip("[]").split("|"):
            part = part.strip("[]")
            if _OPTION.match(part):
                names.append(part.split("=", 1)[0])
    return names


def _unquoted(line: str) -> str:
    return re.sub(r"'[^']*'|\"[^\"]*\"", "''", line).split(" #", 1)[0]


@pytest.mark.parametrize(
    ("path", "n", "line"), EXAMPLES, ids=[f"{p.relative_to(REPO)}:{n}" for p, n, _ in EXAMPLES]
)
def test_documented_command_exists_with_its_options(path, n, line):
    where = f"{path.relative_to(REPO)}:{n}"
    assert not re.search(r"[^\s>]>[^\s>]", _unquoted(line)), (
        f"{where}: quote the argument with '>' ({line!r}); a shell redirects it"
    )
    cmd_path, cmd, rest = resolve(line)
    if isinstance(cmd, click.Group):
        assert not rest or rest[0] in ("-h", "--help"), f"{where}: {' '.join(cmd_path)} is a group"
        return
    known = {"-h", "--help"}
    for p in cmd.params:
        if isinstance(p, click.Option):
            known.update(p.opts + p.secondary_opts)
    unknown = [o for o in used_options(rest) if o not in known]
    assert not unknown, f"{where}: {' '.join(cmd_path)} has no option {', '.join(unknown)}"


def test_the_checker_catches_a_flag_that_does_not_exist_and_an_unquoted_redirect():
    _, cmd, rest = resolve("s2w-eval survey fetch DIR [--sandbox|--live] [--no-such-flag N] -q")
    assert used_options(rest) == ["--sandbox", "--live", "--no-such-flag", "-q"]
    assert "--no-such-flag" not in {o for p in cmd.params for o in getattr(p, "opts", [])}
    assert re.search(r"[^\s>]>[^\s>]", _unquoted("s2w-eval survey simulate D --prefer a>b:0.8"))
    assert not re.search(r"[^\s>]>[^\s>]", _unquoted("s2w-eval survey simulate D --prefer 'a>b:0.8'"))
    with pytest.raises(AssertionError, match="no command"):
        resolve("s2w-eval no-such-command --x")
