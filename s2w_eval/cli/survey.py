"""`s2w-eval survey build|preview|simulate|publish|fetch|review|prolific|aggregate`: the listening-survey loop."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from ..clikit import format_option, quiet_option, render_rows, report_problems
from ..errors import EXIT_DATA, EXIT_OK, Problem


@click.group("survey")
def survey() -> None:
    """Pairwise (AB) listening surveys: build a crowdsourcing batch, preview it, simulate, aggregate results."""


def _resolve(protocol, long, run):
    """The run's protocol by the rule every command follows (api.resolve_protocol), announced on stderr."""
    from .. import api
    from ..clikit import check_protocol_options, protocol_line
    from ..io.runs import load_run

    check_protocol_options(protocol, long)
    found = load_run(run) if (Path(run) / "samples.csv").is_file() else None
    resolved = api.resolve_protocol(protocol, long, found)
    click.echo(protocol_line(Path(run).name, resolved), err=True)
    return resolved


@survey.command("build")
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--protocol",
    "protocol",
    default=None,
    help="Protocol name or YAML file (default: the one recorded in the run, else cognimuse-3s).",
)
@click.option("--long", is_flag=True, help="Use the 10 s protocol (cognimuse-10s).")
@click.option(
    "--base-url",
    default=None,
    help="Where media/ will be hosted (https://...); default: relative paths, for `survey preview`.",
)
@click.option(
    "--pairs",
    default=None,
    help="Pairs to compare, e.g. scene2wav:baseline,scene2wav:target (default: the protocol's).",
)
@click.option("--raters", type=click.IntRange(min=1), default=None, help="Raters (assignments) per task.")
@click.option(
    "--checks",
    type=click.IntRange(min=0),
    default=None,
    help="Attention-check items per task (alternating: noise-burst defect, repeated pair).",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Seed of the A/B order and item order (default: the protocol's survey seed).",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Output folder (default: reports/<run>/survey).",
)
@click.option(
    "--media",
    type=click.Choice(["auto", "audio", "video"]),
    default="auto",
    show_default=True,
    help="Clips as audio, or as the scene video muxed with each condition's audio.",
)
@click.option(
    "--loudness",
    type=click.Choice(["rms", "peak", "none"]),
    default="rms",
    show_default=True,
    help="Level matching of audio clips (rms: -20 dBFS RMS, peaks below -1 dBFS; none: copy files).",
)
@quiet_option
def build(run, protocol, long, base_url, pairs, raters, checks, seed, out, media, loudness, quiet) -> int:
    """Write layout.html, hit.html, batch.csv, media/, answer_key.csv and manifest.json for RUN."""
    from ..survey.build import PlainHttpWarning, build_survey
    from ..survey.design import design_from_protocol, parse_pairs

    resolved = _resolve(protocol, long, run)
    proto = resolved.protocol
    design = design_from_protocol(proto)
    changes = {}
    if pairs:
        changes["pairs"] = parse_pairs(pairs)
    if raters is not None:
        changes["raters"] = raters
    if checks is not None:
        changes["attention_checks"] = checks
    if changes:
        design = dataclasses.replace(design, **changes)
    seed = proto.seed("survey", 0) if seed is None else seed
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PlainHttpWarning)
        res = build_survey(
            run,
            design,
            protocol_info=resolved.record(),
            base_url=base_url,
            seed=seed,
            out=out,
            media=media,
            loudness=loudness,
            progress=not quiet,
        )
    for w in caught:
        if issubclass(w.category, PlainHttpWarning):
            click.echo(f"warning: {w.message}", err=True)
    c = res.manifest["counts"]
    click.echo(
        f"survey: {c['tasks']} task(s) x {c['items_per_task']} item(s) ({c['pairs_per_task']} pair(s) + "
        f"{c['attention_checks_per_task']} check(s)), {c['assignments_per_task']} rater(s) per task, "
        f"{c['clips']} clip(s), {res.manifest['media']}"
    )
    for note in res.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(
        f"wrote {res.out}/layout.html (Requester UI layout), hit.html (the full page), batch.csv, media/, "
        "answer_key.csv and manifest.json (keep these two private)"
    )
    if not base_url:
        click.echo(
            f"try it: s2w-eval survey preview {res.out}; for the marketplace rebuild with --base-url "
            "where media/ is hosted"
        )
    return report_problems(res.problems)


@survey.command("preview")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--row", type=click.IntRange(min=1), default=1, show_default=True, help="Batch row (task) to show."
)
@click.option(
    "--port",
    type=click.IntRange(min=0, max=65535),
    default=8765,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
def preview(directory, row, port) -> int:
    """Serve the task page of one batch row on 127.0.0.1 (local media; submitting shows the answers)."""
    from ..survey.preview import make_server

    server = make_server(directory, row, port)
    click.echo(
        f"preview of task row {row}: {server.url}\n(answers of this session: {server.origin}/submissions.json;"
        f" Ctrl-C stops)"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


@survey.command("simulate")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--prefer",
    "prefer",
    multiple=True,
    help="True preference FIRST>SECOND:P, optionally EMOTION:FIRST>SECOND:P (repeatable); "
    "unstated pairs are 50:50.",
)
@click.option("--raters", type=click.IntRange(min=1), default=None, help="Raters (default: the design's).")
@click.option(
    "--careless",
    type=click.FloatRange(0, 1),
    default=0.1,
    show_default=True,
    help="Share of careless raters (random answers, often too fast).",
)
@click.option(
    "--none-share",
    type=click.FloatRange(0, 1),
    default=0.1,
    show_default=True,
    help="Share of 'no preference' answers of attentive raters (when the design allows it).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Results CSV (default: DIR/simulated_results.csv; the truth goes beside it as .truth.json).",
)
@click.option(
    "--power",
    "power_runs",
    type=click.IntRange(min=1),
    default=None,
    help="Instead: simulate this many surveys and report how often each stated preference is detected.",
)
@click.option(
    "--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True
)
@format_option
@quiet_option
def simulate(
    directory, prefer, raters, careless, none_share, seed, out, power_runs, alpha, fmt, quiet
) -> int:
    """Simulate a crowd answering the survey built in DIRECTORY (marketplace results format)."""
    from ..survey.simulate import parse_preference, power
    from ..survey.simulate import simulate as run_sim

    prefs = [parse_preference(p) for p in prefer]
    if power_runs:
        rows = power(
            directory,
            prefs,
            runs=power_runs,
            raters=raters,
            careless=careless,
            none_share=none_share,
            seed=seed,
            alpha=alpha,
            progress=not quiet,
        )
        click.echo(
            render_rows(
                [
                    [
                        r["emotion"],
                        r["first"],
                        r["second"],
                        r["stated_p"],
                        r["detected"],
                        r["runs"],
                        f"{r['power']:.2f}",
                    ]
                    for r in rows
                ],
                headers=[
                    "emotion",
                    "first",
                    "second",
                    "P(first)",
                    "detected",
                    "surveys",
                    f"power (alpha {alpha})",
                ],
                fmt=fmt,
            )
        )
        if out:
            from ..results import atomic_write_json, provenance

            atomic_write_json(
                out,
                {
                    "provenance": provenance(
                        command="s2w-eval survey simulate --power", seeds={"simulate": seed}
                    ),
                    "power": rows,
                },
            )
        return EXIT_OK
    path, truth = run_sim(
        directory, prefs, raters=raters, careless=careless, none_share=none_share, seed=seed, out=out
    )
    click.echo(
        f"wrote {path} ({len(truth['workers'])} raters, {len(truth['careless'])} careless)", err=fmt == "json"
    )
    return EXIT_OK


@survey.command("aggregate")
@click.argument("results", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--key",
    "key",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="answer_key.csv written by `survey build` (its manifest.json beside it is read too).",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Output folder (default: 'aggregate' beside RESULTS).",
)
@click.option(
    "--min-seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="Reject assignments faster than this (default: the protocol's min_seconds).",
)
@click.option(
    "--max-fail-share",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Exclude a rater whose share of failed assignments exceeds this.",
)
@click.option(
    "--resamples",
    type=click.IntRange(min=100),
    default=2000,
    show_default=True,
    help="Bootstrap resamples for the Bradley-Terry CIs.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option(
    "--approve-excluded",
    is_flag=True,
    help="Approve (pay) the failed assignments of raters whose data are excluded; the reason stays recorded.",
)
@click.option(
    "--bonus",
    default=None,
    help="Bonus in dollars per approved assignment of a rater who passed every check (default: the "
    "protocol's survey bonus; 0: none). Written to bonuses.csv.",
)
@click.option(
    "--prolific-export",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Prolific's participant export; RESULTS is then the responses your study endpoint collected.",
)
@click.option("--no-plots", is_flag=True, help="Skip the PNG/SVG charts.")
@format_option
def aggregate(
    results,
    key,
    out,
    min_seconds,
    max_fail_share,
    resamples,
    seed,
    approve_excluded,
    bonus,
    prolific_export,
    no_plots,
    fmt,
) -> int:
    """Validate RESULTS against the key, undo A/B, exclude careless raters, report preferences and ranking."""
    from ..survey.aggregate import aggregate as run_agg
    from ..survey.aggregate import console_tables

    an, out_dir, files = run_agg(
        results,
        key,
        out,
        min_seconds=min_seconds,
        max_fail_share=max_fail_share,
        n_resamples=resamples,
        seed=seed,
        plots=not no_plots,
        approve_excluded=approve_excluded,
        bonus=bonus,
        prolific_export=prolific_export,
    )
    click.echo(console_tables(an, fmt))
    for note in an.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"\nwrote {out_dir}: " + ", ".join(sorted({p.name for p in files})), err=fmt == "json")
    problems: list[Problem] = an.problems(str(results))
    rejected = [p for p in problems if p.message.startswith("rejected")]
    for p in rejected:
        click.echo(f"note: {p.format()}", err=True)
    code = report_problems([p for p in problems if p not in rejected])
    return EXIT_DATA if code else EXIT_OK


def _marketplace(f):
    f = click.option(
        "--yes", is_flag=True, help="Do not ask before using the live site (real money, real workers)."
    )(f)
    f = click.option(
        "--sandbox/--live",
        "sandbox",
        default=True,
        show_default=True,
        help="MTurk's sandbox (no money) or the live site.",
    )(f)
    return f


def _client(sandbox: bool, yes: bool, what: str):
    from ..survey.mturk import make_client

    if not sandbox and not yes:
        click.confirm(f"{what} on the LIVE Mechanical Turk site (real workers, real money)?", abort=True)
    return make_client(sandbox)


@survey.command("publish")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@_marketplace
@click.option("--reward", default=None, help="Dollars per task (default: the protocol's survey reward).")
@click.option("--assignments", type=click.IntRange(min=1), default=None, help="Raters per task.")
@click.option(
    "--lifetime-hours", type=click.FloatRange(min=1), default=None, help="How long HITs stay up (72)."
)
@click.option("--minutes", type=click.FloatRange(min=1), default=None, help="Stated minutes per task.")
@click.option(
    "--min-approval",
    type=click.IntRange(0, 100),
    default=None,
    help="Workers need at least this approval rate in %% (added to the protocol's qualifications).",
)
@click.option("--locale", "locales", multiple=True, help="Workers' country (ISO code, repeatable), e.g. US.")
@click.option("-q", "--quiet", is_flag=True, help="Print only problems.")
def publish(
    directory, sandbox, yes, reward, assignments, lifetime_hours, minutes, min_approval, locales, quiet
) -> int:
    """Create one MTurk HIT (HTMLQuestion) per row of DIRECTORY/batch.csv; rerun resumes."""
    from ..survey.mturk import publish as run_publish

    client = _client(sandbox, yes, "Publish HITs")
    res = run_publish(
        directory,
        client,
        sandbox=sandbox,
        reward=reward,
        assignments=assignments,
        lifetime_hours=lifetime_hours,
        minutes=minutes,
        min_approval=min_approval,
        locales=list(locales),
    )
    if not quiet:
        s = res["settings"]
        click.echo(
            f"{'sandbox' if sandbox else 'LIVE'}: {res['created']} HIT(s) created, {res['already']} already "
            f"published, of {res['tasks']} task(s); ${s['Reward']} x {s['MaxAssignments']} assignment(s) each"
        )
        if res["worker_url"]:
            click.echo(f"workers see them at {res['worker_url']}")
        click.echo(f"wrote {res['file']}")
    return report_problems(res["problems"])


@survey.command("fetch")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@_marketplace
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Results CSV (default: DIRECTORY/mturk_results.csv).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only problems.")
def fetch(directory, sandbox, yes, out, quiet) -> int:
    """Download the assignments of the published HITs as the Requester UI's results CSV."""
    from ..survey.mturk import fetch as run_fetch

    path, n, problems = run_fetch(directory, _client(sandbox, True, "Fetch"), out)
    if not quiet:
        click.echo(f"wrote {path} ({n} assignment(s)); next: s2w-eval survey aggregate {path} --key ...")
    return report_problems(problems)


@survey.command("review")
@click.argument("approvals", type=click.Path(exists=True, dir_okay=False))
@_marketplace
@click.option(
    "--bonuses", type=click.Path(exists=True, dir_okay=False), default=None, help="bonuses.csv to pay."
)
@click.option(
    "--block", "blocklist", type=click.Path(exists=True, dir_okay=False), default=None, help="blocklist.csv."
)
@click.option("-q", "--quiet", is_flag=True, help="Print only problems.")
def review(approvals, sandbox, yes, bonuses, blocklist, quiet) -> int:
    """Approve/reject as APPROVALS (approvals.csv of `survey aggregate`) says; pay bonuses; block workers."""
    from ..survey.mturk import review as run_review

    counts, problems = run_review(
        approvals, _client(sandbox, yes, "Approve, reject and pay"), bonuses=bonuses, blocklist=blocklist
    )
    if not quiet:
        click.echo(", ".join(f"{v} {k}" for k, v in counts.items()))
    return report_problems(problems)


@survey.command("prolific")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--code", "code", required=True, help="The study's completion code (from Prolific's study page)."
)
@click.option(
    "--submit-url", required=True, help="https endpoint that stores the posted answers (one row per POST)."
)
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder (default: DIRECTORY/prolific).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only problems.")
def prolific(directory, code, submit_url, out, quiet) -> int:
    """Write a Prolific study site: index.html (the study URL) and one page per task."""
    from ..survey.prolific import write_study

    files = write_study(directory, code, submit_url, out)
    if not quiet:
        click.echo(
            f"wrote {len(files) - 1} task page(s) and {files[-1]}; host it beside media/ and give Prolific "
            f"{files[-1].name}?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}&STUDY_ID={{{{%STUDY_ID%}}}}"
            f"&SESSION_ID={{{{%SESSION_ID%}}}}"
        )
    return EXIT_OK
