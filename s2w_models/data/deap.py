"""`data deap`: the DEAP music videos -> a splice dataset (the paper's extended evaluation).

DEAP (Koelstra et al. 2012): 40 music videos, each rated by 32 participants for valence, arousal, dominance,
liking (1-9) and familiarity. `participant_ratings.csv` has the columns `Participant_id, Trial, Experiment_id,
Start_time, Valence, Arousal, Dominance, Liking, Familiarity`; `Experiment_id` is the video, `Trial` the position
at which that participant saw it (the order differs per participant).

A video's label comes from its mean ratings (valence2: negative iff the mean valence < 5, the authors' rule;
other schemes on (mean - 5) / 4, DEAP's 1-9 scale mapped onto [-1, 1]). `group_by`:
- `experiment` (default): the mean over the ratings of that video;
- `trial`: the authors' script, which groups by `Trial`: video N gets the mean of the ratings given at
  presentation position N, i.e. of 32 different videos (kept to reproduce their counts).
Every splice of a video carries the video's label. Videos 17 and 18 are skipped (the authors' choice).

Splices: S seconds (3), every complete splice from the video's start. Test = the first `test_splices` (3; the
authors' first 11 s of each one-minute highlight clip); train = the first `train_splices` (20 = a whole
highlight clip; "all" for raw videos of any length). With `overlap` the test splices are also training
splices, as in the authors' sets; without it (the default) training starts after them. `test_videos` takes
the test splices from another folder (the highlights, when training on the raw videos). Validation = the last
`val_fraction` of each video's training splices (contiguous).

The stored arrays, the shards, the markers that make a rerun resumable and `samples.csv` are written by
`prepare.py`'s code: the same dataset contract as `data prepare` (10 fps, 100x100 HSV uint8, 16 kHz int16).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s2w_eval.errors import DataError, Problem, S2WError, UsageError
from s2w_eval.io.video import DOWNMIX_POLICIES, VIDEO_EXTENSIONS, probe_video
from s2w_eval.results import atomic_write_csv, atomic_write_json, provenance
from s2w_eval.vocab import classify

from .labels import DEFAULT_NEUTRAL_BAND, DEFAULT_SCHEME, check_scheme, scheme_meta
from .prepare import (
    SAMPLE_CSV_COLUMNS,
    PrepareConfig,
    PrepareResult,
    _echo,
    _key,
    _load_marker,
    _marker_path,
    _Shard,
    _source_signature,
    array_meta,
    assign_splits,
    extract_audio,
    extract_frames,
)

RATINGS_COLUMNS = (
    "Participant_id",
    "Trial",
    "Experiment_id",
    "Start_time",
    "Valence",
    "Arousal",
    "Dominance",
    "Liking",
    "Familiarity",
)
REQUIRED_COLUMNS = ("Participant_id", "Trial", "Experiment_id", "Valence", "Arousal")
SKIPPED_VIDEOS = (17, 18)
GROUP_BY = ("experiment", "trial")
GROUP_COLUMN = {"experiment": "Experiment_id", "trial": "Trial, as the authors' script"}
N_VIDEOS = 40
#: DEAP's ratings scale: 1-9, 5 the middle; (r - 5) / 4 maps it onto [-1, 1]
SCALE_MID, SCALE_HALF = 5.0, 4.0
DEAP_URL = "https://www.eecs.qmul.ac.uk/mmv/datasets/deap/"


@dataclass
class VideoLabel:
    video: int
    ratings: int
    valence_mean: float  # 1-9
    arousal_mean: float
    emotion: str

    @property
    def valence(self) -> float:  # on [-1, 1]
        return (self.valence_mean - SCALE_MID) / SCALE_HALF

    @property
    def arousal(self) -> float:
        return (self.arousal_mean - SCALE_MID) / SCALE_HALF


# ---------------------------------------------------------------------------------------------- ratings
def is_ratings_file(path: str | Path) -> bool:
    """True for a CSV whose header names DEAP's `Experiment_id` and `Trial` columns."""
    p = Path(path)
    if not (p.is_file() and p.suffix.lower() == ".csv"):
        return False
    try:
        with open(p, encoding="utf-8-sig") as fh:
            header = fh.readline()
    except (OSError, UnicodeDecodeError):
        return False
    cols = [c.strip() for c in header.split(",")]
    return "Experiment_id" in cols and "Trial" in cols


def read_ratings(path: str | Path):
    """participant_ratings.csv as a DataFrame (validated: ids are whole numbers, ratings in [1, 9], one rating per
    participant and video). A fault is a DataError naming the file and the line."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise UsageError(
            f"ratings file not found: {path}", fix=f"get participant_ratings.csv from {DEAP_URL}"
        )
    try:
        df = pd.read_csv(path, skipinitialspace=True, encoding="utf-8-sig")
    except Exception as exc:
        raise DataError(f"unreadable ratings CSV ({exc})", path) from exc
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(
            f"not DEAP's participant_ratings.csv: column(s) {', '.join(missing)} missing",
            path,
            f"columns: {', '.join(RATINGS_COLUMNS)} (save DEAP's participant_ratings.xls as CSV)",
        )
    if df.empty:
        raise DataError("the ratings file holds no rows", path)
    for col in REQUIRED_COLUMNS:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() | ~values.map(lambda x: math.isfinite(x) if x == x else False)
        if col in ("Participant_id", "Trial", "Experiment_id"):
            bad |= values.fillna(0) % 1 != 0
        else:
            bad |= ~values.between(1, 9)
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            want = "a whole number" if col in ("Participant_id", "Trial", "Experiment_id") else "in [1, 9]"
            raise DataError(
                f"line {i + 2}: {col} must be {want}, got {df[col].iloc[i]!r}", path, "fix or delete that row"
            )
        df[col] = values.astype(int) if col in ("Participant_id", "Trial", "Experiment_id") else values
    dup = df.duplicated(["Participant_id", "Experiment_id"])
    if dup.any():
        i = int(dup.to_numpy().nonzero()[0][0])
        raise DataError(
            f"line {i + 2}: participant {df.Participant_id.iloc[i]} rates video "
            f"{df.Experiment_id.iloc[i]} twice",
            path,
            "keep one rating per participant and video",
        )
    return df


def video_labels(
    df,
    group_by: str = "experiment",
    labels: str = DEFAULT_SCHEME,
    neutral_band: float = DEFAULT_NEUTRAL_BAND,
    skip: Sequence[int] = SKIPPED_VIDEOS,
) -> dict[int, VideoLabel]:
    """{video: VideoLabel} for every video of the ratings except `skip`, in video order."""
    if group_by not in GROUP_BY:
        raise UsageError(f"unknown grouping {group_by!r}; choose from {', '.join(GROUP_BY)}")
    scheme = check_scheme(labels, neutral_band)
    key = "Experiment_id" if group_by == "experiment" else "Trial"
    grouped = df.groupby(key)[["Valence", "Arousal"]].agg(["mean", "size"])
    out: dict[int, VideoLabel] = {}
    for video in sorted(int(v) for v in df["Experiment_id"].unique()):
        if video in skip:
            continue
        if video not in grouped.index:  # group_by trial: fewer trial positions than videos
            raise DataError(
                f"video {video}: no ratings at trial position {video} to take its label from "
                "(grouping by trial)",
                None,
                "group by experiment",
                param="group_by",
            )
        g = grouped.loc[video]
        v, a = float(g[("Valence", "mean")]), float(g[("Arousal", "mean")])
        emo = classify((v - SCALE_MID) / SCALE_HALF, (a - SCALE_MID) / SCALE_HALF, scheme, neutral_band)
        out[video] = VideoLabel(video, int(g[("Valence", "size")]), v, a, emo)
    return out


# --------------------------------------------------------------------------------------------- splices
def parse_train_splices(value: str | int | None) -> int | None:
    """'20' -> 20; 'all' / None / 0 -> None (every complete splice)."""
    if value is None or str(value).strip().lower() in ("all", "0", ""):
        return None
    try:
        n = int(str(value).strip())
    except ValueError:
        raise UsageError(f"must be a number or 'all', got {value!r}", param="train_splices") from None
    if n < 0:
        raise UsageError(f"must be >= 0, got {n}", param="train_splices")
    return n


def complete_splices(duration: float, seconds: int, fps: int) -> int:
    """Splices of `seconds` that fit in the video from its start; the last may miss at most one output frame
    period (a one-minute clip of 59.96 s still gives 20 splices of 3 s; its audio tail is zero-padded)."""
    return max(0, int(math.floor((float(duration) + 1.0 / fps) / seconds + 1e-9)))


def plan_splits(
    available: int, train_splices: int | None, test_splices: int, overlap: bool, separate_test: bool
) -> tuple[range, range]:
    """(train splice indices, test splice indices) of one video with `available` complete splices.

    Test: the first `test_splices` (from the same video unless `separate_test`). Train: the first
    `train_splices` (None: all), minus the test ones unless `overlap` (or the test comes from another file)."""
    n_train_end = available if train_splices is None else min(train_splices, available)
    if separate_test:
        return range(0, n_train_end), range(0, 0)
    test = range(0, min(test_splices, available))
    start = 0 if overlap else len(test)
    return range(min(start, n_train_end), n_train_end), test


def find_videos(folder: str | Path) -> dict[int, Path]:
    """{experiment id: video file} for files named by their number (`7.mp4`, `07.wmv`, `exp_7.avi`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"VIDEOS must be a folder of DEAP videos named by number (1.mp4 ...): {folder}")
    out: dict[int, Path] = {}
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.name.startswith(".") or p.suffix.lower() not in VIDEO_EXTENSIONS:
            continue
        m = re.fullmatch(r"\D*0*(\d+)", p.stem)
        if m is None:
            continue
        vid = int(m.group(1))
        if vid in out:
            raise UsageError(f"two files for video {vid} in {folder}: {out[vid].name}, {p.name}")
        out[vid] = p
    return out


def _extract(
    name: str, video: Path, n: int, out: Path, cfg: PrepareConfig, progress: bool
) -> tuple[int, list[str], bool]:
    """The first n splices of `video` into shard `name` (reused when unchanged): (splices written, notes, reused)."""
    from tqdm import tqdm

    key = _key({"cfg": cfg.key(), "video": _source_signature(video), "n": n, "kind": "deap"})
    marker = _load_marker(out, name, key)
    if marker is not None:
        return int(marker["done"]), list(marker["notes"]), True
    info = probe_video(video)
    if not info.has_audio:
        raise DataError("video has no audio stream", video, "give the video with its sound track")
    notes: list[str] = []
    shard = _Shard(out, name, n, cfg)
    try:
        with tqdm(
            total=n, desc=f"{name} frames", unit="splice", disable=not progress, leave=False, file=sys.stderr
        ) as bar:
            done = extract_frames(video, shard.frames, 0, n, 0.0, cfg, bar)
        padded = extract_audio(video, shard.audio, 0, n, 0.0, cfg)
        if done < n:
            notes.append(
                f"{name}: the video stream ended after {done} of {n} splices; the last {n - done} dropped"
            )
        if padded > 0:
            notes.append(
                f"{name}: audio track {padded / cfg.sample_rate:.2f} s shorter than the splices; zero-padded"
            )
        shard.commit()
    except BaseException:
        shard.discard()
        raise
    marker = {"key": key, "movie": name, "done": done, "notes": notes, "video": info.to_dict()}
    atomic_write_json(_marker_path(out, name), marker)
    return done, notes, False


def _row(name: str, shard: str, k: int, sample: str, cfg: PrepareConfig, lab: VideoLabel) -> dict[str, Any]:
    return {
        "sample": sample,
        "movie": name,
        "start_s": float(k * cfg.seconds),
        "valence": round(lab.valence, 6),
        "arousal": round(lab.arousal, 6),
        "emotion": lab.emotion,
        "shard": shard,
        "row": k,
        "past_end": False,
    }


def video_name(video: int) -> str:
    return f"deap{video:02d}"


def prepare_deap(
    ratings: str | Path,
    videos: str | Path,
    out: str | Path,
    *,
    seconds: int = 3,
    group_by: str = "experiment",
    labels: str = DEFAULT_SCHEME,
    neutral_band: float = DEFAULT_NEUTRAL_BAND,
    train_splices: int | None = 20,
    test_splices: int = 3,
    overlap: bool = False,
    test_videos: str | Path | None = None,
    ids: Sequence[int] | None = None,
    val_fraction: float = 0.1,
    fps: int = 10,
    size: tuple[int, int] = (100, 100),
    sample_rate: int = 16000,
    downmix: str = "average",
    progress: bool = True,
    log: Callable[[str], None] = _echo,
) -> PrepareResult:
    """DEAP's ratings + videos -> a prepared dataset folder `out` (see the module docstring)."""
    from tqdm import tqdm

    if seconds <= 0 or fps <= 0 or sample_rate <= 0:
        raise UsageError("seconds, fps and sample rate must be > 0")
    if downmix not in DOWNMIX_POLICIES:
        raise UsageError(
            f"unknown policy {downmix!r}; choose from {', '.join(DOWNMIX_POLICIES)}", param="downmix"
        )
    if not 0 <= val_fraction < 1:
        raise UsageError(f"must be in [0, 1), got {val_fraction}", param="val_fraction")
    if test_splices < 0:
        raise UsageError(f"must be >= 0, got {test_splices}", param="test_splices")
    scheme = check_scheme(labels, neutral_band)
    ratings, videos, out = Path(ratings), Path(videos), Path(out)
    labs = video_labels(read_ratings(ratings), group_by, scheme.name, neutral_band)
    files = find_videos(videos)
    test_files = find_videos(test_videos) if test_videos is not None else None
    if ids:
        unknown = [i for i in ids if i not in labs]
        if unknown:
            skipped = [i for i in unknown if i in SKIPPED_VIDEOS]
            raise UsageError(
                f"video {unknown[0]} "
                + ("is skipped (the authors leave out 17 and 18)" if skipped else "is not in the ratings"),
                param="ids",
            )
        labs = {v: lab for v, lab in labs.items() if v in ids}
    cfg = PrepareConfig(
        int(seconds), int(fps), (int(size[0]), int(size[1])), int(sample_rate), downmix, "extend"
    )
    result = PrepareResult(out)
    out.mkdir(parents=True, exist_ok=True)
    extra = sorted(v for v in files if v not in labs and (not ids or v in ids))
    for v in extra:
        why = "skipped (the authors leave out 17 and 18)" if v in SKIPPED_VIDEOS else "has no ratings"
        result.notes.append(f"{files[v].name}: video {v} {why}; not prepared")
    train_rows: list[dict[str, Any]] = []
    test_rows: list[dict[str, Any]] = []
    for v, lab in tqdm(labs.items(), desc="videos", unit="video", disable=not progress, file=sys.stderr):
        name = video_name(v)
        try:
            if v not in files:
                raise DataError(f"no video file for video {v}", videos, f"put it at {videos / f'{v}.mp4'}")
            if test_files is not None and v not in test_files:
                raise DataError(f"no test video file for video {v}", test_videos, f"put it at {v}.mp4 there")
            available = complete_splices(probe_video(files[v]).duration, cfg.seconds, cfg.fps)
            train, test = plan_splits(available, train_splices, test_splices, overlap, test_files is not None)
            n_main = max(train.stop, test.stop)
            if n_main == 0:
                raise DataError(f"video too short for one {cfg.seconds} s splice", files[v])
            done, notes, reused = _extract(name, files[v], n_main, out, cfg, progress)
            result.notes.extend(notes)
            if train_splices is not None and available < train_splices:
                result.notes.append(f"{name}: {available} complete splice(s), fewer than {train_splices}")
            vrows = [_row(name, name, k, f"{name}_{k:05d}", cfg, lab) for k in train if k < done]
            shared_test = overlap and test_files is None
            trows = [
                _row(name, name, k, f"{name}_test_{k:05d}" if shared_test else f"{name}_{k:05d}", cfg, lab)
                for k in test
                if k < done
            ]
            if test_files is not None:
                tname = f"{name}_test"
                tn = min(
                    test_splices, complete_splices(probe_video(test_files[v]).duration, cfg.seconds, cfg.fps)
                )
                if tn:
                    tdone, tnotes, _ = _extract(tname, test_files[v], tn, out, cfg, progress)
                    result.notes.extend(tnotes)
                    trows = [_row(name, tname, k, f"{tname}_{k:05d}", cfg, lab) for k in range(tdone)]
        except S2WError as err:
            result.problems.append(Problem.from_error(err))
            continue
        (result.reused if reused else result.prepared).append(name)
        train_rows.extend(vrows)
        test_rows.extend(trows)
    assign_splits(train_rows, {r["movie"]: "train" for r in train_rows}, val_fraction)
    for r in test_rows:
        r["split"] = "test"
    result.rows = sorted(
        train_rows + test_rows, key=lambda r: (r["movie"], r["split"] != "test", r["sample"])
    )
    for note in result.notes:
        log(f"note: {note}")
    counts = {s: sum(r["split"] == s for r in result.rows) for s in ("train", "val", "test")}
    rule = (
        f"test = the first {test_splices} splice(s) of each video"
        + (f" of {test_videos}" if test_videos is not None else "")
        + "; train = "
        + ("every complete splice" if train_splices is None else f"the first {train_splices} splice(s)")
        + (
            ""
            if test_videos is not None
            else " (the test ones included, as the authors' sets)"
            if overlap
            else " after the test ones"
        )
    )
    meta = {
        **array_meta(cfg),
        "downmix": cfg.downmix,
        "resize": "bilinear (swscale), aspect ratio not preserved",
        "frame_sampling": f"the frame on screen at t = k / {cfg.fps} s (by presentation timestamp)",
        "label_rule": f"per video: mean of the participants' ratings grouped by {group_by} "
        f"({GROUP_COLUMN[group_by]}), on (r - 5) / 4; "
        f"{scheme_meta(scheme, neutral_band)['rule']} (valence2: negative iff the mean valence < 5)",
        "labels": scheme_meta(scheme, neutral_band),
        "deap": {
            "ratings": str(ratings.resolve()),
            "group_by": group_by,
            "skipped_videos": list(SKIPPED_VIDEOS),
            "train_splices": "all" if train_splices is None else train_splices,
            "test_splices": test_splices,
            "overlap": bool(overlap and test_videos is None),
            "test_videos": None if test_videos is None else str(Path(test_videos).resolve()),
            "videos": {
                video_name(v): {
                    "video": v,
                    "ratings": lab.ratings,
                    "valence_mean": lab.valence_mean,
                    "arousal_mean": lab.arousal_mean,
                    "emotion": lab.emotion,
                }
                for v, lab in labs.items()
            },
        },
        "split_policy": {
            "rule": rule,
            "movies": {},
            "val": f"last {val_fraction:g} of each video's training splices (contiguous)",
        },
        "counts": counts,
        "movies": sorted({r["movie"] for r in result.rows}),
        "source": str(videos.resolve()),
        "notes": result.notes,
        "problems": [p.format() for p in result.problems],
        "provenance": provenance(
            command="s2w-models data deap",
            extra={"settings": {**cfg.key(), "group_by": group_by, "labels": scheme.name}},
        ),
    }
    atomic_write_csv(out / "samples.csv", result.rows, SAMPLE_CSV_COLUMNS)
    atomic_write_json(out / "dataset.json", meta)
    return result


# ------------------------------------------------------------------------------------------------- labels
def deap_label_table(
    ratings: str | Path,
    *,
    group_by: str = "experiment",
    labels: str = DEFAULT_SCHEME,
    neutral_band: float = DEFAULT_NEUTRAL_BAND,
    seconds: int = 3,
    train_splices: int | None = 20,
    test_splices: int = 3,
    overlap: bool = False,
) -> tuple[list[dict[str, Any]], list[str]]:
    """(rows, columns): per video its ratings, means and class, and the splices `data deap` makes of the
    one-minute highlight clips (60 s); then one `total <class>` row per class. No video is read."""
    scheme = check_scheme(labels, neutral_band)
    labs = video_labels(read_ratings(ratings), group_by, scheme.name, neutral_band)
    available = complete_splices(60.0, seconds, 10)
    train, test = plan_splits(available, train_splices, test_splices, overlap, False)
    rows = [
        {
            "video": v,
            "videos": 1,
            "ratings": lab.ratings,
            "valence_mean": round(lab.valence_mean, 4),
            "arousal_mean": round(lab.arousal_mean, 4),
            "emotion": lab.emotion,
            "train_splices": len(train),
            "test_splices": len(test),
        }
        for v, lab in labs.items()
    ]
    for c in scheme.classes:
        mine = [r for r in rows if r["emotion"] == c]
        rows.append(
            {
                "video": f"total {c}",
                "videos": len(mine),
                "ratings": sum(r["ratings"] for r in mine),
                "emotion": c,
                "train_splices": sum(r["train_splices"] for r in mine),
                "test_splices": sum(r["test_splices"] for r in mine),
            }
        )
    cols = [
        "video",
        "videos",
        "ratings",
        "valence_mean",
        "arousal_mean",
        "emotion",
        "train_splices",
        "test_splices",
    ]
    return rows, cols
