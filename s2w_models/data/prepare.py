"""`data prepare`: COGNIMUSE-format movies (or a folder of clips) -> a lazily-read splice dataset.

SOURCE layouts
- movies: one folder per movie holding a video (`video.mp4`, or the folder's only video file, any container PyAV
  reads) and `emotion/intended_1.dat` (or `intended_1.dat`), see `annotations.py`;
- clips: a CSV (`SOURCE` itself, or `SOURCE/clips.csv`) with columns file, start, end, valence [, arousal]
  [, split]: each row's [start, end) of `file` (relative to the CSV) is cut into S-second splices that all carry
  the row's valence.

Per movie, two streaming passes over the file (video, then audio), each writing straight into `.npy` shards
(plain seek + write): the memory used does not grow with the movie's length. Frames: PyAV, the frame on screen every
1/fps s (10 fps: 30 frames per 3 s), scaled to 100x100 (bilinear, aspect ratio not kept, as the original), HSV
by skimage's rule (Eqs. 1-7), stored uint8 = round(HSV * 255). Audio: the first track, down-mixed ("average" of
the channels, or "left" as the original), soxr HQ to 16 kHz, int16. A movie whose shards and marker exist and
whose inputs and settings are unchanged is reused (resumable per movie).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from s2w_eval.clikit import did_you_mean
from s2w_eval.errors import DataError, Problem, S2WError, UsageError
from s2w_eval.io.video import (
    DOWNMIX_POLICIES,
    VIDEO_EXTENSIONS,
    probe_video,
    read_audio_chunks,
    read_frames,
    rgb_to_hsv,
)
from s2w_eval.results import atomic_write_json, provenance, sha256_file

from .annotations import SHORT_POLICIES, find_annotation, n_splices, parse_annotation, splice_labels
from .dataset import SPLITS
from .index import check_target, write_index
from .labels import DEFAULT_NEUTRAL_BAND, DEFAULT_SCHEME, check_scheme, relabel, scheme_meta

FORMAT_VERSION = 1
PAPER_TRAIN = ("BMI", "CHI", "FNE", "GLA", "LOR")
PAPER_TEST = ("CRA", "DEP")
SPLIT_POLICY_HELP = (
    "auto: the paper's split for COGNIMUSE names (train BMI CHI FNE GLA LOR, test CRA DEP), else "
    "SOURCE/split.json, else the last movie (sorted) is the test movie; 'paper'; or a comma list "
    "of test movies. Validation: the last val fraction of each train movie's splices."
)
SAMPLE_CSV_COLUMNS = [
    "sample",
    "movie",
    "start_s",
    "valence",
    "arousal",
    "emotion",
    "split",
    "shard",
    "row",
    "past_end",
]


@dataclass(frozen=True)
class PrepareConfig:
    seconds: int = 3
    fps: int = 10
    size: tuple[int, int] = (100, 100)  # (height, width)
    sample_rate: int = 16000
    downmix: str = "average"
    short_annotations: str = "extend"

    @property
    def frames_per_clip(self) -> int:
        return int(round(self.seconds * self.fps))

    @property
    def audio_len(self) -> int:
        return int(self.seconds * self.sample_rate)

    def key(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "seconds": self.seconds,
            "fps": self.fps,
            "size": list(self.size),
            "sample_rate": self.sample_rate,
            "downmix": self.downmix,
            "short": self.short_annotations,
        }


@dataclass
class MovieSource:
    name: str
    folder: Path
    video: Path | None
    annotation: Path | None


@dataclass
class PrepareResult:
    out: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    prepared: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0


def _echo(msg: str) -> None:
    from s2w_eval.progress import echo

    echo(msg)


# ------------------------------------------------------------------------------------------------- discovery
def find_video(folder: Path) -> Path | None:
    for ext in VIDEO_EXTENSIONS:
        p = folder / f"video{ext}"
        if p.is_file():
            return p
    cands = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith(".")
    )
    return cands[0] if len(cands) == 1 else None


def discover_movies(source: str | Path) -> list[MovieSource]:
    source = Path(source)
    if not source.exists():
        raise UsageError(f"SOURCE not found: {source}")
    if not source.is_dir():
        raise UsageError(f"SOURCE must be a folder of movie folders (or a clips CSV): {source}")
    movies = []
    for d in sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        video = find_video(d)
        ann = find_annotation(d)
        if video is None and ann is None:
            continue
        movies.append(MovieSource(d.name, d, video, ann))
    if not movies:
        raise UsageError(
            f"no movie folders in {source} (expected <movie>/video.mp4 + <movie>/emotion/intended_1.dat)"
        )
    return movies


def clips_csv(source: str | Path) -> Path | None:
    source = Path(source)
    if source.is_file() and source.suffix.lower() == ".csv":
        return source
    if source.is_dir() and (source / "clips.csv").is_file():
        return source / "clips.csv"
    return None


# ---------------------------------------------------------------------------------------------------- splits
def split_movies(
    names: Sequence[str], policy: str = "auto", source: Path | None = None
) -> tuple[dict[str, str], str]:
    """movie -> train|test, and a sentence saying which rule decided."""
    names = list(names)
    if policy == "paper":
        unknown = [n for n in names if n not in PAPER_TRAIN + PAPER_TEST]
        if unknown:
            raise UsageError(
                f"'paper': movie(s) {', '.join(unknown)} are not COGNIMUSE movies; "
                "name the test movies instead (MOVIE,...)",
                param="split",
            )
        return {n: "test" if n in PAPER_TEST else "train" for n in names}, "paper (test CRA, DEP)"
    if policy != "auto":
        test = [t.strip() for t in policy.split(",") if t.strip()]
        unknown = [t for t in test if t not in names]
        if unknown:
            from s2w_eval.clikit import did_you_mean

            raise UsageError(
                f"unknown movie {unknown[0]!r}{did_you_mean(unknown[0], names)}; movies: {', '.join(names)}",
                param="split",
            )
        return {n: "test" if n in test else "train" for n in names}, f"test movies {', '.join(test)}"
    if names and all(n in PAPER_TRAIN + PAPER_TEST for n in names):
        return {n: "test" if n in PAPER_TEST else "train" for n in names}, "paper (test CRA, DEP)"
    if source is not None and (source / "split.json").is_file():
        try:
            spec = json.loads((source / "split.json").read_text())
            test = [str(t) for t in spec.get("test", [])]
        except (ValueError, AttributeError) as exc:
            raise DataError(
                f"bad split.json ({exc})", source / "split.json", 'write {"test": ["MOVIE", ...]}'
            ) from exc
        return {n: "test" if n in test else "train" for n in names}, f"split.json (test {', '.join(test)})"
    if len(names) >= 2:
        last = sorted(names)[-1]
        return {n: "test" if n == last else "train" for n in names}, f"last movie held out (test {last})"
    return {n: "train" for n in names}, "single movie: test = its last 20 % of splices"


def assign_splits(
    rows: list[dict[str, Any]], movie_split: dict[str, str], val_fraction: float, carve_test: bool = False
) -> None:
    """Set row['split']: the movie's split; val = the last `val_fraction` of each train movie (contiguous);
    `carve_test`: a single train movie also gives its last 20 % to test (before val)."""
    by_movie: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_movie.setdefault(r["movie"], []).append(r)
    for movie, mrows in by_movie.items():
        mrows.sort(key=lambda r: r["start_s"])
        split = movie_split.get(movie, "train")
        for r in mrows:
            r["split"] = split
        if split != "train":
            continue
        n = len(mrows)
        n_test = int(round(0.2 * n)) if carve_test and len(by_movie) == 1 else 0
        n_val = int(round(val_fraction * n)) if n >= 2 else 0
        if val_fraction > 0 and n_val == 0 and n >= 3:
            n_val = 1
        for r in mrows[n - n_test :] if n_test else []:
            r["split"] = "test"
        for r in mrows[max(0, n - n_test - n_val) : n - n_test]:
            r["split"] = "val"


# ----------------------------------------------------------------------------------------------- extraction
def _quantize_hsv(rgb_stack: np.ndarray) -> np.ndarray:
    """(F, H, W, 3) uint8 RGB -> (F, 3, H, W) uint8 round(HSV * 255)."""
    hsv = rgb_to_hsv(rgb_stack)
    return np.rint(hsv * 255.0).astype(np.uint8).transpose(0, 3, 1, 2)


def extract_frames(
    video: Path, frames_w: NpyWriter, row0: int, n: int, offset: float, cfg: PrepareConfig, progress=None
) -> int:
    """Write rows row0..row0+n-1 of the frames shard with the splices at offset + k*S; return the number of complete splices."""
    F = cfg.frames_per_clip
    H, W = cfg.size
    buf = np.empty((F, H, W, 3), np.uint8)
    filled = 0
    done = 0
    for t, rgb in read_frames(video, fps=cfg.fps, size=cfg.size, start=offset, end=offset + n * cfg.seconds):
        i = int(round((t - offset) * cfg.fps))
        k, j = divmod(i, F)
        if k >= n:
            break
        if k != done:  # cannot happen with a fixed-rate stream; guard against silent misalignment
            raise DataError(f"frame stream out of order at {t:.3f} s", video)
        buf[j] = rgb
        filled = j + 1
        if filled == F:
            frames_w[row0 + k] = _quantize_hsv(buf)
            done += 1
            filled = 0
            if progress is not None:
                progress.update(1)
    return done


def extract_audio(
    video: Path, audio_w: NpyWriter, row0: int, n: int, offset: float, cfg: PrepareConfig
) -> int:
    """Write rows row0..row0+n-1 of the audio shard (int16); return the number of samples missing at the end
    (left as zeros)."""
    base = row0 * cfg.audio_len
    pos = 0
    total = n * cfg.audio_len
    for chunk in read_audio_chunks(
        video, cfg.sample_rate, cfg.downmix, start=offset, end=offset + n * cfg.seconds
    ):
        m = min(chunk.size, total - pos)
        if m <= 0:
            break
        audio_w.put_flat(base + pos, np.clip(np.rint(chunk[:m] * 32768.0), -32768, 32767).astype(np.int16))
        pos += m
    return total - pos


def _source_signature(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _key(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class NpyWriter:
    """A `.npy` file of known shape written by rows with plain file writes (seek + write).

    Unlike a writable memory map, written pages do not stay in the process's resident memory, so preparing a
    movie of any length keeps the same footprint. `w[i] = x` / `w[i:j] = x` write rows; `put_flat` writes items at
    a flat offset. Rows never written read back as zeros.
    """

    def __init__(self, path: Path, dtype, shape: tuple[int, ...]):
        self.path, self.dtype, self.shape = Path(path), np.dtype(dtype), tuple(int(x) for x in shape)
        self.row_items = int(np.prod(self.shape[1:])) if len(self.shape) > 1 else 1
        self.fh = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        np.lib.format.write_array_header_1_0(
            self.fh,
            {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": self.shape},
        )
        self.offset = self.fh.tell()
        self.nbytes = self.offset + self.row_items * self.shape[0] * self.dtype.itemsize
        self.fh.truncate(self.nbytes)

    def put_flat(self, item: int, values: np.ndarray) -> None:
        values = np.ascontiguousarray(values, dtype=self.dtype)
        if item < 0 or item + values.size > self.row_items * self.shape[0]:
            raise IndexError(f"write past the end of {self.path.name}")
        self.fh.seek(self.offset + item * self.dtype.itemsize)
        self.fh.write(values.tobytes())

    def __setitem__(self, index, values) -> None:
        if isinstance(index, slice):
            start = index.start or 0
        else:
            start = int(index)
        self.put_flat(start * self.row_items, np.asarray(values).reshape(-1))

    def close(self) -> None:
        if not self.fh.closed:
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()


class _Shard:
    """Temp .npy files renamed into place only when the movie is complete."""

    def __init__(self, out: Path, name: str, n: int, cfg: PrepareConfig):
        self.dir = out / "shards"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        F, (H, W) = cfg.frames_per_clip, cfg.size
        self.final = {"frames": self.dir / f"{name}.frames.npy", "audio": self.dir / f"{name}.audio.npy"}
        self.tmp = {k: p.with_name(f".{p.name}.tmp") for k, p in self.final.items()}
        n_alloc = max(n, 1)
        self.frames = NpyWriter(self.tmp["frames"], np.uint8, (n_alloc, F, 3, H, W))
        self.audio = NpyWriter(self.tmp["audio"], np.int16, (n_alloc, cfg.audio_len))

    def commit(self) -> None:
        self.frames.close()
        self.audio.close()
        for k in self.final:
            os.replace(self.tmp[k], self.final[k])

    def discard(self) -> None:
        self.frames.close()
        self.audio.close()
        for p in self.tmp.values():
            p.unlink(missing_ok=True)


def _marker_path(out: Path, shard: str) -> Path:
    return out / "shards" / f"{shard}.json"


def _load_marker(out: Path, shard: str, key: str) -> dict[str, Any] | None:
    p = _marker_path(out, shard)
    if not p.is_file():
        return None
    try:
        marker = json.loads(p.read_text())
    except ValueError:
        return None
    if marker.get("key") != key:
        return None
    if not all((out / "shards" / f"{shard}.{kind}.npy").is_file() for kind in ("frames", "audio")):
        return None
    return marker


def prepare_movie(
    movie: MovieSource,
    out: Path,
    cfg: PrepareConfig,
    progress: bool = True,
    log: Callable[[str], None] = _echo,
) -> dict[str, Any]:
    """Prepare one movie (or reuse it); returns its marker {rows, notes, ...}. Raises S2WError on a bad input."""
    from s2w_eval.progress import Progress

    if movie.video is None:
        raise DataError(
            "no video file in the movie folder",
            movie.folder,
            "put the movie at <movie>/video.mp4 (or make it the folder's only video file)",
        )
    if movie.annotation is None:
        raise DataError("no annotation file", movie.folder, "put it at <movie>/emotion/intended_1.dat")
    key = _key(
        {
            "cfg": cfg.key(),
            "video": _source_signature(movie.video),
            "annotation": sha256_file(movie.annotation),
        }
    )
    marker = _load_marker(out, movie.name, key)
    if marker is not None:
        return {**marker, "reused": True}
    info = probe_video(movie.video)
    notes: list[str] = []
    if not info.has_audio:
        raise DataError("video has no audio stream", movie.video, "give the movie with its sound track")
    if info.variable_frame_rate:
        notes.append(
            f"{movie.name}: variable frame rate; frames taken by timestamp (the frame on screen every "
            f"1/{cfg.fps} s)"
        )
    ann = parse_annotation(movie.annotation)
    duration = info.duration
    rows = splice_labels(ann, duration, cfg.seconds, cfg.short_annotations)
    past = sum(r["past_end"] for r in rows)
    if ann.end + 0.04 < duration - 1e-6:
        msg = f"{movie.name}: annotation ends at {ann.end:g} s, the video at {duration:g} s"
        if cfg.short_annotations == "extend":
            msg += f"; {past} splice(s) past the end reuse the last annotation row (the original's rule)"
        elif cfg.short_annotations == "truncate":
            msg += f"; splices past the end dropped ({n_splices(duration, cfg.seconds) - len(rows)})"
        notes.append(msg)
    n = len(rows)
    if n == 0:
        raise DataError(f"video too short for one {cfg.seconds} s splice ({duration:g} s)", movie.video)
    shard = _Shard(out, movie.name, n, cfg)
    try:
        bar = Progress(n, f"{movie.name} frames", "splice", enabled=bool(progress))
        with bar:
            done = extract_frames(movie.video, shard.frames, 0, n, 0.0, cfg, bar)
        padded = extract_audio(movie.video, shard.audio, 0, n, 0.0, cfg)
        if done < n:
            notes.append(
                f"{movie.name}: the video stream ended after {done} of {n} splices; the last "
                f"{n - done} dropped"
            )
            rows = rows[:done]
        if padded > 0:
            notes.append(
                f"{movie.name}: audio track {padded / cfg.sample_rate:.2f} s shorter than the splices; "
                "zero-padded at the end"
            )
        shard.commit()
    except BaseException:
        shard.discard()
        raise
    for r in rows:
        r.update(
            {"sample": f"{movie.name}_{r['k']:05d}", "movie": movie.name, "shard": movie.name, "row": r["k"]}
        )
    marker = {
        "key": key,
        "movie": movie.name,
        "rows": rows,
        "notes": notes,
        "video": info.to_dict(),
        "annotation": str(movie.annotation),
        "annotation_end_s": ann.end,
        "duration_s": duration,
    }
    atomic_write_json(_marker_path(out, movie.name), marker)
    for note in notes:
        log(f"note: {note}")
    return {**marker, "reused": False}


# ----------------------------------------------------------------------------------------------- clips mode
def prepare_clips(
    csv_path: Path, out: Path, cfg: PrepareConfig, progress: bool = True, log: Callable[[str], None] = _echo
) -> tuple[list[dict[str, Any]], list[Problem], list[str]]:
    """Clips CSV (file, start, end, valence [, arousal] [, split]): one shard per file."""
    import pandas as pd

    from s2w_eval.progress import track

    try:
        df = pd.read_csv(csv_path)
    except Exception as exc:
        raise DataError(f"unreadable clips CSV ({exc})", csv_path) from exc
    missing = [c for c in ("file", "start", "end", "valence") if c not in df.columns]
    if missing:
        raise DataError(
            f"clips CSV lacks column(s) {', '.join(missing)}",
            csv_path,
            "columns: file,start,end,valence[,arousal][,split]",
        )
    problems: list[Problem] = []
    rows_out: list[dict[str, Any]] = []
    notes: list[str] = []
    groups: dict[str, list[tuple[int, Any]]] = {}
    for i, rec in df.iterrows():
        groups.setdefault(str(rec["file"]), []).append((i + 2, rec))  # +2: header line, 1-based
    stems: dict[str, str] = {}  # shard / movie name -> the file that owns it
    for file, recs in track(groups.items(), "clips", "file", enabled=bool(progress)):
        video = (csv_path.parent / file).resolve()
        name = Path(file).stem
        try:
            if stems.setdefault(name, file) != file:
                raise DataError(
                    f"line {recs[0][0]}: {file!r} and {stems[name]!r} have the same name {name!r} "
                    "(their splices would get the same ids)",
                    csv_path,
                    "rename one of the files",
                )
            if not video.is_file():
                raise DataError("clip file not found", video, f"fix the file column of {csv_path.name}")
            blocks = []
            splice_line: dict[float, int] = {}  # splice start -> CSV line: a start twice is a duplicate id
            for line, rec in recs:
                try:
                    start, end, val = float(rec["start"]), float(rec["end"]), float(rec["valence"])
                    ar = (
                        float(rec["arousal"])
                        if "arousal" in rec and pd.notna(rec["arousal"])
                        else float("nan")
                    )
                except (TypeError, ValueError):
                    raise DataError(f"line {line}: start/end/valence must be numbers", csv_path) from None
                if not (np.isfinite(start) and np.isfinite(end) and end > start >= 0 and -1 <= val <= 1):
                    raise DataError(f"line {line}: need 0 <= start < end and valence in [-1, 1]", csv_path)
                n = int((end - start + 1e-6) // cfg.seconds)
                if n == 0:
                    notes.append(f"{csv_path}: line {line}: shorter than one {cfg.seconds} s splice; skipped")
                    continue
                split = str(rec["split"]) if "split" in rec and pd.notna(rec["split"]) else None
                if split is not None and split not in SPLITS:
                    raise DataError(
                        f"line {line}: unknown split {split!r}{did_you_mean(split, SPLITS)}",
                        csv_path,
                        "use train, val or test (or leave the split column empty)",
                    )
                for k in range(n):
                    first = splice_line.setdefault(round(start + k * cfg.seconds, 3), line)
                    if first != line:
                        raise DataError(
                            f"line {line}: repeats the splice at {start + k * cfg.seconds:g} s of {file!r} "
                            f"(line {first}); duplicate rows would give duplicate sample ids",
                            csv_path,
                            "remove the duplicate or overlapping row",
                        )
                blocks.append((start, n, round(val, 3), ar, split))
            if not blocks:
                continue
            key = _key({"cfg": cfg.key(), "video": _source_signature(video), "blocks": blocks})
            marker = _load_marker(out, name, key)
            if marker is None:
                info = probe_video(video)
                if not info.has_audio:
                    raise DataError("video has no audio stream", video, "give the clip with its sound track")
                total = sum(b[1] for b in blocks)
                shard = _Shard(out, name, total, cfg)
                rows = []
                try:
                    row0 = 0
                    for start, n, val, ar, split in blocks:
                        done = extract_frames(video, shard.frames, row0, n, start, cfg)
                        extract_audio(video, shard.audio, row0, n, start, cfg)
                        for k in range(done):
                            rows.append(
                                {
                                    "sample": f"{name}_{start + k * cfg.seconds:09.3f}".replace(".", "s"),
                                    "movie": name,
                                    "start_s": start + k * cfg.seconds,
                                    "valence": val,
                                    "arousal": ar,
                                    "emotion": "positive" if val >= 0 else "negative",
                                    "shard": name,
                                    "row": row0 + k,
                                    "past_end": False,
                                    "csv_split": split,
                                }
                            )
                        row0 += n
                    shard.commit()
                except BaseException:
                    shard.discard()
                    raise
                marker = {"key": key, "movie": name, "rows": rows, "notes": [], "video": info.to_dict()}
                atomic_write_json(_marker_path(out, name), marker)
            rows_out.extend(marker["rows"])
        except S2WError as err:
            problems.append(Problem.from_error(err))
    return rows_out, problems, notes


# ---------------------------------------------------------------------------------------------------- main
def array_meta(cfg: PrepareConfig) -> dict[str, Any]:
    """The part of dataset.json that describes the stored arrays (the contract SpliceDataset reads)."""
    return {
        "seconds": cfg.seconds,
        "fps": cfg.fps,
        "frames_per_clip": cfg.frames_per_clip,
        "frame_size": list(cfg.size),
        "color": "hsv",
        "frames_dtype": "uint8",
        "frames_layout": "(n, F, 3, H, W), round(HSV * 255); H, S, V as skimage.color.rgb2hsv (paper Eqs. 1-7)",
        "sample_rate": cfg.sample_rate,
        "audio_len": cfg.audio_len,
        "audio_dtype": "int16",
    }


def prepare(
    source: str | Path,
    out: str | Path,
    seconds: int = 3,
    *,
    fps: int = 10,
    size: tuple[int, int] = (100, 100),
    sample_rate: int = 16000,
    downmix: str = "average",
    split: str = "auto",
    val_fraction: float = 0.1,
    short_annotations: str = "extend",
    movies: Sequence[str] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = _echo,
    replace: bool = False,
    labels: str = DEFAULT_SCHEME,
    neutral_band: float = DEFAULT_NEUTRAL_BAND,
) -> PrepareResult:
    """Prepare SOURCE into the dataset folder `out`; bad movies are reported in `.problems`, the rest done.

    An existing dataset in `out` is merged with by movie (`.index.write_index`); `replace` starts it over.
    `labels` is the label scheme (valence2 | valence3 | quadrant, see `s2w_eval.vocab`); changing
    it relabels the stored valence/arousal means without decoding anything again.
    """
    from ..config import bounded

    scheme = check_scheme(labels, neutral_band)
    bounded("splice seconds", seconds, 1, 600)
    bounded("fps", fps, 1, 120)
    for side in size:  # 20000x20000 would allocate hundreds of GiB per splice
        bounded("frame size (height, width)", side, 8, 1024)
    bounded("sample rate", sample_rate, 1000, 192_000)
    if downmix not in DOWNMIX_POLICIES:
        raise UsageError(
            f"unknown policy {downmix!r}; choose from {', '.join(DOWNMIX_POLICIES)}", param="downmix"
        )
    if short_annotations not in SHORT_POLICIES:
        raise UsageError(
            f"unknown policy {short_annotations!r}; choose from {', '.join(SHORT_POLICIES)}",
            param="short_annotations",
        )
    if not 0 <= val_fraction < 1:
        raise UsageError(f"must be in [0, 1), got {val_fraction}", param="val_fraction")
    from s2w_eval.progress import track

    source, out = Path(source), Path(out)
    cfg = PrepareConfig(
        int(seconds), int(fps), (int(size[0]), int(size[1])), int(sample_rate), downmix, short_annotations
    )
    result = PrepareResult(out)
    check_target(
        out, {**array_meta(cfg), "downmix": downmix, "short_annotations": short_annotations}, replace
    )
    out.mkdir(parents=True, exist_ok=True)
    csv_source = clips_csv(source)
    if csv_source is not None:
        rows, problems, notes = prepare_clips(csv_source, out, cfg, progress, log)
        result.problems.extend(problems)
        result.notes.extend(notes)
        names = sorted({r["movie"] for r in rows})
        if rows and all(r.get("csv_split") for r in rows):
            movie_split = {}
            for r in rows:
                r["split"] = r["csv_split"] if r["csv_split"] in ("train", "val", "test") else "train"
            split_rule = "clips CSV split column"
        else:
            movie_split, split_rule = split_movies(names, split, None)
            assign_splits(rows, movie_split, val_fraction, carve_test=split_rule.startswith("single movie"))
        for r in rows:
            r.pop("csv_split", None)
        result.rows = rows
    else:
        found = discover_movies(source)
        if movies:
            names = [m.name for m in found]
            unknown = [m for m in movies if m not in names]
            if unknown:
                from s2w_eval.clikit import did_you_mean

                raise UsageError(
                    f"unknown movie {unknown[0]!r}{did_you_mean(unknown[0], names)}; "
                    f"movies in {source}: {', '.join(names)}"
                )
            found = [m for m in found if m.name in movies]
        movie_split, split_rule = split_movies([m.name for m in found], split, source)
        for movie in track(found, "movies", "movie", enabled=bool(progress)):
            try:
                marker = prepare_movie(movie, out, cfg, progress=progress, log=log)
            except S2WError as err:
                result.problems.append(Problem.from_error(err))
                _marker_path(out, movie.name).unlink(missing_ok=True)
                continue
            (result.reused if marker["reused"] else result.prepared).append(movie.name)
            result.notes.extend(marker.get("notes", []))
            result.rows.extend(dict(r) for r in marker["rows"])
        assign_splits(
            result.rows, movie_split, val_fraction, carve_test=split_rule.startswith("single movie")
        )
    relabel(result.rows, scheme, neutral_band, csv_source or source)
    for r in result.rows:
        r.pop("k", None)
    result.rows.sort(key=lambda r: (r["movie"], r["start_s"]))
    counts = {s: sum(r["split"] == s for r in result.rows) for s in ("train", "val", "test")}
    meta = {
        **array_meta(cfg),
        "downmix": cfg.downmix,
        "resize": "bilinear (swscale), aspect ratio not preserved",
        "frame_sampling": f"the frame on screen at t = k / {cfg.fps} s (by presentation timestamp)",
        "label_rule": "mean raw valence (arousal) over [t0, t0+S) from the last row with time <= t0, rounded to 3 "
        f"decimals; {scheme_meta(scheme, neutral_band)['rule']}",
        "labels": scheme_meta(scheme, neutral_band),
        "short_annotations": cfg.short_annotations,
        "split_policy": {
            "rule": split_rule,
            "movies": movie_split,
            "val": f"last {val_fraction:g} of each train movie's splices (contiguous)"
            if csv_source is None or movie_split
            else "clips CSV",
        },
        "counts": counts,
        "movies": sorted({r["movie"] for r in result.rows}),
        "source": str(source.resolve()),
        "notes": result.notes,
        "problems": [p.format() for p in result.problems],
        "provenance": provenance(command="s2w-models data prepare", extra={"settings": cfg.key()}),
    }
    result.rows = write_index(out, result.rows, meta, SAMPLE_CSV_COLUMNS, replace)
    return result


# ---------------------------------------------------------------------------------------------------- labels
def label_table(
    source: str | Path,
    seconds: int = 3,
    durations: dict[str, float] | None = None,
    split: str = "auto",
    short_annotations: str = "extend",
    log: Callable[[str], None] = _echo,
    labels: str = DEFAULT_SCHEME,
    neutral_band: float = DEFAULT_NEUTRAL_BAND,
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Per movie: splices and their count per class of the label scheme (valence2: negative/positive), from the
    annotations alone (no decoding).

    The movie's length D comes from its video when there is one (container headers only), else from
    `durations[movie]`, else from the annotation's last timestamp.
    """
    scheme = check_scheme(labels, neutral_band)
    source = Path(source)
    durations = dict(durations or {})
    found = discover_movies(source)
    names = [m.name for m in found]
    unknown = [m for m in durations if m not in names]
    if unknown:
        from s2w_eval.clikit import did_you_mean

        raise UsageError(f"unknown movie {unknown[0]!r}{did_you_mean(unknown[0], names)}", param="durations")
    movie_split, _ = split_movies(names, split, source)
    rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for m in found:
        try:
            if m.annotation is None:
                raise DataError("no annotation file", m.folder, "put it at <movie>/emotion/intended_1.dat")
            ann = parse_annotation(m.annotation)
            if m.video is not None:
                duration, origin = probe_video(m.video).duration, "video"
                if m.name in durations:
                    log(f"note: {m.name}: the given duration is ignored, the video says {duration:g} s")
            elif m.name in durations:
                duration, origin = float(durations[m.name]), "given"
            else:
                duration, origin = ann.end, "annotation end"
            spl = splice_labels(ann, duration, seconds, short_annotations, 0.0, scheme.name, neutral_band)
        except S2WError as err:
            problems.append(Problem.from_error(err))
            continue
        rows.append(
            {
                "movie": m.name,
                "split": movie_split[m.name],
                "duration_s": round(duration, 3),
                "duration_from": origin,
                "annotation_end_s": ann.end,
                "splices": len(spl),
                **{c: sum(r["emotion"] == c for r in spl) for c in scheme.classes},
                "past_annotation_end": sum(r["past_end"] for r in spl),
            }
        )
    for sp in ("train", "test"):
        part = [r for r in rows if r["split"] == sp]
        if part:
            rows.append(
                {
                    "movie": f"total {sp}",
                    "split": sp,
                    "splices": sum(r["splices"] for r in part),
                    **{c: sum(r[c] for r in part) for c in scheme.classes},
                    "past_annotation_end": sum(r["past_annotation_end"] for r in part),
                }
            )
    return rows, problems
