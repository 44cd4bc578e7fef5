"""`s2w-eval pam`: perceptual distance of each condition to the reference, per run."""

from __future__ import annotations

from pathlib import Path

import click

from ..clikit import (
    cache_options,
    parse_list,
    run_scoring,
    scoring_options,
)
from ..metrics.pam import DPAM_LOADERS, METRIC_NAMES


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--reference",
    default=None,
    help="Reference condition folder (default: the protocol's, else 'target'); with --estimate, a plain folder.",
)
@click.option(
    "--estimate",
    "estimates",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="A plain folder of clips to compare with the --reference folder, matched by file name "
    "(repeatable; no samples.csv needed).",
)
@click.option(
    "--conditions", default=None, help="Comma-separated conditions to score (default: all but the reference)."
)
@click.option(
    "--metric",
    "metric_names",
    default=None,
    help="Comma-separated metrics: cdpam, dpam (= dpam-scratch), dpam-finetune, dpam-linear "
    "(default: the protocol's).",
)
@click.option(
    "--dpam-loader",
    type=click.Choice(DPAM_LOADERS),
    default=None,
    help="DPAM's audio loader (default: the protocol's). paper2020 reproduces the paper.",
)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option(
    "--precision",
    type=click.Choice(["float32", "bf16"]),
    default="float32",
    show_default=True,
    help="CDPAM's arithmetic: float32 (the reference) or bf16 (faster on CPUs with AMX; see docs/pam.md).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1024),
    default=None,
    help="Clips of equal length embedded together (default: 1 on cpu, where batching is slower, 8 on cuda).",
)
@click.option("--seed", type=int, default=None, help="Bootstrap seed (default: the protocol's, else 0).")
@cache_options
@scoring_options
def pam(
    paths,
    reference,
    estimates,
    conditions,
    metric_names,
    dpam_loader,
    protocol,
    long,
    out_root,
    device,
    precision,
    batch_size,
    fmt,
    seed,
    cache_dir,
    no_cache,
    quiet,
):
    """Score every run found under each PATH: the perceptual distance (CDPAM, DPAM) from each condition's clip
    to the reference clip of the same sample. Writes OUT/<run>/pam.csv and pam.json and prints the paper's
    Table 3 shape per metric. Rerunning resumes: finished items are not recomputed.

    Plain folders instead of a run: `s2w-eval pam --reference REF_DIR --estimate A_DIR --estimate B_DIR`
    (clips matched by file name; results in OUT/<REF>-vs-<A>-<B>/)."""
    from .. import api

    if estimates:
        if paths or not reference:
            raise click.UsageError(
                "--estimate compares plain folders with --reference DIR; give no RUN paths"
            )
        run_or_folders = {"reference": reference, "estimates": list(estimates)}
        reference = None
    elif not paths:
        raise click.UsageError("give RUN paths, or --reference DIR with --estimate DIR...")
    else:
        run_or_folders = None
    score = api.pam_folders if run_or_folders else api.pam
    first = (run_or_folders["reference"], run_or_folders["estimates"]) if run_or_folders else (list(paths),)
    return run_scoring(
        score,
        *first,
        protocol=protocol,
        long=long,
        out_root=out_root,
        fmt=fmt,
        quiet=quiet,
        cache_dir=cache_dir,
        cache=not no_cache,
        metrics=parse_list(metric_names, METRIC_NAMES, "metric"),
        dpam_loader=dpam_loader,
        reference=reference,
        conditions=parse_list(conditions),
        device=device,
        precision=precision,
        batch_size=batch_size,
        seed=seed,
    )
