"""The Task interface: one evaluation = items of a run -> key of an item -> compute -> a row -> summary -> tables.

A task knows its own arithmetic and nothing about journals, caches, progress bars or files: the runner
(`s2w_eval.runner`) does those the same way for every task. Adding an evaluation means writing one Task:

    class Loudness(Task):
        name = "loudness"
        columns = ("sample", "emotion", "condition", "variant", "lufs", "file", "sha256")
        finite_columns = ("lufs",)

        def items(self, ctx):          # what to compute: one Item per clip (or clip x reference x variant)
            ...
        def key_params(self, item):    # every parameter a row depends on besides the files and samples.csv
            return {"meter": "bs1770", "version": 1}
        def compute(self, items, ctx): # yields (item, row) or (item, S2WError), in any order
            ...
        def summarize(self, rows, ctx):
            ...

The runner adds to each row the sample's fields from samples.csv (`sample_fields`) and the file columns, and
keys each row by everything it depends on, so a changed file, parameter or samples.csv field is recomputed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError, Problem, S2WError
from ..io.runs import Run, Sample


@dataclass(frozen=True, eq=False)  # identity: items are keys of the runner's maps within one run
class Item:
    """One unit of work: a clip of a condition (and its reference clip), scored by one variant."""

    sample: Sample
    condition: str
    path: Path
    #: the reference clip the item is compared with, or None for tasks that score a clip alone
    reference: Path | None = None
    #: the metric or method id: a run has one row per (sample, condition, variant)
    variant: str = ""


@dataclass
class Context:
    """What a task sees while it runs: the run, where its outputs go, the settings, and shared services."""

    run: Run
    out_dir: Path
    options: Mapping[str, Any]
    protocol: Mapping[str, Any] | None
    #: content hashes of every file of the items, by path (computed once by the runner)
    digests: dict[Path, str] = field(default_factory=dict)
    #: the embedding cache (s2w_eval.features.cache.EmbeddingCache), shared by every task of a process
    cache: Any = None
    #: problems found while running; the runner reports them at the end
    problems: list[Problem] = field(default_factory=list)
    #: call with the number of items finished (or skipped) to advance the progress display
    advance: Callable[[int], None] = lambda n: None

    def relative(self, path: Path) -> str:
        """A path inside the run as the rows record it (relative to the run's root, never a machine path)."""
        try:
            return str(Path(path).relative_to(self.run.root))
        except ValueError:
            return str(path)


class Task:
    """Base class of every evaluation (see the module docstring)."""

    #: short name: the result files are <name>.csv and <name>.json
    name: str = ""
    #: the command line that runs it, recorded in the provenance
    command: str = ""
    #: the columns of <name>.csv, in order
    columns: Sequence[str] = ()
    #: columns that must hold finite numbers for a row to count as done (else a problem, retried next run)
    finite_columns: Sequence[str] = ()
    #: samples.csv fields copied into every row (and so part of every item's key)
    sample_fields: Sequence[str] = ("emotion",)
    #: what one item is, for progress and counts ("pair", "clip")
    unit: str = "item"
    #: the columns `--format csv` prints (None: every column of <name>.csv)
    console_columns: Sequence[str] | None = None

    def items(self, ctx: Context) -> list[Item]:
        raise NotImplementedError

    def key_params(self, item: Item) -> Mapping[str, Any]:
        """Everything the row of `item` depends on besides file contents and samples.csv fields."""
        raise NotImplementedError

    def compute(
        self, items: Sequence[Item], ctx: Context
    ) -> Iterator[tuple[Item, dict[str, Any] | S2WError]]:
        raise NotImplementedError

    def reusable(self, item: Item, row: Mapping[str, Any], ctx: Context) -> bool:
        """Whether a journaled row can be reused as it is (e.g. its side files still exist)."""
        return True

    def summarize(self, rows: Sequence[Mapping[str, Any]], ctx: Context) -> dict[str, Any]:
        raise NotImplementedError

    def document(
        self, rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any], ctx: Context
    ) -> dict[str, Any]:
        """The body of <name>.json (the runner adds counts, problems, validity and provenance)."""
        return {"run": ctx.run.name, "summary": dict(summary)}

    def validity(self, rows: Sequence[Mapping[str, Any]], ctx: Context) -> dict[str, Any] | None:
        """The validity block of what was scored (tasks.checks.run_validity), or None for a task without audio."""
        return None

    def sort_key(self, row: Mapping[str, Any]) -> Any:
        """Order of the rows in <name>.csv; None keeps the order of the items."""
        return None

    def tables(self, rows: Sequence[Mapping[str, Any]], doc: Mapping[str, Any], title: str) -> list:
        """The console tables of one run's results (report.tables.Table objects)."""
        raise NotImplementedError

    def format_tables(
        self, rows: Sequence[Mapping[str, Any]], doc: Mapping[str, Any], fmt: str, title: str
    ) -> str:
        """The console output of one run: its tables in `fmt` (csv: the result rows themselves)."""
        from ..report.tables import render_table
        from ..results import rows_to_csv

        if fmt == "csv":
            return rows_to_csv(rows, self.console_columns or self.columns)
        fmt = "tex" if fmt == "latex" else fmt
        parts = []
        for table in self.tables(rows, doc, title):
            if table.title:
                parts.append(table.title)
            parts.append(render_table(table, fmt))
        return "\n\n".join(parts) + "\n"

    def close(self) -> None:
        """Free what the task holds (networks, open files)."""


def compared_conditions(ctx: Context, reference: str, conditions: Sequence[str] | None) -> list[str]:
    """The conditions a reference-based task compares: `conditions` (a missing one is a problem, the rest
    scored) or every condition of the run but the reference. No reference folder, or nothing left: DataError."""
    run = ctx.run
    if reference not in run.conditions:
        raise DataError(
            f"reference condition {reference!r} not found (conditions: {', '.join(sorted(run.conditions)) or 'none'})",
            run.root,
            "name the reference folder (the protocol's `reference`, or the reference option)",
        )
    if conditions:
        for c in conditions:
            if c not in run.conditions:
                ctx.problems.append(
                    Problem(str(run.root / c), f"condition {c!r} not found in run {run.name!r}")
                )
        conds = [c for c in conditions if c in run.conditions and c != reference]
    else:
        conds = [c for c in sorted(run.conditions) if c != reference]
    if not conds:
        raise DataError(
            f"nothing to compare with the reference {reference!r}",
            run.root,
            "add condition folders or fix the list of conditions",
        )
    return conds


def items_of(
    run: Run, conditions: Iterable[str], variants: Sequence[str], reference: str | None = None
) -> list[Item]:
    """Items in a stable order: variant, then sample (as samples.csv lists them), then condition."""
    out = []
    for variant in variants:
        for s in run.samples:
            ref = run.clip(reference, s.id) if reference else None
            if reference and ref is None:
                continue  # reported by run discovery as missing
            for cond in conditions:
                path = run.clip(cond, s.id)
                if path is not None:
                    out.append(Item(s, cond, path, ref, variant))
    return out
