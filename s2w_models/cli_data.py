"""`s2w-models data ...`: prepare COGNIMUSE-format movies, count labels, synthesize a set, import the authors' npz."""

from __future__ import annotations

import click

from s2w_eval.clikit import format_option, render_rows, report_problems
from s2w_eval.errors import EXIT_DATA, EXIT_OK


def _size(value: str) -> tuple[int, int]:
    try:
        parts = [int(v) for v in value.lower().replace("x", ",").split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"size must be N or HxW, got {value!r}") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 8:
        raise click.BadParameter(f"size must be N or HxW with sides >= 8, got {value!r}")
    return parts[0], parts[1]


def _durations(value: str | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in (value or "").split(","):
        if not item.strip():
            continue
        name, sep, secs = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(secs)
        except ValueError:
            raise click.BadParameter(f"expected MOVIE=SECONDS, got {item.strip()!r}") from None
        if not out[name.strip()] > 0:
            raise click.BadParameter(f"duration must be > 0 in {item.strip()!r}")
    return out


@click.group(name="data")
def data() -> None:
    """Prepare splice datasets (COGNIMUSE format), count labels, synthesize a test set, import npz."""


@data.command("prepare")
@click.argument("source", type=click.Path(path_type=str))
@click.option(
    "-o", "--out", "out", required=True, type=click.Path(path_type=str), help="dataset folder to write"
)
@click.option(
    "--seconds", type=click.Choice(["3", "10"]), default="3", show_default=True, help="splice length"
)
@click.option(
    "--split",
    default="auto",
    show_default=True,
    help="auto | paper | comma list of test movies (auto: the paper's for COGNIMUSE names, else "
    "SOURCE/split.json, else the last movie)",
)
@click.option(
    "--val-fraction",
    type=float,
    default=0.1,
    show_default=True,
    help="last fraction of each train movie's splices that becomes the validation split",
)
@click.option(
    "--downmix",
    type=click.Choice(["average", "left"]),
    default="average",
    show_default=True,
    help="stereo -> mono: mean of the channels, or the left channel (what the original kept)",
)
@click.option(
    "--short-annotations",
    type=click.Choice(["extend", "truncate", "error"]),
    default="extend",
    show_default=True,
    help="splices past the annotation's end: reuse its last row (the original), "
    "drop them, or reject the movie",
)
@click.option("--movies", default=None, help="comma list: prepare only these movies")
@click.option("--fps", type=int, default=10, show_default=True, help="frames per second kept")
@click.option("--size", default="100", show_default=True, help="frame size N or HxW")
@click.option("-q", "--quiet", is_flag=True, help="no progress output")
@click.option(
    "--replace",
    is_flag=True,
    help="start OUT over: its index is rewritten from this call alone (default: merge by movie)",
)
@format_option
def prepare_cmd(
    source,
    out,
    seconds,
    split,
    val_fraction,
    downmix,
    short_annotations,
    movies,
    fps,
    size,
    quiet,
    replace,
    fmt,
):
    """Cut SOURCE's movies into splices (frames HSV 10 fps 100x100, 16 kHz audio, label) in the folder OUT.

    SOURCE: one folder per movie with video.mp4 and emotion/intended_1.dat, or a clips CSV
    (file,start,end,valence[,arousal][,split]). Rerunning reuses the movies already prepared.
    """
    from .data.prepare import prepare

    movie_list = [m.strip() for m in movies.split(",") if m.strip()] if movies else None
    res = prepare(
        source,
        out,
        int(seconds),
        fps=fps,
        size=_size(size),
        downmix=downmix,
        split=split,
        val_fraction=val_fraction,
        short_annotations=short_annotations,
        movies=movie_list,
        progress=not quiet,
        replace=replace,
    )
    counts: dict[str, dict[str, int]] = {}
    for r in res.rows:
        c = counts.setdefault(r["split"], {"negative": 0, "positive": 0})
        c[r["emotion"]] += 1
    table = [
        [s, c["negative"] + c["positive"], c["negative"], c["positive"]] for s, c in sorted(counts.items())
    ]
    click.echo(render_rows(table, ["split", "splices", "negative", "positive"], fmt))
    click.echo(
        err=fmt == "json",
        message=f"prepared {len(res.prepared)} movie(s), reused {len(res.reused)}; wrote {res.out}/samples.csv, "
        f"dataset.json, shards/",
    )
    return report_problems(res.problems)


@data.command("labels")
@click.argument("source", type=click.Path(path_type=str))
@click.option(
    "--seconds", type=click.Choice(["3", "10"]), default="3", show_default=True, help="splice length"
)
@click.option(
    "--durations", default=None, help="MOVIE=SECONDS,... for movies without a video (e.g. DEP=1828.8)"
)
@click.option("--split", default="auto", show_default=True, help="as for `data prepare`")
@click.option(
    "--short-annotations",
    type=click.Choice(["extend", "truncate", "error"]),
    default="extend",
    show_default=True,
)
@click.option(
    "-o", "--out", "out", default=None, type=click.Path(path_type=str), help="also write the table as CSV"
)
@format_option
def labels_cmd(source, seconds, durations, split, short_annotations, out, fmt):
    """Per-movie splice counts and negative/positive labels from the annotation files alone (no decoding)."""
    from s2w_eval.results import atomic_write_csv

    from .data.prepare import label_table

    rows, problems = label_table(source, int(seconds), _durations(durations), split, short_annotations)
    cols = [
        "movie",
        "split",
        "duration_s",
        "duration_from",
        "splices",
        "negative",
        "positive",
        "past_annotation_end",
    ]
    click.echo(render_rows([[r.get(c, "") for c in cols] for r in rows], cols, fmt))
    if out:
        atomic_write_csv(out, rows, cols + ["annotation_end_s"])
        click.echo(f"wrote {out}", err=fmt == "json")
    return report_problems(problems)


@data.command("synth")
@click.option(
    "-o", "--out", "out", required=True, type=click.Path(path_type=str), help="SOURCE folder to write"
)
@click.option("--minutes", type=float, default=3.0, show_default=True, help="total minutes of material")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--movies", type=int, default=3, show_default=True, help="number of movies (the last is the test one)"
)
@click.option("--fps", type=int, default=25, show_default=True, help="frame rate of the written videos")
@click.option("--size", default="120x160", show_default=True, help="frame size HxW of the written videos")
@click.option("-q", "--quiet", is_flag=True, help="no progress output")
@format_option
def synth_cmd(out, minutes, seed, movies, fps, size, quiet, fmt):
    """Write synthetic emotional movies (video.mp4 + emotion/intended_1.dat + chords.lab) for `data prepare`."""
    from .data.synth import synthesize

    folders = synthesize(
        out,
        minutes,
        seed,
        movies,
        fps=fps,
        size=_size(size),
        progress=not quiet,
        log=lambda m: click.echo(m, err=True),
    )
    click.echo(
        f"wrote {len(folders)} movie(s) to {out}: {', '.join(f.name for f in folders)}", err=fmt == "json"
    )
    from .data.synth import scene_table

    scenes = scene_table(out)
    headers = list(scenes[0]) if scenes else []
    click.echo(render_rows([[r.get(h, "") for h in headers] for r in scenes], headers, fmt))
    return EXIT_OK


@data.command("import-npz")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option(
    "-o", "--out", "out", required=True, type=click.Path(path_type=str), help="dataset folder to write"
)
@click.option(
    "--split",
    type=click.Choice(["auto", "train", "test"]),
    default="auto",
    show_default=True,
    help="auto: from the file name (_train / _test)",
)
@click.option("--val-fraction", type=float, default=0.1, show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="no progress output")
@click.option(
    "--replace",
    is_flag=True,
    help="start OUT over: its index is rewritten from this call alone (default: merge by movie)",
)
def import_npz_cmd(files, out, split, val_fraction, quiet, replace):
    """Import the authors' npz files (HSL_data, audio, emotion) into a dataset folder, streaming."""
    from .data.npz import import_npz

    rows, problems = import_npz(files, out, split, val_fraction, progress=not quiet, replace=replace)
    click.echo(f"imported {len(rows)} clip(s) into {out}")
    return report_problems(problems) if problems else EXIT_OK


__all__ = ["data", "EXIT_DATA"]
