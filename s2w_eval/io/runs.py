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
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError, Problem, UsageError
from ..vocab import AUDIO_EXTENSIONS, EMOTIONS, VIDEO_EXTENSIONS, normalise_emotion  # noqa: F401 - re-exported
from .csvcells import csv_unguard

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
    #: folders that are inputs (never written to); empty: the run's root
    input_dirs: list[Path] = field(default_factory=list)

    @property
    def inputs(self) -> list[Path]:
        return self.input_dirs or [self.root]

    def missing_emotions(self) -> list[str]:
        """Ids of the samples without an intended emotion (samples.csv without an emotion column)."""
        return [s.id for s in self.samples if not s.emotion]

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
    if "sample" not in header:
        raise DataError(
            f"malformed samples.csv: missing column sample (found: {', '.join(header) or 'nothing'})",
            path,
            "the first line must be a header with at least 'sample' (and 'emotion' for chords and surveys)",
        )
    has_emotion = "emotion" in header
    seen: set[str] = set()
    for row in reader:
        lineno = reader.line_num  # the row's last physical line (a quoted field may span lines)
        # DictReader files surplus fields under the key None and fills missing ones with None
        n_fields = len(header) + len(row.get(None) or []) - sum(v is None for v in row.values())
        if n_fields != len(header):
            problems.append(
                Problem(
                    str(path),
                    f"line {lineno}: {n_fields} field(s), the header has {len(header)}",
                    "give every row one value per header column (quote values holding commas)",
                )
            )
            continue
        # csv_unguard: a run written by s2w has its formula-looking cells quoted; read the ids back exactly
        row = {
            csv_unguard((k or "").strip()): csv_unguard((v or "").strip())
            for k, v in row.items()
            if k is not None
        }
        sid = row.get("sample", "")
        if not sid:
            problems.append(Problem(str(path), f"line {lineno}: empty sample id"))
            continue
        if "/" in sid or "\\" in sid or sid in (".", ".."):
            problems.append(Problem(str(path), f"line {lineno}: sample id {sid!r} is not a plain file name"))
            continue
        # no emotion column: the samples have no intended emotion (empty), which pam and dist do not need
        emo = normalise_emotion(row.get("emotion", "")) if has_emotion else ""
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
            "not a run: no samples.csv",
            root,
            "point at a folder laid out as a run (samples.csv and one folder per condition; README.md, Runs)",
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


def run_from_folders(reference: str | Path, estimates: list[str | Path], name: str | None = None) -> Run:
    """A run made of plain folders, matched by file name (no samples.csv needed; nothing is written).

    The reference folder's clips are the samples; each estimate folder is a condition named by the folder (its
    parent's name joined in when two folders share a name). An estimate file without a reference clip is an
    orphan, a reference clip missing in an estimate folder is a problem, exactly as in a run."""
    ref = Path(reference)
    folders = [Path(e) for e in estimates]
    for f in [ref, *folders]:
        if not f.is_dir():
            raise UsageError("not a folder", f, "give folders of audio files")
    if not folders:
        raise UsageError(
            "no estimate folder given", ref, "name at least one folder to compare with the reference"
        )
    names = [f.name for f in [ref, *folders]]
    cond_names = [f"{f.parent.name}-{f.name}" if names.count(f.name) > 1 else f.name for f in [ref, *folders]]
    problems: list[Problem] = []
    ref_files = {f.stem: f for f in _media_files(ref, AUDIO_EXTENSIONS)}
    if not ref_files:
        raise DataError("no audio files in the reference folder", ref)
    samples = [Sample(sid, "") for sid in sorted(ref_files)]
    conditions: dict[str, dict[str, Path]] = {cond_names[0]: ref_files}
    for folder, cname in zip(folders, cond_names[1:], strict=True):
        files = {f.stem: f for f in _media_files(folder, AUDIO_EXTENSIONS)}
        for sid, f in files.items():
            if sid not in ref_files:
                problems.append(Problem(str(f), f"orphan file: no {sid}.* in the reference folder {ref}"))
        for sid in ref_files:
            if sid not in files:
                problems.append(Problem(str(folder / f"{sid}.wav"), f"sample {sid!r} missing in {cname!r}"))
        conditions[cname] = {sid: f for sid, f in files.items() if sid in ref_files}
    try:
        root = Path(os.path.commonpath([str(p.resolve()) for p in [ref, *folders]]))
    except ValueError:  # different drives
        root = ref.resolve().parent
    run_name = name or f"{cond_names[0]}-vs-{'-'.join(cond_names[1:])}"
    return Run(root, run_name, samples, conditions, {}, {}, {}, problems, input_dirs=[ref, *folders])


def init_samples_csv(root: str | Path, emotions: str | Path | None = None, force: bool = False) -> Path:
    """Write <root>/samples.csv for a folder of condition folders: one row per clip found in any condition,
    with its emotion from `emotions` (a CSV with columns sample,emotion) when given. Returns the path."""
    from .csvcells import csv_safe
    from .files import atomic_write_text

    root = Path(root)
    out = root / "samples.csv"
    if out.exists() and not force:
        raise UsageError("samples.csv exists already", out, "remove it, or overwrite it on purpose (force)")
    ids: set[str] = set()
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if folder.name not in RESERVED_DIRS:
            ids.update(f.stem for f in _media_files(folder, AUDIO_EXTENSIONS))
    if not ids:
        raise DataError(
            "no condition folder with audio files here", root, "put one folder per condition in it"
        )
    table: dict[str, str] = {}
    if emotions is not None:
        rows, problems = read_samples_csv(Path(emotions))
        if problems:
            raise DataError("; ".join(p.message for p in problems), emotions, "give sample,emotion rows")
        table = {s.id: s.emotion for s in rows}
        unknown = sorted(ids - set(table))
        if unknown:
            shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise DataError(
                f"no emotion for {len(unknown)} clip(s): {shown}", emotions, "add a row per sample"
            )
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["sample", "emotion"] if table else ["sample"])
    for sid in sorted(ids):
        w.writerow([csv_safe(sid), table[sid]] if table else [csv_safe(sid)])
    return atomic_write_text(out, buf.getvalue())
