"""`s2w-eval chords`: detected pitch classes, chords and key per clip, and the Emotional Circle of Fifths labels."""

from __future__ import annotations

from pathlib import Path

import click

from .clikit import parse_list, report_problems, scoring_options
from .errors import EXIT_DATA, EXIT_OK, DataError, Problem, UsageError
from .features.detect import METHOD_ALIASES


def _parse_params(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {item!r}: expected KEY=VALUE, e.g. --param rel_frame=0.15")
        out[key.strip()] = value.strip()
    return out


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--method",
    "method_names",
    default=None,
    help="Comma-separated detection methods: nnls-hmm (default, the most accurate on known-answer audio), "
    "chroma-hmm, melody-pyin (the paper's melody pipeline; slow). Default: the protocol's, else nnls-hmm.",
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
    from .cli_pam import protocol_record, resolve_protocol
    from .features.detect import DEFAULT_METHOD, METHODS
    from .io.runs import find_runs
    from .metrics.chords import score_run

    proto = resolve_protocol(protocol, long)
    copts = dict(proto.metrics.get("chords", {}) or {}) if proto is not None else {}
    if method_names:
        names = parse_list(method_names)
    else:
        names = [str(copts.get("method", DEFAULT_METHOD))]
    names = [METHOD_ALIASES.get(n, n) for n in names]
    for n in names:
        if n.split("/")[0] not in METHODS:
            from .clikit import did_you_mean

            raise UsageError(
                f"unknown method {n!r}{did_you_mean(n, list(METHODS))}; choose from {', '.join(METHODS)}"
            )
    overrides = _parse_params(params)
    if "min_note_s" in copts and "min_note_s" not in overrides:
        overrides["min_note_s"] = copts["min_note_s"]
    methods = []
    for n in names:
        m = METHODS[n.split("/")[0]]
        own = {k: v for k, v in overrides.items() if k in m.defaults}
        unknown = [k for k in overrides if not any(k in METHODS[x.split("/")[0]].defaults for x in names)]
        if unknown:
            raise UsageError(
                f"--param {unknown[0]}: no selected method has this parameter "
                f"(parameters of {m.id}: {', '.join(m.defaults)})"
            )
        try:
            m.params(own)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--param: bad value for {m.id} ({exc})") from exc
        methods.append((n, own))
    weighting = copts.get("weighting", "set")
    primary = "label_weighted" if weighting == "duration" else "label"
    level = float(copts.get("ci_level", 0.95))
    conds = parse_list(conditions) if conditions else None
    problems: list[Problem] = []
    runs = find_runs(list(paths), problems)
    for run in runs:
        problems.extend(run.problems)
        try:
            res = score_run(
                run,
                methods,
                out_root / run.name,
                conditions=conds,
                protocol=protocol_record(proto),
                level=level,
                primary=primary,
                progress=False if quiet else None,
            )
        except DataError as exc:
            problems.append(Problem.from_error(exc))
            continue
        problems.extend(res["problems"])
        click.echo(
            format_tables(
                res["rows"],
                res["summary"],
                [c for c in (conds or run.conditions) if c in run.conditions],
                fmt,
                run.name,
                primary,
            )
        )
        c = res["counts"]
        click.echo(
            f"{run.name}: {c['rows']} of {c['expected']} clips labelled ({c['computed']} computed, "
            f"{c['reused']} reused) -> {res['out_dir'] / 'chords.csv'}",
            err=True,
        )
    code = report_problems(problems)
    return EXIT_DATA if code else EXIT_OK


def format_tables(rows, summary, conditions, fmt: str, title: str, primary: str = "label") -> str:
    from tabulate import tabulate

    from .metrics.chords import table4

    parts = []
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for m in methods:
        t4 = table4(rows, conditions, m)
        parts.append(f"\n{title}: pitch classes and Emotional Circle of Fifths labels ({m})")
        parts.append(tabulate(t4, headers="keys", tablefmt=fmt))
    match = [s for s in summary["match"]]
    if match:
        table = []
        for s in match:
            if s["label_column"] != primary and s["label_column"] not in (
                "label",
                "label_weighted",
                "label_key",
            ):
                continue
            table.append(
                {
                    "method": s["method"],
                    "condition": s["condition"],
                    "rule": s["label_column"],
                    "n": s["n"],
                    "label = intended": f"{s['matches']}/{s['n']} ({s['share']:.0%})",
                    "95% CI": f"[{s['ci_low']:.2f}, {s['ci_high']:.2f}]",
                }
            )
        parts.append(f"\n{title}: share of clips whose label equals the intended emotion (Wilson 95% CI)")
        parts.append(tabulate(table, headers="keys", tablefmt=fmt))
    agree = [a for a in summary["agreement"] if a["label_column"] == primary]
    if agree:
        parts.append(f"\n{title}: agreement between conditions ({primary})")
        parts.append(
            tabulate(
                [
                    {
                        "method": a["method"],
                        "conditions": f"{a['condition_a']} ~ {a['condition_b']}",
                        "n": a["n"],
                        "same label": f"{a['same_label']}/{a['n']}",
                        "mean Jaccard of sets": f"{a['mean_jaccard']:.2f}",
                    }
                    for a in agree
                ],
                headers="keys",
                tablefmt=fmt,
            )
        )
    return "\n".join(parts)
