"""Run discovery: the contract between generation and evaluation (README.md, "Runs").

```
<run>/samples.csv                  sample,emotion[,valence,source,start_s]   emotion: positive|negative
<run>/<condition>/<sample>.wav     one folder per condition: target (the reference), baseline, scene2wav, ...
<run>/<condition>/<sample>.json    optional sidecar: model, checkpoint sha256, seed, protocol+version, duration
<run>/scenes/<sample>.mp4          optional: the scene video
<run>/scenes/<condition>/<sample>.mp4   optional: the scene video muxed with that condition's audio
```
A run is any folder holding `samples.csv`. Problems (a sample missing in a condition, an orphan file, a
duplicate id, a malformed samples.csv, a bad sidecar) are collected as `Problem`s, never raised, so the
rest of the run is still scored; the CLI exits 1 at the end when there were any.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError, Problem, UsageError
from ..vocab import AUDIO_EXTENSIONS, EMOTIONS, VIDEO_EXTENSIONS, normalise_emotion  # noqa: F401 - re-exported

RESERVED_DIRS = ("scenes",)


@dataclass(frozen=True)
class Sample:
    id: str
    emotion: str
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    root: Path
    name: str
    samples: list[Sample]
    conditions: dict[str, dict[str, Path]]
    sidecars: dict[tuple[str, str], dict[str, Any]]
    scenes: dict[str, Path]
    condition_scenes: dict[tuple[str, str], Path]
    problems: list[Problem]

    @property
    def sample_ids(self) -> list[str]:
        return [s.id for s in self.samples]

    def emotion_of(self, sample_id: str) -> str:
        for s in self.samples:
            if s.id == sample_id:
                return s.emotion
        raise KeyError(sample_id)

    def clip(self, condition: str, sample_id: str) -> Path | None:
        return self.conditions.get(condition, {}).get(sample_id)


def read_samples_csv(path: Path) -> tuple[list[Sample], list[Problem]]:
    """Parse samples.csv; bad rows are problems (named by line), good rows are kept."""
    problems: list[Problem] = []
    samples: list[Sample] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"unreadable samples.csv ({exc})", path) from exc
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ("sample", "emotion") if c not in header]
    if missing:
        raise DataError(
            f"malformed samples.csv: missing column(s) {', '.join(missing)} (found: {', '.join(header) or 'nothing'})",
            path,
            "the first line must be a header with at least 'sample,emotion'",
        )
    seen: set[str] = set()
    for lineno, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        if None in row.values() or len(row) < len(header):
            problems.append(Problem(str(path), f"line {lineno}: wrong number of fields"))
            continue
        sid = row.get("sample", "")
        if not sid:
            problems.append(Problem(str(path), f"line {lineno}: empty sample id"))
            continue
        if "/" in sid or "\\" in sid or sid in (".", ".."):
            problems.append(Problem(str(path), f"line {lineno}: sample id {sid!r} is not a plain file name"))
            continue
        emo = normalise_emotion(row.get("emotion", ""))
        if emo is None:
            problems.append(
                Problem(
                    str(path),
                    f"line {lineno}: sample {sid!r} has emotion {row.get('emotion')!r}",
                    "use 'positive' or 'negative'",
                )
            )
            continue
        if sid in seen:
            problems.append(
                Problem(str(path), f"line {lineno}: duplicate sample id {sid!r} (first row kept)")
            )
            continue
        seen.add(sid)
        extra = {k: v for k, v in row.items() if k not in ("sample", "emotion")}
        samples.append(Sample(sid, emo, extra))
    if not samples and not problems:
        problems.append(Problem(str(path), "samples.csv lists no samples"))
    return samples, problems


def _media_files(folder: Path, extensions: tuple[str, ...]) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in extensions
    )


def load_run(root: str | Path, name: str | None = None) -> Run:
    root = Path(root)
    samples_csv = root / "samples.csv"
    if not samples_csv.is_file():
        raise UsageError(
            "not a run: no samples.csv", root, "point at a folder laid out as a run (samples.csv and one folder per condition; README.md, Runs)"
        )
    samples, problems = read_samples_csv(samples_csv)
    ids = {s.id for s in samples}
    conditions: dict[str, dict[str, Path]] = {}
    sidecars: dict[tuple[str, str], dict[str, Any]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if folder.name in RESERVED_DIRS:
            continue
        files = _media_files(folder, AUDIO_EXTENSIONS)
        jsons = sorted(folder.glob("*.json"))
        if not files and not jsons:
            continue
        by_id: dict[str, Path] = {}
        for f in files:
            sid = f.stem
            if sid in by_id:
                problems.append(
                    Problem(
                        str(f),
                        f"duplicate id {sid!r} in condition {folder.name!r} "
                        f"(also {by_id[sid].name}); the first is used",
                    )
                )
                continue
            if sid not in ids:
                problems.append(
                    Problem(
                        str(f),
                        f"orphan file: sample {sid!r} is not in samples.csv",
                        "add it to samples.csv or remove the file",
                    )
                )
                continue
            by_id[sid] = f
        for j in jsons:
            sid = j.stem
            if sid not in ids:
                problems.append(Problem(str(j), f"orphan sidecar: sample {sid!r} is not in samples.csv"))
                continue
            try:
                meta = json.loads(j.read_text(encoding="utf-8"))
                if not isinstance(meta, dict):
                    raise ValueError("not a JSON object")
            except (OSError, ValueError) as exc:
                problems.append(Problem(str(j), f"malformed sidecar ({exc}); ignored"))
                continue
            sidecars[(folder.name, sid)] = meta
        for s in samples:
            if s.id not in by_id:
                problems.append(
                    Problem(
                        str(folder / f"{s.id}.wav"), f"sample {s.id!r} missing in condition {folder.name!r}"
                    )
                )
        conditions[folder.name] = by_id
    scenes: dict[str, Path] = {}
    condition_scenes: dict[tuple[str, str], Path] = {}
    scenes_dir = root / "scenes"
    if scenes_dir.is_dir():
        for f in _media_files(scenes_dir, VIDEO_EXTENSIONS):
            if f.stem in ids:
                scenes[f.stem] = f
            else:
                problems.append(
                    Problem(str(f), f"orphan scene video: sample {f.stem!r} is not in samples.csv")
                )
        for sub in sorted(p for p in scenes_dir.iterdir() if p.is_dir()):
            for f in _media_files(sub, VIDEO_EXTENSIONS):
                if f.stem in ids:
                    condition_scenes[(sub.name, f.stem)] = f
    return Run(root, name or root.name, samples, conditions, sidecars, scenes, condition_scenes, problems)


def find_runs(paths: list[str | Path], problems: list[Problem] | None = None) -> list[Run]:
    """Every run (folder holding samples.csv) at or below each path, with unique names.

    With `problems` given, a run whose samples.csv is unusable is reported there and skipped, so the other
    runs are still processed; without it, the DataError is raised.
    """
    roots: list[Path] = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise UsageError("path not found", p)
        if (p / "samples.csv").is_file():
            roots.append(p)
            continue
        found = sorted(
            q.parent
            for q in p.rglob("samples.csv")
            if not any(part.startswith(".") for part in q.relative_to(p).parts)
        )
        if not found:
            raise UsageError(
                "no run found (no samples.csv at or below this folder)",
                p,
                "point at a run folder (samples.csv and one folder per condition; README.md, Runs)",
            )
        roots.extend(found)
    seen: set[Path] = set()
    unique = []
    for r in roots:
        rr = r.resolve()
        if rr not in seen:
            seen.add(rr)
            unique.append(r)
    names = [r.name for r in unique]
    runs = []
    for r in unique:
        name = r.name
        if names.count(name) > 1:  # same folder name twice: qualify with the parent
            name = f"{r.parent.name}-{r.name}"
        try:
            runs.append(load_run(r, name))
        except DataError as exc:
            if problems is None:
                raise
            problems.append(Problem.from_error(exc))
    return runs
