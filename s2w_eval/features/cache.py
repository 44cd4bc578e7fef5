"""Content-keyed, verified on-disk cache for clip embeddings.

Key = metric name + weights hash + loader/sample rate + the file's content hash, so a rerun, or a second run
sharing targets, embeds nothing twice, and a changed file or model is never served a stale embedding.
Location: `--cache-dir`, else $S2W_CACHE_DIR, else ~/.cache/s2w.

An entry is one file: a magic line, a JSON header (shape, dtype, sha256 of the array's bytes) and the raw
bytes. Reading checks all of it, and the shape and dtype the caller expects, and that every value is finite:
a truncated, altered or wrong-shaped entry is discarded (with a warning in `discarded`) and recomputed, never
served. Entries are written atomically under unique temp names, so processes sharing a cache never see a
torn entry. The format is ours rather than .npy because .npy carries no checksum of its data.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

from ..io.files import atomic_write_bytes

MAGIC = b"S2WEMB1\n"
_MAX_HEADER = 4096


def default_cache_dir() -> Path:
    env = os.environ.get("S2W_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base) / "s2w"


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", part)


class CacheEntryError(ValueError):
    """A cache entry that fails verification (the reason is the message)."""


def encode_entry(value: np.ndarray) -> bytes:
    arr = np.ascontiguousarray(value)
    data = arr.tobytes()
    header = {"shape": list(arr.shape), "dtype": arr.dtype.str, "sha256": hashlib.sha256(data).hexdigest()}
    return MAGIC + json.dumps(header).encode() + b"\n" + data


def decode_entry(
    blob: bytes, shape: tuple[int, ...] | None = None, dtype: str | np.dtype | None = None
) -> np.ndarray:
    """The array of an entry, after every check; CacheEntryError says which check failed."""
    if not blob.startswith(MAGIC):
        raise CacheEntryError("not an s2w cache entry")
    end = blob.find(b"\n", len(MAGIC), len(MAGIC) + _MAX_HEADER)
    if end < 0:
        raise CacheEntryError("truncated header")
    try:
        header = json.loads(blob[len(MAGIC) : end])
        stored_shape = tuple(int(n) for n in header["shape"])
        stored_dtype = np.dtype(header["dtype"])
        digest = str(header["sha256"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CacheEntryError(f"bad header ({exc})") from exc
    if stored_dtype.hasobject:
        raise CacheEntryError("object arrays are never cached")
    data = blob[end + 1 :]
    expected = int(np.prod(stored_shape, dtype=np.int64)) * stored_dtype.itemsize
    if len(data) != expected:
        raise CacheEntryError(f"truncated: {len(data)} of {expected} bytes")
    if hashlib.sha256(data).hexdigest() != digest:
        raise CacheEntryError("checksum mismatch (altered)")
    if shape is not None and stored_shape != tuple(shape):
        raise CacheEntryError(f"shape {stored_shape}, expected {tuple(shape)}")
    if dtype is not None and stored_dtype != np.dtype(dtype):
        raise CacheEntryError(f"dtype {stored_dtype}, expected {np.dtype(dtype)}")
    arr = np.frombuffer(data, dtype=stored_dtype).reshape(stored_shape)
    if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        raise CacheEntryError("holds NaN or inf")
    return arr.copy()


class EmbeddingCache:
    def __init__(self, root: str | Path | None = None, enabled: bool = True):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.enabled = enabled
        self.hits = 0
        self.misses = 0
        #: "path: reason" for every entry found bad and discarded during this process
        self.discarded: list[str] = []

    def _path(self, namespace: tuple[str, ...], content_sha256: str) -> Path:
        return self.root.joinpath(
            "embeddings", *(_safe(p) for p in namespace), content_sha256[:2], f"{content_sha256}.emb"
        )

    def get(
        self,
        namespace: tuple[str, ...],
        content_sha256: str,
        shape: tuple[int, ...] | None = None,
        dtype: str | np.dtype | None = None,
    ) -> np.ndarray | None:
        if not self.enabled:
            return None
        path = self._path(namespace, content_sha256)
        try:
            blob = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            self.misses += 1
            return None
        except OSError as exc:
            self.discarded.append(f"{path}: unreadable ({exc.strerror or exc})")
            self.misses += 1
            return None
        try:
            arr = decode_entry(blob, shape, dtype)
        except CacheEntryError as exc:
            self.discarded.append(f"{path}: {exc}; discarded and recomputed")
            try:
                path.unlink()
            except OSError:
                pass  # another process removed or replaced it: it is recomputed either way
            self.misses += 1
            return None
        self.hits += 1
        return arr

    def put(self, namespace: tuple[str, ...], content_sha256: str, value: np.ndarray) -> None:
        if not self.enabled:
            return
        arr = np.asarray(value)
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            return  # a non-finite embedding is a failure, never a cache entry
        atomic_write_bytes(self._path(namespace, content_sha256), encode_entry(arr))
