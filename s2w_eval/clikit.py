"""Shared CLI plumbing for `s2w-eval` and `s2w-models`: lazy sub-commands, error handling, exit codes.

A sub-command lives in its own module and is registered in its group's `COMMANDS` table as
"module:attribute"; it is imported only when used, so `--help` stays fast (no torch import).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

import click

from .errors import EXIT_DATA, EXIT_OK, EXIT_USAGE, Problem, S2WError


class LazyGroup(click.Group):
    def __init__(self, *args, lazy_commands: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy_commands:
            module, attr = self.lazy_commands[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


def report_problems(problems: Sequence[Problem], stream=None) -> int:
    """Print each problem on its own line; return the exit code they imply (0 or 1)."""
    stream = stream or sys.stderr
    for p in problems:
        click.echo(f"error: {p.format()}", file=stream)
    if problems:
        click.echo(f"{len(problems)} problem(s); everything else was processed.", file=stream)
        return EXIT_DATA
    return EXIT_OK


def run_main(cli: click.Group, argv: Sequence[str] | None = None) -> int:
    """Run a click group with s2w's exit codes: 0 ok, 1 data error, 2 usage error; no traceback for a user error."""
    try:
        rv = cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted; finished items are kept, rerun the same command to resume", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except S2WError as exc:
        click.echo(f"error: {exc.format()}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted; finished items are kept, rerun the same command to resume", err=True)
        return 130
    if isinstance(rv, int):
        return rv
    return EXIT_OK


def parse_list(
    value: str | None, allowed: Sequence[str] | None = None, what: str = "value"
) -> list[str] | None:
    """'a,b' -> ['a', 'b']; with `allowed`, an unknown name is a usage error that suggests the closest."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if allowed is not None:
        for item in items:
            if item not in allowed:
                raise click.BadParameter(
                    f"unknown {what} {item!r}{did_you_mean(item, allowed)}; choose from {', '.join(allowed)}"
                )
    return items


def did_you_mean(name: str, options: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


TABLE_FORMATS = ("github", "latex", "csv", "plain", "simple")


def scoring_options(f: Callable) -> Callable:
    """The options every scoring command shares (pam, chords): --protocol, --long, --out, --format, --quiet.

    They arrive as the parameters protocol, long, out_root, fmt, quiet.
    """
    from pathlib import Path

    options = [
        click.option(
            "--protocol", default=None, help="Protocol name or YAML file (see `s2w-eval protocol list`)."
        ),
        click.option(
            "--long", is_flag=True, help="Use the 10 s protocol (cognimuse-10s; the paper's 10 s tables)."
        ),
        click.option(
            "--out",
            "out_root",
            type=click.Path(path_type=Path),
            default=Path("reports"),
            show_default=True,
            help="Results go to OUT/<run name>/.",
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(TABLE_FORMATS),
            default="github",
            show_default=True,
            help="Console table format.",
        ),
        click.option("-q", "--quiet", is_flag=True, help="No progress bars."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def main_factory(cli: click.Group) -> Callable[[], None]:
    def main() -> None:
        sys.exit(run_main(cli))

    return main
