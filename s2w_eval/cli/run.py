"""`s2w-eval run`: make a folder of condition folders into a run."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def run() -> None:
    """Runs: the layout s2w-eval reads (samples.csv and one folder per condition)."""


@run.command("init")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--emotions",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A CSV with columns sample,emotion (positive|negative) giving each clip's intended emotion.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing samples.csv.")
def init(directory, emotions, force) -> int:
    """Write DIRECTORY/samples.csv listing every clip found in its condition folders (and, with --emotions,
    their intended emotions; pam needs none, chords and surveys do)."""
    from ..io.runs import init_samples_csv, load_run

    if (directory / "samples.csv").exists() and not force:
        raise click.UsageError(f"{directory / 'samples.csv'} exists already (use --force to overwrite it)")
    path = init_samples_csv(directory, emotions, force)
    found = load_run(directory)
    click.echo(
        f"{path}: {len(found.samples)} samples, conditions {', '.join(found.conditions) or 'none'}"
        + ("" if emotions else " (no emotions: add --emotions TABLE for chords and surveys)")
    )
    for p in found.problems:
        click.echo(f"warning: {p.format()}", err=True)
    return 0
