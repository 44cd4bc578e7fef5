"""File names made from identifiers: unique, portable and short enough for every file system.

Sample ids are free text in samples.csv. A file name cannot hold `/`, NUL or (portably) `:*?"<>|\\`, and most
file systems cap a name at 255 bytes. `safe_stem` keeps a readable slug and, whenever the slug is not the id
itself, appends a hash of the exact id, so two ids that differ only in characters a file name cannot hold never
share a file.
"""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
#: bytes left for the stem; suffixes such as ".nnls-hmm-v1.chords.lab" take the rest of 255
MAX_STEM = 120


def safe_stem(text: str, max_len: int = MAX_STEM) -> str:
    """A file-name stem for `text`: `text` itself when it is already safe and short, else slug + '-' + hash."""
    slug = _UNSAFE.sub("_", text).strip("._") or "_"
    if slug == text and len(slug.encode()) <= max_len and not text.startswith("-"):
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    return f"{slug[: max_len - 11]}-{digest}"
