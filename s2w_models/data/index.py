"""A dataset folder's index (samples.csv + dataset.json), written so that no earlier work is lost.

`data prepare` and `data import-npz` into a folder that already holds a dataset merge by movie: the movies
of this call replace their earlier rows, every other movie's rows are kept (with their split), and
dataset.json records the history. A dataset whose stored arrays have other settings (splice length, fps,
frame size, sample rate, downmix, ...) cannot be merged: that is a usage error raised before any work,
naming the differing settings. `replace=True` starts the folder over (its index and the shards the new
index does not use are removed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from s2w_eval.errors import DataError, UsageError
from s2w_eval.results import atomic_write_csv, atomic_write_json

#: dataset.json keys that must agree for two calls' rows to live in one dataset
COMPATIBLE_KEYS = (
    "seconds",
    "fps",
    "frames_per_clip",
    "frame_size",
    "color",
    "frames_dtype",
    "sample_rate",
    "audio_len",
    "audio_dtype",
    "downmix",
    "short_annotations",
)
REPLACE_FIX = "write to another folder, or start this one over (replace=True)"


def _existing(out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    meta_path, csv_path = out / "dataset.json", out / "samples.csv"
    if not csv_path.exists():
        return None
    try:
        # samples.csv is written first: without dataset.json the last write was cut short (no settings known)
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
        if not isinstance(meta, dict):
            raise ValueError("not a JSON object")
        from .dataset import load_samples

        df = load_samples(out)
    except (OSError, ValueError, DataError) as exc:
        raise UsageError(
            f"the folder holds a dataset index that cannot be read ({exc}); merging into it could lose work",
            out,
            REPLACE_FIX,
        ) from None
    rows = df.astype(object).where(df.notna(), None).to_dict("records")
    return meta, rows


def check_target(out: str | Path, meta: dict[str, Any], replace: bool = False) -> None:
    """Before any work: refuse (UsageError) to write rows of other settings into an existing dataset."""
    out = Path(out)
    if replace:
        return
    found = _existing(out)
    if found is None:
        return
    old, _ = found
    diff = [
        f"{k}: {old.get(k)!r} there, {meta.get(k)!r} now"
        for k in COMPATIBLE_KEYS
        if k in meta and k in old and _norm(old[k]) != _norm(meta[k])
    ]
    if diff:
        raise UsageError(
            "the folder holds a dataset prepared with other settings (" + "; ".join(diff) + ")",
            out,
            REPLACE_FIX,
        )


def _norm(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def write_index(
    out: str | Path, rows: list[dict[str, Any]], meta: dict[str, Any], columns, replace: bool = False
) -> list[dict[str, Any]]:
    """Write samples.csv and dataset.json, merging with the dataset already there; returns the merged rows."""
    out = Path(out)
    found = None if replace else _existing(out)
    if found is not None and not rows:  # nothing new (every input failed): the dataset there stays as it is
        return found[1]
    movies = {r["movie"] for r in rows}
    kept = [] if found is None else [r for r in found[1] if r["movie"] not in movies]
    if found is not None:
        check_target(out, meta)
    if kept:  # a rerun over the same movies (resume) is not a merge: its index is written afresh
        old_meta, old_rows = found
        _relabel_kept(kept, old_meta, meta, out)
        merged = sorted(kept + list(rows), key=lambda r: (str(r["movie"]), float(r["start_s"])))
        seen: dict[str, str] = {}
        for r in merged:
            first = seen.setdefault(str(r["sample"]), str(r["movie"]))
            if first != str(r["movie"]):
                raise UsageError(
                    f"sample id {r['sample']!r} is in movie {first!r} there and in {r['movie']!r} now",
                    out,
                    REPLACE_FIX,
                )
        old_split = dict((old_meta.get("split_policy") or {}).get("movies") or {})
        new_split = dict((meta.get("split_policy") or {}).get("movies") or {})
        history = list(old_meta.get("history") or [])
        history.append(
            {
                "movies": sorted({str(r["movie"]) for r in old_rows}),
                "source": old_meta.get("source"),
                "split_policy": old_meta.get("split_policy"),
                "provenance": old_meta.get("provenance"),
            }
        )
        meta = dict(meta)
        meta["split_policy"] = dict(meta.get("split_policy") or {}, movies={**old_split, **new_split})
        meta["counts"] = {s: sum(r["split"] == s for r in merged) for s in ("train", "val", "test")}
        meta["movies"] = sorted({str(r["movie"]) for r in merged})
        meta["merged"] = (
            f"merged by movie into the dataset already here: {len(kept)} earlier row(s) kept, "
            f"{len(rows)} written by this call (see history)"
        )
        meta["history"] = history
        rows = merged
    elif replace:
        _remove_unused_shards(out, {str(r["shard"]) for r in rows})
    atomic_write_csv(out / "samples.csv", rows, columns)
    atomic_write_json(out / "dataset.json", meta)
    return rows


def _relabel_kept(
    kept: list[dict[str, Any]], old_meta: dict[str, Any], meta: dict[str, Any], out: Path
) -> None:
    """One dataset, one label scheme: the kept movies' rows take this call's scheme (from their stored valence
    and arousal means), so a merge never mixes, say, valence2 and quadrant labels."""
    new = meta.get("labels")
    if not new or (old_meta.get("labels") or {}) == new:
        return
    from .labels import relabel

    relabel(kept, new["scheme"], float(new.get("neutral_band") or 0.0), out / "samples.csv")


def _remove_unused_shards(out: Path, keep: set[str]) -> None:
    """Starting over: the shards (and their reuse markers) no row of the new index points at go."""
    shards = out / "shards"
    if not shards.is_dir():
        return
    for p in shards.iterdir():
        for suffix in (".frames.npy", ".audio.npy", ".json"):
            if p.name.endswith(suffix) and p.name[: -len(suffix)] not in keep:
                p.unlink(missing_ok=True)
