"""File names made from identifiers (sample ids, metric names, conditions) that are unique and fit.

A sample id is any text a `samples.csv` cell can hold: two ids may differ only in characters a file name
cannot hold (`a/b` and `a:b`), and an id may be longer than a file system allows (255 bytes on ext4).
`safe_stem` keeps the readable part of the text and adds a short hash of the WHOLE text whenever the slug
is not the text itself, so different texts never share a stem and every stem fits.
"""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
HASH_CHARS = 8  # 32 bits of sha256: a collision between two ids of one run is vanishingly unlikely


def safe_stem(text: str, max_len: int = 80) -> str:
    """A file-name stem for `text`: [A-Za-z0-9_.-] only, at most `max_len` characters, unique per text.

    The text itself when it is already safe and short enough; otherwise its slug (unsafe runs become `_`,
    cut to fit) followed by `-` and 8 hex digits of the text's sha256. Never empty, never starts with a dot
    (no hidden files, no `..`).
    """
    if max_len < HASH_CHARS + 2:
        raise ValueError(f"max_len must be at least {HASH_CHARS + 2}, got {max_len}")
    text = str(text)
    slug = _UNSAFE.sub("_", text).strip("_.")
    if slug == text and 0 < len(slug) <= max_len:
        return slug
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]
    keep = slug[: max_len - HASH_CHARS - 1].rstrip("_.-")
    return f"{keep}-{digest}" if keep else f"x-{digest}"
