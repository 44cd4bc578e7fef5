"""The one item loop every evaluation runs on: journal, cache, problems, progress, atomic writes, provenance.

`run_task(run, task, out_dir, ...)`:
1. refuses an output folder inside the run (inputs are never written to) or blocked by a file;
2. asks the task for its items, hashes every file once (an unreadable file is a named problem);
3. keys each item by everything its row depends on: the task's parameters, the content of the clip and of its
   reference, and the samples.csv fields copied into the row;
4. reuses journaled rows whose key matches and whose checked columns are finite; computes the rest, committing
   each finished row to the journal before the next (a kill loses at most the items in flight);
5. a non-finite value or a failed computation is a named problem, never a row: it is retried on the next run;
6. writes <name>.csv and <name>.json atomically, with counts, problems and provenance.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DataError, Problem, S2WError, UsageError
from .features.cache import EmbeddingCache
from .io.files import ensure_dir, sha256_file
from .io.runs import Run
from .progress import Progress
from .results import SCHEMA_VERSION, ItemJournal, atomic_write_csv, atomic_write_json, provenance
from .tasks.base import Context, Item, Task

#: bumped when a change to the key recipe must invalidate every journaled row
KEY_VERSION = 1


@dataclass
class TaskResult:
    """What one task produced for one run."""

    run: Run
    task: Task
    out_dir: Path
    rows: list[dict[str, Any]]
    doc: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)
    computed: int = 0
    reused: int = 0

    @property
    def counts(self) -> dict[str, int]:
        return self.doc["counts"]

    @property
    def csv_path(self) -> Path:
        return self.out_dir / f"{self.task.name}.csv"


def check_out_dir(out_dir: Path, run: Run) -> Path:
    """The output folder must not be the run or inside it, and must be creatable."""
    out = Path(out_dir).resolve()
    for src in run.inputs:
        root = Path(src).resolve()
        if out == root or root in out.parents:
            raise UsageError(
                f"the output folder {out_dir} is inside the input {src}: inputs are never written to",
                out_dir,
                "write the results elsewhere (the default is reports/)",
            )
    return ensure_dir(out_dir)


def item_key(task: Task, item: Item, digests: Mapping[Path, str]) -> str:
    """A hash of everything the item's row depends on."""
    spec = {
        "v": KEY_VERSION,
        "task": task.name,
        "params": task.key_params(item),
        "sample": item.sample.id,
        "fields": {f: _sample_field(item, f) for f in task.sample_fields},
        "condition": item.condition,
        "variant": item.variant,
        "file": digests[item.path],
        "reference": digests[item.reference] if item.reference is not None else None,
    }
    text = json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _sample_field(item: Item, name: str) -> Any:
    if name == "emotion":
        return item.sample.emotion
    return item.sample.extra.get(name)


def non_finite(row: Mapping[str, Any], columns: Sequence[str]) -> str | None:
    """The first of `columns` that does not hold a finite number, as 'column = value', or None."""
    for col in columns:
        v = row.get(col)
        try:
            ok = v is not None and not isinstance(v, bool) and math.isfinite(float(v))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            return f"{col} = {v!r}"
    return None


def _hash_files(items: Sequence[Item], problems: list[Problem]) -> tuple[dict[Path, str], list[Item]]:
    digests: dict[Path, str] = {}
    bad: set[Path] = set()
    for item in items:
        for path in (item.path, item.reference):
            if path is None or path in digests or path in bad:
                continue
            try:
                digests[path] = sha256_file(path)
            except OSError as exc:
                problems.append(Problem(str(path), f"unreadable file ({exc.strerror or exc})"))
                bad.add(path)
    kept = [i for i in items if i.path in digests and (i.reference is None or i.reference in digests)]
    return digests, kept


def run_task(
    run: Run,
    task: Task,
    out_dir: str | Path,
    *,
    options: Mapping[str, Any] | None = None,
    protocol: Mapping[str, Any] | None = None,
    cache: EmbeddingCache | None = None,
    progress: bool | None = None,
    checks: Sequence[Problem] = (),
    extra: Mapping[str, Any] | None = None,
) -> TaskResult:
    """Run one task on one run; write <out_dir>/<task>.csv and .json; return the rows and the document."""
    out_dir = check_out_dir(Path(out_dir), run)
    problems: list[Problem] = [*run.problems, *checks]
    cache = cache or EmbeddingCache(enabled=False)
    ctx = Context(run, out_dir, dict(options or {}), protocol, cache=cache, problems=problems)
    items = task.items(ctx)
    ctx.digests, items = _hash_files(items, problems)
    keys = {item: item_key(task, item, ctx.digests) for item in items}
    with ItemJournal(out_dir / f".{task.name}.journal.jsonl") as journal:
        rows_by_key, pending = _reusable_rows(task, items, keys, journal, ctx)
        reused = len(rows_by_key)
        computed = _compute(task, pending, keys, journal, rows_by_key, ctx, progress)
    problems[:] = list(dict.fromkeys(problems))  # a clip shared by several items is one problem
    for msg in cache.discarded:
        where, _, why = msg.partition(": ")
        problems.append(Problem(where, f"embedding cache entry {why}", warning=True))
    cache.discarded.clear()
    rows = [rows_by_key[keys[i]] for i in items if keys[i] in rows_by_key]
    if rows and task.sort_key(rows[0]) is not None:
        rows.sort(key=task.sort_key)
    block = task.validity(rows, ctx)  # warnings beside the numbers, never a change to them
    if block is not None:
        extra = {**(extra or {}), "validity": block}
    doc = _document(task, rows, ctx, len(items), computed, reused, extra)
    atomic_write_csv(out_dir / f"{task.name}.csv", rows, task.columns)
    atomic_write_json(out_dir / f"{task.name}.json", doc)
    return TaskResult(run, task, out_dir, rows, doc, problems, computed, reused)


def _reusable_rows(task, items, keys, journal, ctx) -> tuple[dict[str, dict[str, Any]], list[Item]]:
    """Journaled rows that can be reused as they are, and the items still to compute."""
    rows: dict[str, dict[str, Any]] = {}
    pending: list[Item] = []
    for item in items:
        row = journal.get(keys[item])
        if row is not None and non_finite(row, task.finite_columns) is None and task.reusable(item, row, ctx):
            rows[keys[item]] = row
        else:
            pending.append(item)
    return rows, pending


def _compute(task, pending, keys, journal, rows_by_key, ctx, progress) -> int:
    """Compute the pending items, journaling each finished row; failures and non-finite values are problems."""
    computed = 0
    bar = Progress(len(pending), f"{ctx.run.name} {task.name}", task.unit, enabled=progress)
    ctx.advance = bar
    try:
        for item, result in task.compute(pending, ctx):
            if isinstance(result, S2WError):
                ctx.problems.append(Problem.from_error(result))
                continue
            row = _complete_row(task, item, result, ctx)
            bad = non_finite(row, task.finite_columns)
            if bad is not None:
                against = f" against {item.reference}" if item.reference is not None else ""
                ctx.problems.append(
                    Problem(
                        str(item.path),
                        f"{task.name} {item.variant} gave {bad}{against}; not recorded, retried on the next run",
                    )
                )
                continue
            journal.add(keys[item], row)
            rows_by_key[keys[item]] = row
            computed += 1
    finally:
        bar.close()
    return computed


def _document(task, rows, ctx, expected: int, computed: int, reused: int, extra) -> dict[str, Any]:
    """<task>.json: the task's own body, then counts, problems, warnings and provenance."""
    problems = ctx.problems
    summary = task.summarize(rows, ctx)
    doc = {"schema_version": SCHEMA_VERSION, **task.document(rows, summary, ctx)}
    doc.setdefault("run_path", str(ctx.run.root))
    doc["counts"] = {
        "rows": len(rows),
        "expected": expected,
        "computed": computed,
        "reused": reused,
        "problems": sum(1 for p in problems if not p.warning),
    }
    doc["problems"] = [p.format() for p in problems if not p.warning]
    doc["warnings"] = [p.format() for p in problems if p.warning]
    if extra:
        doc.update(extra)
    doc["provenance"] = provenance(
        command=task.command,
        seeds=ctx.options.get("seeds"),
        protocol=ctx.protocol,
        extra={"cache_dir": str(ctx.cache.root) if ctx.cache.enabled else None},
    )
    return doc


def _complete_row(task: Task, item: Item, row: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """The row with the item's identity and the samples.csv fields the task copies."""
    out = {"sample": item.sample.id}
    for f in task.sample_fields:
        out[f] = _sample_field(item, f)
    out["condition"] = item.condition
    out.update(row)
    return out


def score_runs(
    runs: Sequence[Run], task: Task, out_root: Path, **kwargs: Any
) -> tuple[list[TaskResult], list[Problem]]:
    """`run_task` for each run into out_root/<run name>/; a run that cannot be scored is a problem."""
    results, problems = [], []
    for run in runs:
        try:
            results.append(run_task(run, task, Path(out_root) / run.name, **kwargs))
        except DataError as exc:
            problems.append(Problem.from_error(exc))
    return results, problems
