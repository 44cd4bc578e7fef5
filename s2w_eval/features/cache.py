"""Content-keyed on-disk cache for clip embeddings.

Key = metric name + weights hash + loader/sample rate + the file's content hash, so a rerun, or a second run
sharing targets, embeds nothing twice, and a changed file or model is never served a stale embedding.
Location: `--cache-dir`, else $S2W_CACHE_DIR, else ~/.cache/s2w. Entries are written atomically.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import numpy as np


def default_cache_dir() -> Path:
    env = os.environ.get("S2W_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base) / "s2w"


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", part)


class EmbeddingCache:
    def __init__(self, root: str | Path | None = None, enabled: bool = True):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.enabled = enabled
        self.hits = 0
        self.misses = 0

    def _path(self, namespace: tuple[str, ...], content_sha256: str) -> Path:
        return self.root.joinpath(
            "embeddings", *(_safe(p) for p in namespace), content_sha256[:2], f"{content_sha256}.npy"
        )

    def get(self, namespace: tuple[str, ...], content_sha256: str) -> np.ndarray | None:
        if not self.enabled:
            return None
        path = self._path(namespace, content_sha256)
        try:
            arr = np.load(path, allow_pickle=False)
        except (FileNotFoundError, ValueError, OSError, EOFError):
            self.misses += 1
            return None
        self.hits += 1
        return arr

    def put(self, namespace: tuple[str, ...], content_sha256: str, value: np.ndarray) -> None:
        if not self.enabled:
            return
        path = self._path(namespace, content_sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".emb.", suffix=".npy", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, np.asarray(value), allow_pickle=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
