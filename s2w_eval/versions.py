"""Versions of the packages a result depends on (recorded in every result file's provenance)."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata

PACKAGES = (
    "numpy",
    "scipy",
    "torch",
    "librosa",
    "soundfile",
    "soxr",
    "av",
    "pandas",
    "music21",
    "cdpam",
    "dpam",
)


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out
