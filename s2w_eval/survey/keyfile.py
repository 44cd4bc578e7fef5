"""Reading a built survey back: the answer key and the manifest (shared by simulate and aggregate)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError
from .build import KEY_COLUMNS
from .design import SurveyDesign


def unneutralise(value: str) -> str:
    """Undo the CSV formula guard exactly (io.csvcells.csv_unguard): "'=x" -> "=x", "''x" -> "'x"."""
    from ..io.csvcells import csv_unguard

    return csv_unguard(value)


@dataclass
class KeyItem:
    task_id: str
    sample: str
    emotion: str
    item: int
    kind: str  # pair | repeat | defect
    first: str
    second: str
    a_condition: str
    b_condition: str
    a_clip: str
    b_clip: str
    first_side: str
    repeat_of: int | None
    expected: str

    def outcome(self, answer: str) -> str:
        """'first', 'second' or 'none' for an answer A/B/none (the A/B randomisation undone)."""
        if answer == "none":
            return "none"
        return "first" if answer == self.first_side else "second"


@dataclass
class AnswerKey:
    path: Path
    tasks: dict[str, dict[int, KeyItem]]
    design: SurveyDesign
    manifest: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n_items(self) -> int:
        return max((len(v) for v in self.tasks.values()), default=0)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return list(self.design.pairs)

    def sample_of(self, task_id: str) -> tuple[str, str]:
        it = next(iter(self.tasks[task_id].values()))
        return it.sample, it.emotion


def load_key(path: str | Path) -> AnswerKey:
    path = Path(path)
    if not path.is_file():
        from ..errors import UsageError

        raise UsageError("answer key not found", path, "pass the answer_key.csv written by `survey build`")
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = list(reader.fieldnames or [])
            missing = [c for c in KEY_COLUMNS if c not in header]
            if missing:
                raise DataError(
                    f"not an s2w answer key: missing column(s) {', '.join(missing)}",
                    path,
                    "pass the answer_key.csv written by `survey build`",
                )
            tasks: dict[str, dict[int, KeyItem]] = {}
            for n, row in enumerate(reader, start=2):
                r = {k: unneutralise(v or "") for k, v in row.items() if k is not None}
                try:
                    item = KeyItem(
                        r["task_id"],
                        r["sample"],
                        r["emotion"],
                        int(r["item"]),
                        r["kind"],
                        r["first"],
                        r["second"],
                        r["a_condition"],
                        r["b_condition"],
                        r["a_clip"],
                        r["b_clip"],
                        r["first_side"],
                        int(r["repeat_of"]) if r["repeat_of"] else None,
                        r["expected"],
                    )
                except (ValueError, KeyError) as exc:
                    raise DataError(f"row {n}: malformed answer-key row ({exc})", path) from exc
                if item.kind not in ("pair", "repeat", "defect") or item.first_side not in ("A", "B"):
                    raise DataError(
                        f"row {n}: malformed answer-key row (kind {item.kind!r}, "
                        f"first_side {item.first_side!r})",
                        path,
                    )
                tasks.setdefault(item.task_id, {})[item.item] = item
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"unreadable answer key ({exc})", path) from exc
    if not tasks:
        raise DataError("the answer key lists no task", path)
    manifest = None
    notes: list[str] = []
    mpath = path.parent / "manifest.json"
    if mpath.is_file():
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
            design = SurveyDesign.from_dict(manifest["design"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"unreadable survey manifest ({exc})", mpath) from exc
    else:
        pairs: list[tuple[str, str]] = []
        for items in tasks.values():
            for it in items.values():
                if it.kind == "pair" and (it.first, it.second) not in pairs:
                    pairs.append((it.first, it.second))
        design = SurveyDesign(pairs=tuple(pairs), allow_no_preference=True, min_seconds=0.0)
        notes.append(
            f"no manifest.json beside {path.name}: 'none' answers accepted, no default --min-seconds"
        )
    return AnswerKey(path, tasks, design, manifest, notes)
