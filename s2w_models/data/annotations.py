"""COGNIMUSE annotations (`emotion/intended_1.dat`) and the original splice label rule.

File format: plain text, no header, whitespace-separated `time_s valence arousal`, a row every 0.04 s from 0,
values in [-1, 1]. Every fault is a `DataError` naming the file and the line.

Label rule (the paper's data section, the authors' `DatEmotionHandler`): splice k covers [k*S, k*S + S), for
k in range(len(range(0, int(D) - S, S))) where D is the movie's length in seconds (the original used the
audio's duration, so the video decides, not the last annotation row). The mean of the raw valence (arousal) over
the rows from the last row with time <= t0 while time < t1 (75 rows for S = 3), rounded to 3 decimals; positive
iff the rounded mean >= 0 (so exactly 0 is positive). A window past the end of the annotations reuses the last
row (DEP's last ~10 splices), unless the `short` policy says otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from s2w_eval.errors import DataError, UsageError
from s2w_eval.vocab import DEFAULT_NEUTRAL_BAND, DEFAULT_SCHEME, classify

ANNOTATION_NAMES = ("emotion/intended_1.dat", "intended_1.dat")
SHORT_POLICIES = ("extend", "truncate", "error")
_EPS = 1e-6


@dataclass
class Annotation:
    path: str
    time: np.ndarray  # float64 seconds, strictly increasing
    valence: np.ndarray
    arousal: np.ndarray

    @property
    def end(self) -> float:
        return float(self.time[-1])

    def __len__(self) -> int:
        return int(self.time.size)


def find_annotation(movie_dir: str | Path) -> Path | None:
    movie_dir = Path(movie_dir)
    for name in ANNOTATION_NAMES:
        p = movie_dir / name
        if p.is_file():
            return p
    return None


def parse_annotation(path: str | Path) -> Annotation:
    """Parse an `intended_1.dat`; a bad row raises a DataError with its line number."""
    path = Path(path)
    if not path.exists():
        raise DataError(
            "annotation file not found", path, "put the annotation at <movie>/emotion/intended_1.dat"
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"annotation is not text (byte {exc.start} is not UTF-8)",
            path,
            "give the plain-text `time valence arousal` file (not a macOS ._ file)",
        ) from exc
    times: list[float] = []
    vals: list[float] = []
    ars: list[float] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"line {lineno}"
        if len(fields) != 3:
            raise DataError(
                f"{where}: expected 3 columns (time valence arousal), got {len(fields)}: {line.strip()!r}",
                path,
                "fix or delete that row",
            )
        try:
            t, v, a = (float(f) for f in fields)
        except ValueError:
            raise DataError(
                f"{where}: not a number: {line.strip()!r}", path, "fix or delete that row"
            ) from None
        if not all(math.isfinite(x) for x in (t, v, a)):
            raise DataError(
                f"{where}: NaN or infinite value: {line.strip()!r}", path, "fix or delete that row"
            )
        if not (-1.0 <= v <= 1.0 and -1.0 <= a <= 1.0):
            raise DataError(
                f"{where}: valence/arousal outside [-1, 1]: {line.strip()!r}",
                path,
                "COGNIMUSE values are in [-1, 1]",
            )
        if times and t <= times[-1]:
            raise DataError(
                f"{where}: time {t:g} does not increase (previous row {times[-1]:g})",
                path,
                "rows must be sorted by time, one per time step",
            )
        times.append(t)
        vals.append(v)
        ars.append(a)
    if not times:
        raise DataError("annotation file holds no rows", path, "give the `time valence arousal` rows")
    return Annotation(str(path), np.asarray(times), np.asarray(vals), np.asarray(ars))


def n_splices(duration: float, seconds: int) -> int:
    """len(range(0, int(D) - S, S)): the original's count (the last, possibly incomplete, splice dropped)."""
    return len(range(0, int(duration) - int(seconds), int(seconds)))


def window_mean(ann: Annotation, t0: float, t1: float) -> tuple[float, float, bool]:
    """(mean valence, mean arousal, past_end) over the rows from the last one with time <= t0 while time < t1."""
    t = ann.time
    start = int(np.searchsorted(t, t0 + _EPS, side="right")) - 1
    start = max(start, 0)
    stop = int(np.searchsorted(t, t1 - _EPS, side="left"))
    past_end = t1 > ann.end + 0.04 + _EPS
    if stop <= start:
        stop = start + 1
    v = float(np.sum(ann.valence[start:stop]) / (stop - start))
    a = float(np.sum(ann.arousal[start:stop]) / (stop - start))
    return v, a, past_end


def splice_labels(
    ann: Annotation,
    duration: float,
    seconds: int = 3,
    short: str = "extend",
    offset: float = 0.0,
    scheme: str = DEFAULT_SCHEME,
    neutral_band: float = DEFAULT_NEUTRAL_BAND,
) -> list[dict]:
    """One row per splice: k, start_s, valence, arousal (rounded means), emotion, past_end.

    `emotion` is the class of the label `scheme` (`s2w_eval.vocab`) from the rounded means: under
    the default `valence2`, positive iff the rounded valence >= 0 (the original's rule).

    `short` is the policy for windows past the annotation's end: "extend" (the original: reuse the last row),
    "truncate" (drop those splices) or "error" (raise).
    """
    if short not in SHORT_POLICIES:
        raise UsageError(
            f"unknown policy {short!r} for short annotations; choose from {', '.join(SHORT_POLICIES)}"
        )
    rows = []
    for k in range(n_splices(duration, seconds)):
        t0 = offset + k * seconds
        v, a, past = window_mean(ann, t0, t0 + seconds)
        if past and short == "truncate":
            break
        if past and short == "error":
            raise DataError(
                f"annotation ends at {ann.end:g} s, before splice {k} [{t0:g}, {t0 + seconds:g}) s "
                f"of a {duration:g} s video",
                ann.path,
                "use short_annotations='extend' (the original's rule) or 'truncate'",
            )
        v, a = round(v, 3), round(a, 3)
        rows.append(
            {
                "k": k,
                "start_s": float(t0),
                "valence": v,
                "arousal": a,
                "emotion": classify(v, a, scheme, neutral_band),
                "past_end": bool(past),
            }
        )
    return rows
