"""`s2w-eval dist`: distribution distances (KAD, FAD, FAD-inf) of each condition's set to the reference set."""

from __future__ import annotations

from pathlib import Path

import click

from ..clikit import cache_options, parse_list, run_scoring, scoring_options
from ..features.embeddings import EMBEDDINGS
from ..metrics.dist import METRICS


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--metric",
    "metric_names",
    default=None,
    help="Comma-separated distances: kad (unbiased; the default), fad, fad-inf.",
)
@click.option(
    "--embedding",
    "embedding_names",
    default=None,
    help=f"Comma-separated embeddings: {', '.join(EMBEDDINGS)} (default: cdpam). The standard ones "
    "(vggish, panns-cnn14, clap, encodec, mert) need --weights.",
)
@click.option(
    "--weights",
    type=click.Path(path_type=Path),
    default=None,
    help="The weights file (vggish, panns-cnn14) or model folder (clap, encodec, mert) you downloaded; "
    "s2w never downloads weights. Its sha256 is recorded.",
)
@click.option(
    "--reference", default=None, help="Reference condition folder (default: the protocol's, else 'target')."
)
@click.option(
    "--conditions", default=None, help="Comma-separated conditions to score (default: all but the reference)."
)
@click.option(
    "--bandwidth", type=float, default=None, help="KAD's kernel bandwidth (default: median heuristic)."
)
@click.option(
    "--resamples", type=click.IntRange(0, 100_000), default=None, help="Bootstrap resamples (default 1000)."
)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--seed", type=int, default=None, help="Bootstrap seed (default: the protocol's, else 0).")
@cache_options
@scoring_options
def dist(
    paths,
    metric_names,
    embedding_names,
    weights,
    reference,
    conditions,
    bandwidth,
    resamples,
    device,
    seed,
    cache_dir,
    no_cache,
    protocol,
    long,
    out_root,
    fmt,
    quiet,
):
    """For every run found under each PATH: the distance between each condition's set of clips and the
    reference set, on clip embeddings (KAD by default: unbiased at the paper's 20 clips per condition), with
    bootstrap 95% CIs over samples. Writes OUT/<run>/dist.csv and dist.json. Rerunning resumes; clip
    embeddings are cached."""
    from .. import api

    return run_scoring(
        api.dist,
        list(paths),
        protocol=protocol,
        long=long,
        out_root=out_root,
        fmt=fmt,
        quiet=quiet,
        cache_dir=cache_dir,
        cache=not no_cache,
        metrics=parse_list(metric_names, METRICS, "metric"),
        embeddings=parse_list(embedding_names, list(EMBEDDINGS), "embedding"),
        weights=weights,
        reference=reference,
        conditions=parse_list(conditions),
        bandwidth=bandwidth,
        resamples=resamples,
        device=device,
        seed=seed,
    )
