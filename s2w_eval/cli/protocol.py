"""`s2w-eval protocol validate FILE` and `s2w-eval protocol list`."""

from __future__ import annotations

from pathlib import Path

import click

from ..clikit import format_option, render_rows
from ..errors import UsageError
from ..protocols import (
    PACKAGED_PROTOCOLS,
    find_protocol,
    list_protocols,
    load_protocol,
    validate_protocol_file,
)


@click.group("protocol")
def protocol() -> None:
    """Check and list evaluation protocols (versioned YAML files: duration, conditions, metrics, survey)."""


@protocol.command("validate")
@click.argument("files", nargs=-1, required=True)
def validate(files: tuple[str, ...]) -> int:
    """Check protocol FILE(s) (paths or names) without running anything; every problem listed with its line."""
    bad = 0
    for f in files:
        path = find_protocol(f)
        problems = validate_protocol_file(path)
        if problems:
            bad += 1
            click.echo(f"{path}: {len(problems)} problem(s)", err=True)
            for p in problems:
                click.echo(f"  {path}: {p}", err=True)
        else:
            proto = load_protocol(path)
            click.echo(
                f"{path}: ok ({proto.name} version {proto.version}, {proto.duration:g} s at "
                f"{proto.sample_rate} Hz, conditions {', '.join(proto.conditions)})"
            )
    if bad:
        raise UsageError(
            f"{bad} of {len(files)} protocol file(s) invalid", fix="see docs/protocols.md for the fields"
        )
    return 0


@protocol.command("list")
@format_option
def list_cmd(fmt: str) -> int:
    """List the protocols shipped with s2w (name, version, duration, sample rate, conditions, file)."""
    rows = []
    for name in list_protocols():
        try:
            p = load_protocol(name)
        except UsageError as exc:
            rows.append([name, "INVALID", "", "", "", "", exc.message.splitlines()[0]])
            continue
        where = "packaged" if PACKAGED_PROTOCOLS in Path(p.path).parents else p.path
        rows.append(
            [
                p.name,
                p.version,
                f"{p.duration:g}",
                p.sample_rate,
                ", ".join(p.conditions),
                ", ".join(p.metrics),
                where,
            ]
        )
    click.echo(
        render_rows(
            rows, ["name", "version", "duration (s)", "sample rate", "conditions", "metrics", "file"], fmt
        )
    )
    return 0
