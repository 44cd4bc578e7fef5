"""`s2w-eval report`: render result files as HTML (self-contained), Markdown and LaTeX."""

from __future__ import annotations

from pathlib import Path

import click

from ..clikit import parse_list, quiet_option, report_problems


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    "out_root",
    type=click.Path(path_type=Path),
    default=None,
    help="Reports go to OUT/<run>/report.<ext> (default: next to the results, in the result folder's "
    "parent, i.e. reports/).",
)
@click.option(
    "--format",
    "formats",
    default="html,md,tex",
    show_default=True,
    help="Comma-separated formats: html (one self-contained file), md, tex.",
)
@click.option(
    "--results",
    "results_root",
    type=click.Path(path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Where a RUN folder's results are looked up (RESULTS/<run name>/).",
)
@click.option(
    "--max-figures",
    type=click.IntRange(0, 10_000),
    default=20,
    show_default=True,
    help="Samples drawn as waveform + spectrogram figures per run (0: none).",
)
@click.option(
    "--embed-audio",
    is_flag=True,
    help="Put every clip into report.html (one self-contained file, large) instead of linking the run's "
    "audio files by relative paths.",
)
@click.option("--no-compare", is_flag=True, help="With several runs, skip the side-by-side report.")
@quiet_option
def report(runs, out_root, formats, results_root, max_figures, embed_audio, no_compare, quiet):
    """Render the report of each RUN from its result files only (pam, chords, survey): the paper's Table 3
    (PAM, with CIs and tests), Tables 4-5 (chords, emotion accuracy with Wilson CIs), Figs. 9-10 (survey),
    waveform/spectrogram figures, an audio player for every clip and the provenance of every number. RUN is a result folder (reports/<run>/)
    or a run folder (its results are read from --results/<run name>/, its audio is drawn). With several
    RUNs a side-by-side report is written too (OUT/compare-<a>-vs-<b>/)."""
    from ..progress import track
    from ..report import FORMATS, build_comparison, build_report, resolve_inputs, write_report

    fmts = parse_list(formats, FORMATS, "format") or ["html"]
    results = resolve_inputs(list(runs), results_root)
    problems = []
    for res in track(results, "reports", "run", enabled=not quiet):
        rep, figures = build_report(res, max_figures=max_figures)
        target = (out_root / res.name) if out_root is not None else res.result_dir
        if res.result_dir.is_dir() or out_root is not None:
            written = write_report(rep, figures, target, fmts, embed_audio=embed_audio)
            for fmt, path in written.items():
                click.echo(f"{res.name}: {fmt} -> {path}")
        problems.extend(rep.problems)
    if len(results) > 1 and not no_compare:
        comp = build_comparison(results)
        base = out_root if out_root is not None else results[0].result_dir.parent
        for fmt, path in write_report(comp, [], base / comp.slug, fmts).items():
            click.echo(f"side by side: {fmt} -> {path}")
    return report_problems(problems)
