"""Import the authors' `.npz` files (keys HSL_data, audio, emotion, text) into a prepared dataset folder.

The arrays are streamed out of the zip member by member and row by row (never the whole 23 GB float64 array
in memory): HSL_data (N, F, 3, H, W) float64 HSV in [0, 1] -> uint8 round(x * 255); audio (N, L) int16, or
float64 holding int16 values -> int16; emotion (N,) -> positive (1) / negative (0). No movie boundaries are
stored in these files, so each file is one "movie" (its file name), and the split comes from the name
(`_train` / `_test`) unless given; validation = the last `val_fraction` of a train file's rows.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from s2w_eval.errors import DataError, Problem, S2WError, UsageError
from s2w_eval.results import provenance

from .index import check_target, write_index
from .prepare import SAMPLE_CSV_COLUMNS, PrepareConfig, _Shard, array_meta, assign_splits


def _member_header(zf: zipfile.ZipFile, key: str, path: Path):
    name = f"{key}.npy"
    if name not in zf.namelist():
        raise DataError(
            f"npz lacks the key {key!r} (has {', '.join(n[:-4] for n in zf.namelist())})",
            path,
            "give the authors' video_feats_HSL_... npz file",
        )
    fh = zf.open(name)
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    if fortran:
        raise DataError(f"{key}: Fortran-ordered array not supported", path)
    if dtype.hasobject:
        raise DataError(f"{key}: object array (the ragged, non-_pad npz); use the _pad file", path)
    return fh, shape, dtype


def _rows(fh, shape, dtype, chunk: int = 16):
    row_items = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    nbytes = row_items * dtype.itemsize
    for i in range(0, shape[0], chunk):
        m = min(chunk, shape[0] - i)
        buf = fh.read(nbytes * m)
        if len(buf) < nbytes * m:
            raise DataError("truncated array in npz", None)
        yield i, np.frombuffer(buf, dtype=dtype).reshape((m, *shape[1:]))


_DOWNMIX = "left (the original pipeline's; taken as stored in the npz)"


def import_npz(
    files: Sequence[str | Path],
    out: str | Path,
    split: str = "auto",
    val_fraction: float = 0.1,
    seconds: int | None = None,
    progress: bool = True,
    replace: bool = False,
):
    """Import npz files; returns (rows, problems). An existing dataset in `out` is merged with by movie
    (one npz file is one movie); `replace` starts it over."""
    from s2w_eval.progress import Progress

    if split not in ("auto", "train", "test"):
        raise UsageError(f"must be auto, train or test, got {split!r}", param="split")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    movie_split: dict[str, str] = {}
    cfg_seen: PrepareConfig | None = None
    for f in files:
        path = Path(f)
        try:
            if not path.is_file():
                raise DataError("file not found", path)
            sp = split
            if sp == "auto":
                m = re.search(r"_(train|test)(_|\.|$)", path.name)
                if not m:
                    raise DataError(
                        "cannot tell train from test by the file name", path, "set the split to train or test"
                    )
                sp = m.group(1)
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem)
            try:
                zf = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise DataError(f"not an npz file ({exc})", path) from exc
            with zf:
                fh, vshape, vdtype = _member_header(zf, "HSL_data", path)
                ah, ashape, adtype = _member_header(zf, "audio", path)
                with zf.open("emotion.npy") as eh:
                    emotion = np.lib.format.read_array(eh, allow_pickle=False)
                if len(vshape) != 5 or vshape[2] != 3:
                    raise DataError(f"HSL_data shape {vshape}, expected (N, F, 3, H, W)", path)
                n = vshape[0]
                if ashape[0] != n or emotion.shape[0] != n:
                    raise DataError(
                        f"row counts differ: HSL_data {n}, audio {ashape[0]}, emotion {emotion.shape[0]}",
                        path,
                    )
                if set(np.unique(emotion).tolist()) - {0, 1}:
                    raise DataError(
                        "emotion holds values other than 0/1 (a 2D label file?)", path, "give the 1D npz"
                    )
                F, H, W = vshape[1], vshape[3], vshape[4]
                secs = seconds or max(1, int(round(F / 10)))
                cfg = PrepareConfig(
                    seconds=secs,
                    fps=int(round(F / secs)),
                    size=(H, W),
                    sample_rate=int(round(ashape[1] / secs)),
                )
                if cfg_seen and (cfg_seen.frames_per_clip, cfg_seen.size, cfg_seen.audio_len) != (
                    cfg.frames_per_clip,
                    cfg.size,
                    cfg.audio_len,
                ):
                    raise DataError("shapes differ from the previous file's", path)
                if cfg_seen is None:  # before the first shard is written
                    check_target(out, {**array_meta(cfg), "downmix": _DOWNMIX}, replace)
                cfg_seen = cfg
                shard = _Shard(out, name, n, cfg)
                try:
                    bar = Progress(n, path.name, "clip", enabled=bool(progress))
                    with bar:
                        for i, block in _rows(fh, vshape, vdtype):
                            if block.dtype.kind == "f":
                                shard.frames[i : i + len(block)] = np.clip(
                                    np.rint(block * 255.0), 0, 255
                                ).astype(np.uint8)
                            else:
                                shard.frames[i : i + len(block)] = block.astype(np.uint8)
                            bar.update(len(block))
                        for i, block in _rows(ah, ashape, adtype, chunk=256):
                            shard.audio[i : i + len(block)] = np.clip(np.rint(block), -32768, 32767).astype(
                                np.int16
                            )
                    shard.commit()
                except BaseException:
                    shard.discard()
                    raise
            movie_split[name] = sp
            for i in range(n):
                rows.append(
                    {
                        "sample": f"{name}_{i:05d}",
                        "movie": name,
                        "start_s": float(i * secs),
                        "valence": "",
                        "arousal": "",
                        "emotion": "positive" if int(emotion[i]) == 1 else "negative",
                        "shard": name,
                        "row": i,
                        "past_end": "",
                    }
                )
        except UsageError:
            raise
        except S2WError as err:
            if err.path is None:
                err = DataError(err.message, path, err.fix)
            problems.append(Problem.from_error(err))
    assign_splits(rows, movie_split, val_fraction)
    cfg = cfg_seen or PrepareConfig()
    meta = {
        **array_meta(cfg),
        "downmix": _DOWNMIX,
        "split_policy": {
            "rule": "npz file name or the split given",
            "movies": movie_split,
            "val": f"last {val_fraction:g} of each train file's rows (contiguous)",
        },
        "counts": {s: sum(r["split"] == s for r in rows) for s in ("train", "val", "test")},
        "movies": sorted(movie_split),
        "source": [str(Path(f).resolve()) for f in files],
        "notes": [
            "imported from the authors' npz: start_s is the row index times the clip length, not a time "
            "in a movie; valence/arousal are not stored in the npz"
        ],
        "problems": [p.format() for p in problems],
        "provenance": provenance(command="s2w-models data import-npz"),
    }
    write_index(out, rows, meta, SAMPLE_CSV_COLUMNS, replace)
    return rows, problems
