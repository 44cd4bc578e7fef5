"""`s2w-eval chords`: detected pitch classes, chords and key per clip, and the Emotional Circle of Fifths labels."""

from __future__ import annotations

from pathlib import Path

import click

from ..clikit import parse_list, run_scoring, scoring_options


def _parse_params(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(
                f"{item!r}: expected KEY=VALUE, e.g. --param rel_frame=0.15", param_hint="--param"
            )
        out[key.strip()] = value.strip()
    return out


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--method",
    "method_names",
    default=None,
    help="Comma-separated detection methods: nnls-hmm (default, the most accurate on known-answer audio), "
    "chroma-hmm, melody-pyin (the paper's melody pipeline; slow). Default: the protocol's.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a method parameter (repeatable); recorded in the output.",
)
@click.option(
    "--conditions", default=None, help="Comma-separated conditions (default: every condition in the run)."
)
@scoring_options
def chords(paths, method_names, params, conditions, protocol, long, out_root, fmt, quiet):
    """Detect the notes, pitch classes, chords and key of every clip of each run under PATHS and label each clip
    with the paper's Emotional Circle of Fifths (+ / - / 0), beside a duration-weighted and a key-based label.

    Writes OUT/<run>/chords.csv (one row per sample x condition x method), chords.json (shares of labels equal
    to the intended emotion with Wilson 95% CIs, agreement between conditions, provenance) and per clip a
    notes .lab, a chords .lab and a MIDI file under OUT/<run>/clips/. Prints the paper's Table 4 shape.
    Rerunning resumes: clips already done with the same file content, method and parameters are reused."""
    from .. import api

    return run_scoring(
        api.chords,
        list(paths),
        protocol=protocol,
        long=long,
        out_root=out_root,
        fmt=fmt,
        quiet=quiet,
        methods=parse_list(method_names),
        params=_parse_params(params),
        conditions=parse_list(conditions),
    )
