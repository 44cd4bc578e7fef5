"""Shared CLI plumbing for `s2w-eval` and `s2w-models`: lazy sub-commands, error handling, exit codes.

A sub-command lives in its own module and is registered in its group's `COMMANDS` table as
"module:attribute"; it is imported only when used, so `--help` stays fast (no torch import).
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import click

from .errors import EXIT_DATA, EXIT_OK, EXIT_USAGE, Problem, S2WError
from .vocab import did_you_mean  # noqa: F401 - re-exported


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


@contextmanager
def in_cli_words(
    params: Mapping[str, str] | None = None, fixes: Mapping[str, str] | None = None
) -> Iterator[None]:
    """Re-raise a library error in the command's words: a `param` the command names otherwise becomes its
    option's name (`{"checkpoints": "checkpoint"}`: the error shows as --checkpoint), and a fix text found in
    `fixes` is replaced by the command's (one naming its flag). Use it as a context manager or a decorator."""
    try:
        yield
    except S2WError as exc:
        if params and exc.param in params:
            exc.param = params[exc.param]
        if fixes and exc.fix in fixes:
            exc.fix = fixes[exc.fix]
        exc.args = (exc.format(),)
        raise


def report_problems(problems: Sequence[Problem], stream=None) -> int:
    """Print each problem (and warning) on its own line; return the exit code they imply (0 or 1)."""
    stream = stream or sys.stderr
    for p in problems:
        click.echo(f"{'warning' if p.warning else 'error'}: {p.format()}", file=stream)
    errors = sum(1 for p in problems if not p.warning)
    if errors:
        click.echo(f"{errors} problem(s); everything else was processed.", file=stream)
        return EXIT_DATA
    return EXIT_OK


def run_main(cli: click.Group, argv: Sequence[str] | None = None) -> int:
    """Run a click group with s2w's exit codes: 0 ok, 1 data error, 2 usage error; no traceback for a user error.

    Warnings that third-party libraries raise while a command runs (librosa, audioread, torch...) are collected
    and reported once each at the end, after the command's own output, instead of interleaving with it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        code = _run(cli, argv)
    _report_warnings(caught)
    return code


def _run(cli: click.Group, argv: Sequence[str] | None) -> int:
    try:
        rv = cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted; finished items are kept, rerun the same command to resume", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except S2WError as exc:
        click.echo(f"error: {exc.format(as_option=True)}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted; finished items are kept, rerun the same command to resume", err=True)
        return 130
    if isinstance(rv, int):
        return rv
    return EXIT_OK


def _report_warnings(caught: Sequence[warnings.WarningMessage]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for w in caught:
        module = Path(w.filename).parts
        origin = next((part for part in module if part in _KNOWN_SOURCES), Path(w.filename).stem)
        key = (origin, f"{w.category.__name__}: {w.message}")
        seen[key] = seen.get(key, 0) + 1
    for (origin, text), n in seen.items():
        times = f" ({n} times)" if n > 1 else ""
        click.echo(f"warning from {origin}: {text.splitlines()[0]}{times}", err=True)


_KNOWN_SOURCES = (
    "librosa",
    "audioread",
    "torch",
    "torchaudio",
    "music21",
    "numpy",
    "scipy",
    "sklearn",
    "av",
    "soxr",
)


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


TABLE_FORMATS = ("github", "latex", "csv", "plain", "simple", "json")


def scoring_options(f: Callable) -> Callable:
    """The options every scoring command shares (pam, chords): --protocol, --long, --out, --format, --quiet.

    They arrive as the parameters protocol, long, out_root, fmt, quiet.
    """

    options = [
        click.option(
            "--protocol", default=None, help="Protocol name or YAML file (see `s2w-eval protocol list`)."
        ),
        click.option(
            "--long", is_flag=True, help="Use the 10 s protocol (cognimuse-10s; the paper's 10 s tables)."
        ),
        click.option(
            "-o",
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
            help="Console output: a table format, or json (the result documents, on stdout).",
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


_SOURCES = {
    "given": "as given",
    "long": "the 10 s protocol, as asked",
    "run": "recorded in the run's sidecars",
    "default": "the default: none given, none recorded in the run",
}


def check_protocol_options(protocol: str | None, long: bool) -> None:
    if protocol is not None and long:
        raise click.UsageError("give either --protocol or --long, not both")


def protocol_line(name: str, resolved) -> str:
    p = resolved.protocol
    return f"{name}: protocol {p.name} {p.version} ({_SOURCES[resolved.source]})"


def score_printer(fmt: str, quiet: bool) -> Callable:
    """The callback `api.score` calls as each run is scored: the protocol used, the tables, a count line."""

    def on_run(res, resolved) -> None:
        click.echo(protocol_line(res.run.name, resolved), err=True)
        if fmt != "json":
            click.echo(res.task.format_tables(res.rows, res.doc, fmt, res.run.name))
        c = res.counts
        click.echo(
            f"{res.run.name}: {c['rows']} of {c['expected']} {res.task.unit}s scored ({c['computed']} "
            f"computed, {c['reused']} reused) -> {res.csv_path}",
            err=True,
        )

    return on_run


def run_scoring(score, *args, protocol, long, out_root, fmt, quiet, **options) -> int:
    """One scoring command after its options: refuse --protocol with --long, call `score` (an `api` function:
    pam, chords, dist, calibrate, pam_folders) with the options every scoring command shares, print each run as
    it is scored, then the problems; returns the exit code."""
    check_protocol_options(protocol, long)
    scores = score(
        *args,
        protocol,
        long=long,
        out=out_root,
        progress=False if quiet else None,
        on_run=score_printer(fmt, quiet),
        **options,
    )
    return finish_scores(scores, fmt)


def finish_scores(scores, fmt: str) -> int:
    """After `api.score`: the JSON documents (with --format json), every problem, and the exit code."""
    if fmt == "json":
        from .results import to_json

        click.echo(
            to_json(
                {
                    "task": scores.task,
                    "results": [r.doc for r in scores.results],
                    "problems": [p.format() for p in scores.problems],
                }
            ),
            nl=False,
        )
    return report_problems(scores.problems)


def format_option(f: Callable) -> Callable:
    """`--format`, the same choices on every command that prints tables (TABLE_FORMATS); arrives as `fmt`."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(TABLE_FORMATS),
        default="github",
        show_default=True,
        help="Console table format; json prints one JSON document of the rows instead.",
    )(f)


def cache_options(f: Callable) -> Callable:
    """`--cache-dir DIR` and `--no-cache`: the verified embedding cache; arrive as `cache_dir`, `no_cache`."""
    f = click.option("--no-cache", is_flag=True, help="Do not read or write the embedding cache.")(f)
    return click.option(
        "--cache-dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Embedding cache (default: $S2W_CACHE_DIR or ~/.cache/s2w).",
    )(f)


def quiet_option(f: Callable) -> Callable:
    """`-q/--quiet`: no progress display (bars on a terminal, a line every 10% elsewhere); arrives as `quiet`."""
    return click.option("-q", "--quiet", is_flag=True, help="No progress output.")(f)


def render_rows(rows: Sequence[Sequence], headers: Sequence[str], fmt: str, title: str = "") -> str:
    """A console table in one of TABLE_FORMATS, through the one table renderer (json: {title, headers, rows}).

    Cells are shown as str(); `latex` is the booktabs rendering of the reports."""
    from .report.tables import Table, render_table

    table = Table(title, [str(h) for h in headers], [["" if c is None else str(c) for c in r] for r in rows])
    return render_table(table, {"latex": "tex"}.get(fmt, fmt)).rstrip("\n")
