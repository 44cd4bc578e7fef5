"""Files: atomic writes (temp file in the same folder, fsync, rename) and content hashes.

Every file s2w writes goes through `atomic_write_bytes`, so an interrupted command, a full disk or a second
process writing the same file never leaves a torn file: the temp name is unique per writer (mkstemp) and the
rename is atomic. The file gets the mode a plain `open()` would give it (0666 minus the user's umask): mkstemp's
own 0600 would make results unreadable to colleagues on a shared server.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path

from ..errors import DataError, UsageError

_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    # os.umask can only be read by setting it; the lock keeps two threads of this process from racing.
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def ensure_dir(path: str | Path, what: str = "output folder") -> Path:
    """Create a folder (and its parents); a file in the way is a usage error that names it."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists() and not p.is_dir():
            raise UsageError(
                f"the {what} {path} cannot be created: {p} is a file", p, "choose another folder"
            )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the {what} ({exc.strerror or exc})", path) from exc
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    ensure_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise DataError(f"cannot write ({exc.strerror or exc})", path) from exc
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise DataError(
                f"cannot write ({exc.strerror or exc}); the previous version, if any, is intact",
                path,
                "free disk space, or write the results elsewhere" if exc.errno == 28 else None,
            ) from exc
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()
