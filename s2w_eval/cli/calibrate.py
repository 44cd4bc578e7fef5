"""`s2w-eval calibrate`: how far each metric can be trusted on a run's own data (anchors of known severity)."""

from __future__ import annotations

from pathlib import Path

import click

from ..clikit import parse_list, run_scoring, scoring_options
from ..tasks.calibrate import METRICS


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--metric",
    "metric_names",
    default=None,
    help=f"Comma-separated metrics: {', '.join(METRICS)} (default: all). CDPAM is slow on CPU (~4 s a clip).",
)
@click.option(
    "--embedding",
    type=click.Choice(["cdpam", "dpam"]),
    default=None,
    help="The embedding kad uses (default: dpam).",
)
@click.option(
    "--reference", default=None, help="Reference condition folder (default: the protocol's, else 'target')."
)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option(
    "--seed", type=int, default=None, help="Seed of the noise anchors and the bootstrap (default 0)."
)
@scoring_options
def calibrate(paths, metric_names, embedding, reference, device, seed, protocol, long, out_root, fmt, quiet):
    """For every run found under each PATH: anchors made from its reference clips (the hidden reference,
    white noise at 30/20/10/0 dB SNR, low-pass 7 and 3.5 kHz, 8- and 4-bit requantisation, a 0.1 s shift,
    silence, the wrong scene), scored by each metric. Reports per metric the Spearman correlation with
    severity, whether the hidden reference scores best, the wrong-scene separation and the run-to-run noise.
    Writes OUT/<run>/calibrate.csv, calibrate.json and calibrate.png."""
    from .. import api

    return run_scoring(
        api.calibrate,
        list(paths),
        protocol=protocol,
        long=long,
        out_root=out_root,
        fmt=fmt,
        quiet=quiet,
        cache=False,
        metrics=parse_list(metric_names, METRICS, "metric"),
        embedding=embedding,
        reference=reference,
        device=device,
        seed=seed,
    )
