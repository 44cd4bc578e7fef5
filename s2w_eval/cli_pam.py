"""`s2w-eval pam`: perceptual distance of each condition to the reference, per run."""

from __future__ import annotations

from pathlib import Path

import click

from .clikit import parse_list, report_problems, scoring_options
from .errors import EXIT_DATA, EXIT_OK, DataError, Problem, UsageError


def resolve_protocol(protocol: str | None, long: bool):
    """The protocol named by --protocol, or selected by --long (10 s); None when neither is given."""
    if protocol is None and not long:
        return None
    from .protocols import load_protocol, protocol_for

    if protocol is not None and long:
        raise UsageError("give either --protocol or --long, not both")
    return load_protocol(protocol) if protocol is not None else protocol_for(long=True)


def protocol_record(proto) -> dict | None:
    if proto is None:
        return None
    return {
        "name": proto.name,
        "version": proto.version,
        "path": str(getattr(proto, "path", "")),
        "sha256": getattr(proto, "sha256", None),
    }


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--reference", default=None, help="Reference condition folder (default: the protocol's, else 'target')."
)
@click.option(
    "--conditions", default=None, help="Comma-separated conditions to score (default: all but the reference)."
)
@click.option(
    "--metric",
    "metric_names",
    default=None,
    help="Comma-separated metrics: cdpam, dpam (= dpam-scratch), dpam-finetune, dpam-linear "
    "(default: the protocol's, else cdpam,dpam).",
)
@click.option(
    "--dpam-loader",
    type=click.Choice(["modern", "paper2020"]),
    default=None,
    help="DPAM's audio loader (default: the protocol's, else modern). paper2020 reproduces the paper.",
)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1024),
    default=None,
    help="Clips of equal length embedded together (default: 1 on cpu, where batching is slower, 8 on cuda).",
)
@click.option("--seed", type=int, default=None, help="Bootstrap seed (default: the protocol's, else 0).")
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Embedding cache (default: $S2W_CACHE_DIR or ~/.cache/s2w).",
)
@click.option("--no-cache", is_flag=True, help="Do not read or write the embedding cache.")
@scoring_options
def pam(
    paths,
    reference,
    conditions,
    metric_names,
    dpam_loader,
    protocol,
    long,
    out_root,
    device,
    batch_size,
    fmt,
    seed,
    cache_dir,
    no_cache,
    quiet,
):
    """Score every run found under each PATH: the perceptual distance (CDPAM, DPAM) from each condition's clip
    to the reference clip of the same sample. Writes OUT/<run>/pam.csv and pam.json and prints the paper's
    Table 3 shape per metric. Rerunning resumes: finished items are not recomputed."""
    from .features.cache import EmbeddingCache
    from .io.runs import find_runs
    from .metrics.pam import DPAM_LOADERS, METRIC_NAMES, build_metrics, format_tables, score_run

    proto = resolve_protocol(protocol, long)
    popts = dict(proto.metrics.get("pam", {}) or {}) if proto is not None else {}
    names = (
        parse_list(metric_names, METRIC_NAMES, "metric")
        if metric_names
        else list(popts.get("metrics", ["cdpam", "dpam"]))
    )
    for n in names:
        if n not in METRIC_NAMES:
            raise UsageError(f"unknown metric {n!r} in the protocol; choose from {', '.join(METRIC_NAMES)}")
    loader = dpam_loader or popts.get("dpam_loader", "modern")
    if loader not in DPAM_LOADERS:
        raise UsageError(f"unknown DPAM loader {loader!r}; choose from {', '.join(DPAM_LOADERS)}")
    ref = reference or (proto.reference if proto is not None else "target")
    conds = parse_list(conditions) if conditions else None
    seed = seed if seed is not None else (int(proto.seeds.get("bootstrap", 0)) if proto is not None else 0)
    problems = []
    runs = find_runs(list(paths), problems)
    metrics = build_metrics(names, dpam_loader=loader, device=device)
    cache = EmbeddingCache(cache_dir, enabled=not no_cache)
    for run in runs:
        try:
            score = score_run(
                run,
                metrics,
                out_root / run.name,
                reference=ref,
                conditions=conds,
                batch_size=batch_size or (8 if device == "cuda" else 1),
                cache=cache,
                seed=seed,
                progress=False if quiet else None,
                protocol=protocol_record(proto),
            )
        except DataError as exc:  # this run cannot be scored; the other runs go on
            problems.append(Problem.from_error(exc))
            continue
        problems.extend(score.problems)
        click.echo(format_tables(score.rows, score.summary["summary"], fmt=fmt, title=run.name))
        c = score.summary["counts"]
        click.echo(
            f"{run.name}: {c['rows']} of {c['expected']} items scored ({c['computed']} computed, "
            f"{c['reused']} reused) -> {score.out_dir / 'pam.csv'}",
            err=True,
        )
    code = report_problems(problems)
    return EXIT_DATA if code else EXIT_OK
