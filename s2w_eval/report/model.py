"""The report's document model: a Report is Sections of blocks (tables, figures, audio players, boxes, text).

Renderers (`render.py`) turn it into HTML, Markdown and LaTeX; nothing here knows a format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Problem
from .tables import Table


@dataclass
class Figure:
    name: str  # file name (PNG)
    title: str
    png: bytes
    caption: str = ""


@dataclass
class Audio:
    """The clips of one sample, one player per condition (path None: the clip is missing)."""

    sample: str
    clips: list[tuple[str, Path | None]]


@dataclass
class Box:
    """A highlighted box (a condition's validity warnings): `level` is "ok" or "warn"."""

    title: str
    lines: list[str]
    level: str = "ok"


@dataclass
class Section:
    title: str
    blocks: list[Table | Figure | Audio | Box | str] = field(default_factory=list)


@dataclass
class Report:
    title: str
    slug: str
    sections: list[Section]
    problems: list[Problem] = field(default_factory=list)

    def tables(self) -> list[Table]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Table)]
