"""`s2w-models data ...`: prepare COGNIMUSE-format movies or DEAP, count labels, synthesize a set, import npz."""

from __future__ import annotations

import click

from s2w_eval.clikit import format_option, in_cli_words, render_rows, report_problems
from s2w_eval.errors import EXIT_DATA, EXIT_OK, UsageError

LABEL_SCHEMES = ("valence2", "valence3", "quadrant")  # s2w_eval.vocab.SCHEMES (tested equal)


#: the library's fix for a folder that holds another dataset (data.index.REPLACE_FIX), naming the option
_REPLACE_FIX = "write to another folder, or start this one over (--replace)"


def label_options(f):
    """--labels / --neutral-band, shared by prepare, labels and deap."""
    f = click.option(
        "--neutral-band",
        type=float,
        default=0.1,
        show_default=True,
        help="valence3: neutral iff |valence| < this (valence on [-1, 1]; DEAP ratings map by (r - 5) / 4)",
    )(f)
    return click.option(
        "--labels",
        "labels",
        type=click.Choice(LABEL_SCHEMES),
        default="valence2",
        show_default=True,
        help="label scheme: valence2 (the paper's negative/positive), valence3 (negative/neutral/positive), "
        "quadrant (valence x arousal)",
    )(f)


def _count_table(rows, labels: str, fmt: str) -> str:
    """splices per split and class of the label scheme."""
    from s2w_eval.vocab import SCHEMES

    classes = SCHEMES[labels].classes
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        c = counts.setdefault(r["split"], dict.fromkeys(classes, 0))
        c[r["emotion"]] += 1
    table = [[s, sum(c.values()), *c.values()] for s, c in sorted(counts.items())]
    return render_rows(table, ["split", "splices", *classes], fmt)


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
    """Prepare splice datasets (COGNIMUSE format, DEAP), count labels, synthesize a test set, import npz."""


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
@label_options
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
    labels,
    neutral_band,
    quiet,
    replace,
    fmt,
):
    """Cut SOURCE's movies into splices (frames HSV 10 fps 100x100, 16 kHz audio, label) in the folder OUT.

    SOURCE: one folder per movie with video.mp4 and emotion/intended_1.dat, or a clips CSV
    (file,start,end,valence[,arousal][,split]). Rerunning reuses the movies already prepared.
    """
    from .data.index import REPLACE_FIX
    from .data.prepare import prepare

    movie_list = [m.strip() for m in movies.split(",") if m.strip()] if movies else None
    with in_cli_words(fixes={REPLACE_FIX: _REPLACE_FIX}):
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
            labels=labels,
            neutral_band=neutral_band,
        )
    click.echo(_count_table(res.rows, labels, fmt))
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
@label_options
@click.option(
    "--group-by",
    type=click.Choice(["experiment", "trial"]),
    default="experiment",
    show_default=True,
    help="DEAP ratings: average per video (experiment) or per presentation position (trial, the authors')",
)
@click.option("--train-splices", default="20", show_default=True, help="DEAP: as for `data deap`")
@click.option("--test-splices", type=int, default=3, show_default=True, help="DEAP: as for `data deap`")
@click.option("--overlap/--no-overlap", default=False, show_default=True, help="DEAP: as for `data deap`")
def labels_cmd(
    source,
    seconds,
    durations,
    split,
    short_annotations,
    out,
    fmt,
    labels,
    neutral_band,
    group_by,
    train_splices,
    test_splices,
    overlap,
):
    """Per-movie splice counts per class of the label scheme, from the annotation files alone (no decoding).

    SOURCE: a COGNIMUSE-format folder, or DEAP's participant_ratings.csv (one row per video: mean ratings,
    label, and the splice counts `data deap` makes from the one-minute highlight clips).
    """
    from s2w_eval.results import atomic_write_csv
    from s2w_eval.vocab import SCHEMES

    from .data.deap import is_ratings_file, parse_train_splices

    if is_ratings_file(source):
        from .data.deap import deap_label_table

        rows, cols = deap_label_table(
            source,
            group_by=group_by,
            labels=labels,
            neutral_band=neutral_band,
            seconds=int(seconds),
            train_splices=parse_train_splices(train_splices),
            test_splices=test_splices,
            overlap=overlap,
        )
        click.echo(render_rows([[r.get(c, "") for c in cols] for r in rows], cols, fmt))
        if out:
            atomic_write_csv(out, rows, cols)
            click.echo(f"wrote {out}", err=fmt == "json")
        return EXIT_OK

    from .data.prepare import label_table

    rows, problems = label_table(
        source,
        int(seconds),
        _durations(durations),
        split,
        short_annotations,
        labels=labels,
        neutral_band=neutral_band,
    )
    cols = [
        "movie",
        "split",
        "duration_s",
        "duration_from",
        "splices",
        *SCHEMES[labels].classes,
        "past_annotation_end",
    ]
    click.echo(render_rows([[r.get(c, "") for c in cols] for r in rows], cols, fmt))
    if out:
        atomic_write_csv(out, rows, cols + ["annotation_end_s"])
        click.echo(f"wrote {out}", err=fmt == "json")
    return report_problems(problems)


@data.command("deap")
@click.argument("ratings", type=click.Path(path_type=str))
@click.argument("videos", type=click.Path(path_type=str))
@click.option(
    "-o", "--out", "out", required=True, type=click.Path(path_type=str), help="dataset folder to write"
)
@click.option(
    "--group-by",
    type=click.Choice(["experiment", "trial"]),
    default="experiment",
    show_default=True,
    help="average the ratings per video (Experiment_id), or per presentation position (Trial: the authors' "
    "script, which mixes different videos)",
)
@label_options
@click.option(
    "--seconds", type=click.Choice(["3", "10"]), default="3", show_default=True, help="splice length"
)
@click.option(
    "--train-splices",
    default="20",
    show_default=True,
    help="training splices per video from its start (20 = a one-minute highlight clip), or 'all' (raw videos)",
)
@click.option(
    "--test-splices", type=int, default=3, show_default=True, help="test splices per video (its first ones)"
)
@click.option(
    "--overlap/--no-overlap",
    default=False,
    show_default=True,
    help="the test splices are also training splices (the authors' sets) / training starts after them",
)
@click.option(
    "--test-videos",
    default=None,
    type=click.Path(path_type=str),
    help="take the test splices from this folder's videos (the highlights, when VIDEOS are the raw videos)",
)
@click.option("--ids", default=None, help="comma list: prepare only these videos (Experiment_id)")
@click.option("--val-fraction", type=float, default=0.1, show_default=True)
@click.option("--downmix", type=click.Choice(["average", "left"]), default="average", show_default=True)
@click.option("--fps", type=int, default=10, show_default=True, help="frames per second kept")
@click.option("--size", default="100", show_default=True, help="frame size N or HxW")
@click.option("-q", "--quiet", is_flag=True, help="no progress output")
@format_option
def deap_cmd(
    ratings,
    videos,
    out,
    group_by,
    labels,
    neutral_band,
    seconds,
    train_splices,
    test_splices,
    overlap,
    test_videos,
    ids,
    val_fraction,
    downmix,
    fps,
    size,
    quiet,
    fmt,
):
    """DEAP's participant_ratings.csv + its music videos (VIDEOS: files named by Experiment_id, 1.mp4 ...) ->
    a splice dataset in OUT, each splice labelled from its video's mean ratings (videos 17, 18 skipped)."""
    from .data.deap import parse_train_splices, prepare_deap

    try:
        id_list = [int(x) for x in ids.split(",") if x.strip()] if ids else None
    except ValueError:
        raise UsageError(f"--ids must be a comma list of video numbers, got {ids!r}") from None
    res = prepare_deap(
        ratings,
        videos,
        out,
        seconds=int(seconds),
        group_by=group_by,
        labels=labels,
        neutral_band=neutral_band,
        train_splices=parse_train_splices(train_splices),
        test_splices=test_splices,
        overlap=overlap,
        test_videos=test_videos,
        ids=id_list,
        val_fraction=val_fraction,
        fps=fps,
        size=_size(size),
        downmix=downmix,
        progress=not quiet,
    )
    click.echo(_count_table(res.rows, labels, fmt))
    click.echo(
        f"prepared {len(res.prepared)} video(s), reused {len(res.reused)} (labels grouped by {group_by}); "
        f"wrote {res.out}/samples.csv, dataset.json, shards/",
        err=fmt == "json",
    )
    return report_problems(res.problems)


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
    from .data.index import REPLACE_FIX
    from .data.npz import import_npz

    with in_cli_words(fixes={REPLACE_FIX: _REPLACE_FIX}):
        rows, problems = import_npz(files, out, split, val_fraction, progress=not quiet, replace=replace)
    click.echo(f"imported {len(rows)} clip(s) into {out}")
    return report_problems(problems) if problems else EXIT_OK


__all__ = ["data", "EXIT_DATA"]
