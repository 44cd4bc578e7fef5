"""Every `s2w-eval` / `s2w-models` command line in README.md and docs/*.md names a command and options that exist.

The fenced shell blocks (```bash, ```sh, ```console, ```shell and plain ```; read by tests/doc_commands.py)
are read; each line (with its `\\` continuations) that starts with one of the two console scripts is split like
a shell would, its command path is looked up in the click groups and every option it uses (usage placeholders
such as `[--raters N]` and `[--sandbox|--live]` included) must be an option of that command. Nothing is
executed (tests/test_docs_examples_run.py runs the examples). An unquoted `>` inside a word (`--prefer a>b:0.8`)
is refused too: a shell would redirect the output to a file named `b:0.8`.
"""

from __future__ import annotations

import re

import click
import pytest

from tests.conftest import REPO
from tests.doc_commands import EXAMPLES, GROUPS, resolve, unquoted

_OPTION = re.compile(r"^--?[A-Za-z]")


def test_the_docs_have_examples_to_check():
    assert len(EXAMPLES) >= 20, EXAMPLES
    assert {cmd.split()[0] for _, _, cmd in EXAMPLES} == set(GROUPS)


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


@pytest.mark.parametrize(
    ("path", "n", "line"), EXAMPLES, ids=[f"{p.relative_to(REPO)}:{n}" for p, n, _ in EXAMPLES]
)
def test_documented_command_exists_with_its_options(path, n, line):
    where = f"{path.relative_to(REPO)}:{n}"
    assert not re.search(r"[^\s>]>[^\s>]", unquoted(line)), (
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
    assert re.search(r"[^\s>]>[^\s>]", unquoted("s2w-eval survey simulate D --prefer a>b:0.8"))
    assert not re.search(r"[^\s>]>[^\s>]", unquoted("s2w-eval survey simulate D --prefer 'a>b:0.8'"))
    with pytest.raises(AssertionError, match="no command"):
        resolve("s2w-eval no-such-command --x")
