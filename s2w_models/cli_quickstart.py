"""`s2w-models quickstart`: synthesize, prepare, train, generate, score, build the survey, report."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("quickstart"),
    show_default=True,
    help="Everything goes under this folder.",
)
@click.option(
    "--minutes",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Minutes of synthetic movie to generate and train on (default 3; 1 with --small).",
)
@click.option(
    "--clips",
    type=click.IntRange(min=2),
    default=None,
    help="Held-out clips generated and scored, balanced by emotion (default 8; 4 with --small).",
)
@click.option("--small", is_flag=True, help="Reduced size (about a minute of CPU): the end-to-end test's.")
@click.option(
    "--metric",
    "metrics",
    default="cdpam,dpam",
    show_default=True,
    help="Perceptual metrics for `s2w-eval pam`.",
)
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output (step lines are still printed).")
def quickstart(out, minutes, clips, small, metrics, device, quiet):
    """Run the whole product end to end under OUT: synthesize emotional scenes, prepare them, train the tiny CNN,
    encoder (ConvSeq2Seq baseline) and Scene2Wav, generate a run for held-out scenes, score it (`s2w-eval pam`,
    `chords`), build the listening-survey sheets and write the report (OUT/reports/<run>/report.html).
    Under 10 minutes on 2 CPU cores; a second invocation reuses every finished step."""
    from .quickstart import QuickstartConfig, main_summary, run_quickstart

    kw = {"minutes": minutes, "clips": clips, "pam_metrics": metrics, "device": device}
    if small:
        cfg = QuickstartConfig.small(**kw)
    else:
        cfg = QuickstartConfig(**{k: v for k, v in kw.items() if v is not None})
    result = run_quickstart(out, cfg, progress=not quiet)
    main_summary(result)
    if result.problems:
        from s2w_eval.clikit import report_problems

        return report_problems(result.problems)
    return 0
