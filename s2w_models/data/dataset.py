"""`SpliceDataset`: a prepared dataset folder as a torch Dataset, read lazily (memory-mapped shards).

A prepared folder (written by `s2w-models data prepare`, `data import-npz`) holds
- `samples.csv`: sample, movie, start_s, valence, arousal, emotion (positive|negative), split (train|val|test),
  shard, row;
- `dataset.json`: seconds, fps, frames_per_clip, frame_size [H, W], color "hsv", sample_rate, audio_len, downmix,
  split policy, provenance, per-movie notes;
- `shards/<shard>.frames.npy` uint8 (n, F, 3, H, W) = round(HSV * 255), `shards/<shard>.audio.npy` int16 (n, L).

`ds[i]` returns {"frames": float32 (F, 3, H, W) HSV in [0, 1], "audio": float32 (L,) in [-1, 1] (int16 / 32768),
"emotion": int64 (1 positive, 0 negative), "sample": str, "index": int}. Shards are opened with
`np.load(mmap_mode="r")` on first use in each process (never pickled to DataLoader workers).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from s2w_eval.errors import DataError, UsageError

SPLITS = ("train", "val", "test")
SAMPLE_COLUMNS = ("sample", "movie", "start_s", "valence", "arousal", "emotion", "split", "shard", "row")


def load_samples(root: str | Path):
    """The `samples.csv` of a prepared folder as a DataFrame (validated)."""
    import pandas as pd

    root = Path(root)
    path = root / "samples.csv"
    if not path.exists():
        raise DataError(
            "not a prepared dataset: samples.csv missing",
            root,
            "run `s2w-models data prepare SOURCE --out DIR` first",
        )
    df = pd.read_csv(path, dtype={"sample": str, "movie": str, "shard": str, "split": str, "emotion": str})
    from s2w_eval.results import csv_unguard

    for col in ("sample", "movie", "shard"):  # ids read back exactly (s2w quotes formula-looking cells)
        if col in df.columns:
            df[col] = df[col].map(csv_unguard)
    missing = [c for c in SAMPLE_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"samples.csv lacks column(s) {', '.join(missing)}", path)
    bad = sorted(set(df["emotion"]) - {"positive", "negative"})
    if bad:
        raise DataError(f"samples.csv: unknown emotion value(s) {bad}", path, "use positive|negative")
    bad = sorted(set(df["split"]) - set(SPLITS))
    if bad:
        raise DataError(f"samples.csv: unknown split value(s) {bad}", path, "use train|val|test")
    return df


def load_meta(root: str | Path) -> dict[str, Any]:
    path = Path(root) / "dataset.json"
    if not path.exists():
        raise DataError(
            "not a prepared dataset: dataset.json missing",
            Path(root),
            "run `s2w-models data prepare SOURCE --out DIR` first",
        )
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


try:  # torch is a hard dependency of s2w_models, but keep `import` cheap and clear if it is missing
    from torch.utils.data import Dataset as _Base
except ImportError:  # pragma: no cover
    _Base = object


class SpliceDataset(_Base):
    """The splices of one split (or all, `split=None`) of a prepared dataset folder."""

    def __init__(self, root: str | Path, split: str | None = "train"):
        if split is not None and split not in SPLITS:
            raise UsageError(f"unknown split {split!r}; choose from {', '.join(SPLITS)} (or None for all)")
        self.root = Path(root)
        self.split = split
        self.meta: dict[str, Any] = load_meta(self.root)
        df = load_samples(self.root)
        if split is not None:
            df = df[df["split"] == split]
        self.samples = df.reset_index(drop=True)
        self._shards: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._shard_names = self.samples["shard"].tolist()
        self._rows = self.samples["row"].astype(np.int64).to_numpy()
        self._labels = (self.samples["emotion"] == "positive").astype(np.int64).to_numpy()
        self._ids = self.samples["sample"].tolist()

    def __len__(self) -> int:
        return len(self.samples)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_shards"] = {}  # memory maps are re-opened in each worker, never copied
        return state

    def shard(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(frames, audio) memory maps of one shard."""
        if name not in self._shards:
            base = self.root / "shards" / name
            try:
                frames = np.load(f"{base}.frames.npy", mmap_mode="r")
                audio = np.load(f"{base}.audio.npy", mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise DataError(
                    f"unreadable shard {name!r} ({exc})",
                    base,
                    "re-run `s2w-models data prepare` (finished movies are reused)",
                ) from exc
            self._shards[name] = (frames, audio)
        return self._shards[name]

    def arrays(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """The stored arrays of item i: frames uint8 (F, 3, H, W) HSV*255, audio int16 (L,)."""
        frames, audio = self.shard(self._shard_names[i])
        row = int(self._rows[i])
        return np.asarray(frames[row]), np.asarray(audio[row])

    def __getitem__(self, i: int) -> dict[str, Any]:
        import torch

        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples")
        frames, audio = self.arrays(i)
        if frames.dtype == np.uint8:
            f = torch.from_numpy(frames.astype(np.float32) / 255.0)
        else:  # float16 shards
            f = torch.from_numpy(frames.astype(np.float32))
        a = torch.from_numpy(audio.astype(np.float32) / 32768.0)
        return {
            "frames": f,
            "audio": a,
            "emotion": torch.tensor(int(self._labels[i]), dtype=torch.int64),
            "sample": self._ids[i],
            "index": i,
        }

    def labels(self) -> np.ndarray:
        """int64 labels of every item (1 positive, 0 negative), without reading any shard."""
        return self._labels.copy()

    def __repr__(self) -> str:
        return f"SpliceDataset({str(self.root)!r}, split={self.split!r}, n={len(self)})"
