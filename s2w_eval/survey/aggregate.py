"""`survey aggregate`: the marketplace's results file -> validated answers -> preferences, tests, ranking.

1. Validation against the answer key. Every row is either counted or reported, never silently dropped:
   missing columns, unknown tasks (or inputs that differ from the key), duplicate assignments (the same
   AssignmentId twice, or one worker answering one task twice; the first is kept), assignments the
   marketplace already rejected, malformed rows and answers: each category with its count and row numbers
   (spreadsheet numbering: the header is row 1).
2. The A/B randomisation is undone (the key says which condition sat at A).
3. Raters are excluded when their share of failed assignments (a failed attention check, or faster than
   --min-seconds) exceeds --max-fail-share (default 0: any failure). approvals.csv says approve|reject per
   assignment, with the reason.
4. Preferences per sample, per emotion and overall for every pair: shares, exact binomial (sign) test of
   first vs second over the decisive answers, Wilson CI of first_share; a Bradley-Terry ranking with CIs from
   a bootstrap over raters; Fleiss' kappa.
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np

from ..errors import DataError, Problem, UsageError
from ..io.runs import EMOTIONS
from ..results import atomic_write_csv, atomic_write_json, provenance, sha256_file
from ..stats import binomial_test, bradley_terry_bootstrap, fleiss_kappa, wilson_ci
from .keyfile import AnswerKey, load_key, unneutralise

REQUIRED = ("AssignmentId", "WorkerId", "Input.task_id")
EXPECTED = ("HITId", "AssignmentStatus", "WorkTimeInSeconds")
CATEGORIES = (
    "missing_columns",
    "malformed_rows",
    "other_batch",
    "unknown_tasks",
    "inputs_differ",
    "duplicate_assignments",
    "rejected_assignments",
    "malformed_answers",
)
FATAL = tuple(c for c in CATEGORIES if c != "rejected_assignments")  # these make the exit code 1
PREF_COLUMNS = (
    "sample",
    "emotion",
    "first",
    "second",
    "n",
    "first_count",
    "second_count",
    "none_count",
    "first_share",
    "second_share",
    "none_share",
    "decisive",
    "p_value",
    "ci_low",
    "ci_high",
    "raters",
)


@dataclass
class Assignment:
    row: int
    assignment_id: str
    worker: str
    task: str
    hit: str
    seconds: float | None
    status: str
    answers: dict[int, str]
    failures: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # headphone score, play counts, times per item

    @property
    def reviewable(self) -> bool:
        """Still awaiting review on the marketplace (Approved/Rejected ones can never be changed)."""
        return self.status.lower() in ("", "submitted")


@dataclass
class Analysis:
    key: AnswerKey
    settings: dict[str, Any]
    issues: dict[str, list[dict[str, Any]]]
    assignments: list[Assignment]
    workers: list[dict[str, Any]]
    excluded: set[str]
    approvals: list[dict[str, Any]]
    preferences: list[dict[str, Any]]
    bradley_terry: dict[str, Any] | None
    kappa: dict[str, Any] | None
    n_rows: int
    header: list[str] = field(default_factory=list)
    raw_rows: dict[int, list[str]] = field(default_factory=dict)
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def fatal_count(self) -> int:
        return sum(len(self.issues[c]) for c in FATAL)

    def problems(self, results_path: str) -> list[Problem]:
        out = []
        for cat in CATEGORIES:
            entries = self.issues[cat]
            if not entries:
                continue
            rows = [e["row"] for e in entries if e.get("row") is not None]
            where = f" (rows {_ranges(rows)})" if rows else ""
            detail = "; ".join(e["message"] for e in entries[:3]) + ("; ..." if len(entries) > 3 else "")
            counted = "not counted" if cat != "missing_columns" else "see below"
            out.append(
                Problem(results_path, f"{cat.replace('_', ' ')}: {len(entries)}{where}, {counted}: {detail}")
            )
        return out


def _ranges(rows: list[int]) -> str:
    rows = sorted(set(rows))
    parts: list[str] = []
    i = 0
    while i < len(rows):
        j = i
        while j + 1 < len(rows) and rows[j + 1] == rows[j] + 1:
            j += 1
        parts.append(str(rows[i]) if i == j else f"{rows[i]}-{rows[j]}")
        i = j + 1
    return ", ".join(parts)


def _clip_name(url: str) -> str:
    return unquote(urlsplit(url.strip()).path.rsplit("/", 1)[-1])


def read_results(path: str | Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(row number, cells)]) of a results CSV; row numbers as a spreadsheet shows them."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(
            "results file not found", path, "pass the batch results CSV downloaded from the marketplace"
        )
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise DataError("empty results file (no header row)", path)
            rows = [(n, cells) for n, cells in enumerate(reader, start=2) if any(c.strip() for c in cells)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"unreadable results CSV ({exc})", path) from exc
    return [h.strip() for h in header], rows


def validate(
    header: list[str], rows: list[tuple[int, list[str]]], key: AnswerKey, min_seconds: float
) -> tuple[list[Assignment], dict[str, list[dict[str, Any]]]]:
    issues: dict[str, list[dict[str, Any]]] = {c: [] for c in CATEGORIES}
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise DataError(
            f"missing required column(s) {', '.join(missing)} (found: {', '.join(header[:12])}"
            f"{', ...' if len(header) > 12 else ''})",
            fix="pass the marketplace's batch results file (Download CSV) unchanged",
        )
    n_items = key.n_items
    answer_cols = [f"Answer.pair{i}" for i in range(1, n_items + 1)]
    hp = (key.manifest or {}).get("headphone_check") or None
    hp_trials = hp["trials"] if hp else []
    answer_cols += [f"Answer.hp{k}" for k in range(1, len(hp_trials) + 1)]
    batch_id = (key.manifest or {}).get("batch_id")
    expected = [c for c in EXPECTED if c != "AssignmentStatus" or "Turkle.Username" not in header]
    for col in expected + answer_cols:
        if col not in header:
            issues["missing_columns"].append({"row": None, "message": f"column {col} is missing"})
    dupes = [h for h, k in Counter(header).items() if k > 1]
    for h in dupes:
        issues["missing_columns"].append(
            {"row": None, "message": f"column {h} appears twice (the first is used)"}
        )
    idx = {}
    for i, h in enumerate(header):
        idx.setdefault(h, i)
    allowed = {"A", "B"} | ({"none"} if key.design.allow_no_preference else set())
    seen_ids: dict[str, int] = {}
    seen_worker_task: dict[tuple[str, str], int] = {}
    out: list[Assignment] = []

    for rownum, cells in rows:

        def get(col: str, cells=cells) -> str | None:
            i = idx.get(col)
            return None if i is None or i >= len(cells) else unneutralise(cells[i].strip())

        if len(cells) != len(header):
            issues["malformed_rows"].append(
                {"row": rownum, "message": f"row {rownum} has {len(cells)} fields, the header {len(header)}"}
            )
            continue
        aid, worker, task = get("AssignmentId"), get("WorkerId"), get("Input.task_id")
        if not aid or not worker or not task:
            issues["malformed_rows"].append(
                {"row": rownum, "message": f"row {rownum}: empty AssignmentId, WorkerId or Input.task_id"}
            )
            continue
        if aid in seen_ids:
            issues["duplicate_assignments"].append(
                {"row": rownum, "message": f"row {rownum}: assignment {aid!r} already on row {seen_ids[aid]}"}
            )
            continue
        seen_ids[aid] = rownum
        their_batch = get("Input.batch")
        if batch_id and their_batch is not None and their_batch != batch_id:
            issues["other_batch"].append(
                {
                    "row": rownum,
                    "message": f"row {rownum}: batch {their_batch!r}, not this key's {batch_id!r} (results of "
                    "another build)",
                }
            )
            continue
        if task not in key.tasks:
            issues["unknown_tasks"].append(
                {"row": rownum, "message": f"row {rownum}: task {task!r} is not in the key"}
            )
            continue
        items = key.tasks[task]
        differ = []
        for k, it in items.items():
            for side, clip in (("a", it.a_clip), ("b", it.b_clip)):
                v = get(f"Input.pair{k}_{side}")
                if v is not None and _clip_name(v) != clip:
                    differ.append(f"Input.pair{k}_{side}")
        if differ:
            issues["inputs_differ"].append(
                {
                    "row": rownum,
                    "message": f"row {rownum}: {', '.join(differ[:3])} differ from the key (another build?)",
                }
            )
            continue
        if (worker, task) in seen_worker_task:
            issues["duplicate_assignments"].append(
                {
                    "row": rownum,
                    "message": f"row {rownum}: worker {worker!r} already answered task {task!r} on "
                    f"row {seen_worker_task[(worker, task)]}",
                }
            )
            continue
        status = get("AssignmentStatus") or ""
        if status.lower() == "rejected":
            issues["rejected_assignments"].append(
                {
                    "row": rownum,
                    "message": f"row {rownum}: assignment {aid!r} was rejected on the marketplace",
                }
            )
            continue
        bad = []
        answers: dict[int, str] = {}
        for k in items:
            v = get(f"Answer.pair{k}")
            if v is None or v not in allowed:
                bad.append(f"Answer.pair{k}={'(missing)' if v is None else repr(v)}")
            else:
                answers[k] = v
        secs_text = get("WorkTimeInSeconds")
        seconds = None
        if secs_text:  # empty: the marketplace did not say (a Prolific response without its export)
            try:
                seconds = float(secs_text)
                if not math.isfinite(seconds) or seconds < 0:
                    raise ValueError
            except ValueError:
                bad.append(f"WorkTimeInSeconds={secs_text!r}")
                seconds = None
        seen_worker_task[(worker, task)] = rownum
        a = Assignment(rownum, aid, worker, task, get("HITId") or "", seconds, status, answers)
        if bad:
            issues["malformed_answers"].append(
                {
                    "row": rownum,
                    "assignment": aid,
                    "worker": worker,
                    "message": f"row {rownum}: {', '.join(bad[:4])}{' ...' if len(bad) > 4 else ''} "
                    f"(allowed: {', '.join(sorted(allowed))})",
                }
            )
            a.failures.append("malformed answers")
            a.answers = {}
            out.append(a)
            continue
        a.extra = _details(get, items, hp_trials)
        # attention checks
        if hp_trials:
            right = a.extra["headphone_right"]
            if right < hp["pass"]:
                a.failures.append(
                    f"headphone check failed ({right} of {len(hp_trials)} right, {hp['pass']} needed)"
                )
        if seconds is not None and seconds < min_seconds:
            a.failures.append(f"too fast ({seconds:g} s < {min_seconds:g} s)")
        for k, it in items.items():
            if it.kind == "defect" and answers[k] != it.expected:
                a.failures.append(
                    f"attention check: preferred the clip with the noise burst or no clip (pair {k})"
                )
            elif it.kind == "repeat" and it.repeat_of in answers:
                o1 = items[it.repeat_of].outcome(answers[it.repeat_of])
                o2 = it.outcome(answers[k])
                if "none" not in (o1, o2) and o1 != o2:
                    a.failures.append(
                        f"attention check: repeated pair {it.repeat_of}/{k} answered inconsistently"
                    )
        out.append(a)
    return out, issues


def _details(get, items: dict, hp_trials: list[dict]) -> dict[str, Any]:
    """What the page recorded besides the answers: headphone score, play counts and milliseconds per item."""
    from .headphones import score

    out: dict[str, Any] = {}
    if hp_trials:
        right, answered = score(
            {k: get(f"Answer.hp{k}") or "" for k in range(1, len(hp_trials) + 1)}, hp_trials
        )
        out["headphone_right"] = right
        out["headphone_trials"] = len(hp_trials)
    out["practice"] = get("Answer.practice") or ""
    for k in items:
        for f in ("plays_a", "plays_b", "ms"):
            v = get(f"Answer.pair{k}_{f}")
            out[f"pair{k}_{f}"] = int(v) if v and v.isdigit() else None
    page_ms = get("Answer.s2w_page_ms")
    out["page_ms"] = int(page_ms) if page_ms and page_ms.isdigit() else None
    return out


def _pref_row(
    sample: str, emotion: str, first: str, second: str, outcomes: list[tuple[str, str]], level: float
) -> dict[str, Any]:
    c = Counter(o for _, o in outcomes)
    n = len(outcomes)
    f, s, z = c["first"], c["second"], c["none"]
    ci = wilson_ci(f, n, level)
    return {
        "sample": sample,
        "emotion": emotion,
        "first": first,
        "second": second,
        "n": n,
        "first_count": f,
        "second_count": s,
        "none_count": z,
        "first_share": f / n if n else math.nan,
        "second_share": s / n if n else math.nan,
        "none_share": z / n if n else math.nan,
        "decisive": f + s,
        "p_value": binomial_test(f, f + s),
        "ci_low": ci.low,
        "ci_high": ci.high,
        "raters": len({w for w, _ in outcomes}),
    }


def _natural(s: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def analyse(
    header: list[str],
    rows: list[tuple[int, list[str]]],
    key: AnswerKey,
    *,
    min_seconds: float | None = None,
    max_fail_share: float = 0.0,
    level: float | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    light: bool = False,
    approve_excluded: bool = False,
    bonus: str | None = None,
) -> Analysis:
    design = key.design
    min_s = design.min_seconds if min_seconds is None else float(min_seconds)
    level = design.ci_level if level is None else float(level)
    assignments, issues = validate(header, rows, key, min_s)

    # raters
    per_worker: dict[str, list[Assignment]] = defaultdict(list)
    for a in assignments:
        per_worker[a.worker].append(a)
    workers = []
    excluded: set[str] = set()
    for w in sorted(per_worker):
        alist = per_worker[w]
        failed = [a for a in alist if a.failures and a.answers]
        share = len(failed) / len(alist)
        is_out = bool(failed) and share > max_fail_share
        if is_out:
            excluded.add(w)
        reasons = Counter(f.split(" (")[0] for a in failed for f in a.failures)
        workers.append(
            {
                "worker": w,
                "assignments": len(alist),
                "failed": len(failed),
                "failed_share": share,
                "excluded": is_out,
                "reasons": "; ".join(f"{r} x{n}" for r, n in sorted(reasons.items())),
            }
        )
    # decisions: only assignments still Submitted can be reviewed (an approval or rejection is final)
    approvals = []
    for a in sorted(assignments, key=lambda a: a.row):
        malformed = "malformed answers" in a.failures
        if not a.reviewable:
            decision, reason = f"none (already {a.status.lower()})", "; ".join(a.failures)
        elif a.failures and not (approve_excluded and not malformed):
            decision, reason = "reject", "; ".join(a.failures)
        else:
            decision = "approve"
            if a.failures:
                reason = "approved, data excluded: " + "; ".join(a.failures)
            elif a.worker in excluded:
                reason = "approved, data excluded: the rater failed checks in other tasks"
            else:
                reason = ""
        approvals.append(
            {
                "AssignmentId": a.assignment_id,
                "WorkerId": a.worker,
                "HITId": a.hit,
                "task_id": a.task,
                "row": a.row,
                "status": a.status,
                "seconds": a.seconds,
                "decision": decision,
                "reason": reason,
                "counted": bool(a.answers) and a.worker not in excluded,
                "bonus": bonus
                if bonus and float(bonus) > 0 and decision == "approve" and a.worker not in excluded
                else "",
                **a.extra,
            }
        )

    # outcomes of counted answers (real pairs only; a repeat only served as a check)
    counted = [a for a in assignments if a.answers and a.worker not in excluded]
    outcomes: dict[tuple[str, str, str], list[tuple[str, str]]] = defaultdict(list)  # (sample, first, second)
    comparisons: list[dict[str, Any]] = []  # one row per counted answer, the format of crowd-kit & co.
    emotions: dict[str, str] = {}
    kappa_tables: dict[tuple[str, int], Counter] = defaultdict(Counter)
    conditions = design.conditions
    ci_idx = {c: i for i, c in enumerate(conditions)}
    worker_ids = sorted({a.worker for a in counted})
    w_idx = {w: i for i, w in enumerate(worker_ids)}
    wins = np.zeros((len(worker_ids), len(conditions), len(conditions)))
    for a in counted:
        for k, it in key.tasks[a.task].items():
            if it.kind != "pair":
                continue
            o = it.outcome(a.answers[k])
            outcomes[(it.sample, it.first, it.second)].append((a.worker, o))
            comparisons.append(
                {
                    "worker": a.worker,
                    "task_id": a.task,
                    "sample": it.sample,
                    "left": it.first,
                    "right": it.second,
                    "label": it.first if o == "first" else it.second if o == "second" else "",
                }
            )
            emotions[it.sample] = it.emotion
            kappa_tables[(a.task, k)][o] += 1
            if it.first in ci_idx and it.second in ci_idx:
                i, j = ci_idx[it.first], ci_idx[it.second]
                wi = w_idx[a.worker]
                if o == "first":
                    wins[wi, i, j] += 1
                elif o == "second":
                    wins[wi, j, i] += 1
                else:
                    wins[wi, i, j] += 0.5
                    wins[wi, j, i] += 0.5

    for t in key.tasks.values():
        for it in t.values():
            emotions.setdefault(it.sample, it.emotion)
    all_samples = sorted(
        emotions, key=lambda s: (EMOTIONS.index(emotions[s]) if emotions[s] in EMOTIONS else 9, _natural(s))
    )
    prefs: list[dict[str, Any]] = []
    for first, second in design.pairs:
        for s in all_samples:
            prefs.append(
                _pref_row(s, emotions[s], first, second, outcomes.get((s, first, second), []), level)
            )
    for first, second in design.pairs:
        for e in EMOTIONS:
            pooled = [
                o for s in all_samples if emotions[s] == e for o in outcomes.get((s, first, second), [])
            ]
            if any(emotions[s] == e for s in all_samples):
                prefs.append(_pref_row("all", e, first, second, pooled, level))
        pooled = [o for s in all_samples for o in outcomes.get((s, first, second), [])]
        prefs.append(_pref_row("all", "all", first, second, pooled, level))

    bt = kappa = None
    if not light:
        if len(worker_ids) and wins.sum() > 0:
            res = bradley_terry_bootstrap(wins, conditions, n_resamples=n_resamples, level=level, seed=seed)
            share = np.exp(res.scores) / np.exp(res.scores).sum()
            rank = {c: r + 1 for r, c in enumerate(res.ranking())}
            bt = {
                "method": "Bradley-Terry (MM), ties as half wins, prior 0.1 pseudo-wins per cell; "
                f"percentile bootstrap over raters ({n_resamples} resamples)",
                "level": level,
                "table": [
                    {
                        "condition": c,
                        "rank": rank[c],
                        "score": res.scores[i],
                        "ci_low": res.ci_low[i],
                        "ci_high": res.ci_high[i],
                        "strength_share": float(share[i]),
                    }
                    for i, c in sorted(enumerate(conditions), key=lambda x: rank[x[1]])
                ],
            }
        cats = ("first", "second", "none")

        def kappa_of(pred) -> dict[str, Any]:
            table = [[kappa_tables[k][c] for c in cats] for k in sorted(kappa_tables) if pred(k)]
            return {"kappa": fleiss_kappa(table), "subjects": len(table)}

        by_pair = {}
        for first, second in design.pairs:
            keys = {
                (t, k)
                for t, items in key.tasks.items()
                for k, it in items.items()
                if it.kind == "pair" and (it.first, it.second) == (first, second)
            }
            by_pair[f"{first} x {second}"] = kappa_of(lambda k, keys=keys: k in keys)
        kappa = {
            "method": "Fleiss' kappa over (task, pair) subjects, categories first/second/none",
            "all": kappa_of(lambda k: True),
            "per_pair": by_pair,
        }

    settings = {
        "min_seconds": min_s,
        "max_fail_share": max_fail_share,
        "level": level,
        "n_resamples": n_resamples,
        "seed": seed,
        "allow_no_preference": design.allow_no_preference,
    }
    settings["approve_excluded"] = approve_excluded
    settings["bonus"] = bonus or ""
    return Analysis(
        key,
        settings,
        issues,
        assignments,
        workers,
        excluded,
        approvals,
        prefs,
        bt,
        kappa,
        len(rows),
        header,
        dict(rows),
        comparisons,
    )


def aggregate(
    results: str | Path,
    key_path: str | Path,
    out: str | Path | None = None,
    *,
    min_seconds: float | None = None,
    max_fail_share: float = 0.0,
    level: float | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    plots: bool = True,
    approve_excluded: bool = False,
    bonus: str | None = None,
    prolific_export: str | Path | None = None,
) -> tuple[Analysis, Path, list[Path]]:
    results = Path(results)
    key = load_key(key_path)
    if bonus is None:
        bonus = key.design.bonus
    try:
        if float(bonus) < 0:
            raise ValueError
    except ValueError:
        raise UsageError(f"bonus {bonus!r} is not an amount in dollars", fix="e.g. 0.25") from None
    bonus = f"{float(bonus):.2f}"
    header, rows = read_results(results)
    extra_notes: list[str] = []
    if prolific_export is not None or "PROLIFIC_PID" in header:
        from .prolific import read_prolific

        header, rows, extra_notes = read_prolific(results, prolific_export)
    elif {"Participant id", "Status"} <= set(header):
        raise DataError(
            "this is Prolific's participant export, not a results file",
            results,
            "pass the responses your study endpoint collected as the results and this file as the Prolific export",
        )
    try:
        analysis = analyse(
            header,
            rows,
            key,
            min_seconds=min_seconds,
            max_fail_share=max_fail_share,
            level=level,
            n_resamples=n_resamples,
            seed=seed,
            approve_excluded=approve_excluded,
            bonus=bonus,
        )
    except DataError as exc:
        if exc.path is None:
            exc.path = str(results)
            exc.args = (exc.format(),)
        raise
    analysis.settings["source"] = "prolific" if extra_notes or prolific_export is not None else "mturk"
    analysis.notes = extra_notes
    out_dir = Path(out) if out is not None else results.parent / "aggregate"
    files = write_outputs(analysis, out_dir, results, key)
    if plots:
        from .plots import plot_preferences

        files += plot_preferences(analysis.preferences, out_dir, key.design.conditions)
    return analysis, out_dir, files


def write_outputs(an: Analysis, out_dir: Path, results: Path, key: AnswerKey) -> list[Path]:
    proto = (key.manifest or {}).get("protocol")
    prov = provenance(
        command="s2w-eval survey aggregate",
        seeds={"bootstrap": an.settings["seed"]},
        protocol=proto,
        extra={
            "inputs": {
                "results": str(results),
                "results_sha256": sha256_file(results),
                "answer_key": str(key.path),
                "answer_key_sha256": sha256_file(key.path),
            }
        },
    )
    files = [
        atomic_write_csv(out_dir / "preferences.csv", an.preferences, PREF_COLUMNS),
        atomic_write_csv(out_dir / "approvals.csv", *review_file(an)),
        atomic_write_csv(
            out_dir / "assignments.csv", an.approvals, _columns(an.approvals, ASSIGNMENT_COLUMNS)
        ),
        atomic_write_csv(out_dir / "blocklist.csv", block_list(an), ("WorkerId", "reason")),
        atomic_write_csv(
            out_dir / "comparisons.csv",
            an.comparisons,
            ("worker", "task_id", "sample", "left", "right", "label"),
        ),
        atomic_write_csv(
            out_dir / "raters.csv",
            an.workers,
            ("worker", "assignments", "failed", "failed_share", "excluded", "reasons"),
        ),
    ]
    bonuses = bonus_rows(an)
    if bonuses:
        files.append(atomic_write_csv(out_dir / "bonuses.csv", bonuses, BONUS_COLUMNS))
    if an.bradley_terry:
        files.append(atomic_write_csv(out_dir / "ranking.csv", an.bradley_terry["table"]))
    counts = {c: len(v) for c, v in an.issues.items()}
    summary = {
        "provenance": prov,
        "settings": an.settings,
        "validation": {
            "rows": an.n_rows,
            "assignments_valid": sum(1 for a in an.assignments if a.answers),
            "counts": counts,
            "issues": an.issues,
        },
        "raters": {"total": len(an.workers), "excluded": sorted(an.excluded), "table": an.workers},
        "assignments": {
            "approve": sum(1 for a in an.approvals if a["decision"] == "approve"),
            "reject": sum(1 for a in an.approvals if a["decision"] == "reject"),
            "already_reviewed": sum(1 for a in an.approvals if a["decision"].startswith("none")),
            "bonuses": len(bonuses),
        },
        "preferences": an.preferences,
        "bradley_terry": an.bradley_terry,
        "fleiss_kappa": an.kappa,
        "notes": key.notes
        + an.notes
        + [
            "p_value: two-sided exact binomial (sign) test of first vs second over the decisive answers; "
            "ci_low/ci_high: Wilson interval of first_share over all n answers. Answers of one rater are "
            "pooled across samples as if independent; the Bradley-Terry CIs resample raters instead."
        ],
    }
    files.append(atomic_write_json(out_dir / "survey.json", summary))
    return files


ASSIGNMENT_COLUMNS = (
    "row",
    "AssignmentId",
    "WorkerId",
    "HITId",
    "task_id",
    "status",
    "seconds",
    "decision",
    "reason",
    "counted",
    "bonus",
    "headphone_right",
    "headphone_trials",
    "practice",
    "page_ms",
)
BONUS_COLUMNS = ("WorkerId", "AssignmentId", "BonusAmount", "Reason")


def _columns(rows: list[dict[str, Any]], first: tuple[str, ...]) -> list[str]:
    cols = [c for c in first if any(c in r for r in rows)] if rows else list(first)
    for r in rows:
        cols += [k for k in r if k not in cols]
    return cols


def review_file(an: Analysis) -> tuple[list[dict[str, Any]], list[str]]:
    """approvals.csv in MTurk's offline-review format: the results file's own rows and columns, with
    `Approve` ("x") or `Reject` (the reason the worker sees) filled in, for Submitted assignments only."""
    header = [h for h in an.header if h not in ("Approve", "Reject")] + ["Approve", "Reject"]
    rows = []
    for d in an.approvals:
        if d["decision"] not in ("approve", "reject"):
            continue
        cells = an.raw_rows.get(d["row"], [])
        rec = {h: unneutralise(c) for h, c in zip(an.header, cells) if h not in ("Approve", "Reject")}
        rec["Approve"] = "x" if d["decision"] == "approve" else ""
        rec["Reject"] = d["reason"] if d["decision"] == "reject" else ""
        rows.append(rec)
    return rows, header


def block_list(an: Analysis) -> list[dict[str, Any]]:
    """The workers excluded for failed checks, with why (for `survey review --block` or the Requester UI)."""
    return [
        {"WorkerId": w["worker"], "reason": f"failed quality checks in s2w listening test: {w['reasons']}"}
        for w in an.workers
        if w["excluded"]
    ]


def bonus_rows(an: Analysis) -> list[dict[str, Any]]:
    return [
        {
            "WorkerId": d["WorkerId"],
            "AssignmentId": d["AssignmentId"],
            "BonusAmount": d["bonus"],
            "Reason": "Thank you: you passed every quality check of this listening test.",
        }
        for d in an.approvals
        if d["bonus"]
    ]


def console_tables(an: Analysis, fmt: str = "github") -> str:
    """The aggregate's console tables, through the one table renderer (report.tables)."""
    from ..report.tables import Table, render_table

    tablefmt = {"latex": "tex"}.get(fmt, fmt)

    def table_text(rows, headers) -> str:
        return render_table(
            Table("", [str(h) for h in headers], [[str(c) for c in r] for r in rows]), tablefmt
        )

    def pct(x: float) -> str:
        return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"

    def pv(x: float) -> str:
        return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"

    parts = []
    counts = {c.replace("_", " "): len(v) for c, v in an.issues.items()}
    valid = sum(1 for a in an.assignments if a.answers)
    parts.append(
        table_text(
            [[an.n_rows, valid, len(an.workers), len(an.excluded)] + list(counts.values())],
            headers=["rows", "valid", "raters", "excluded"] + list(counts),
        )
    )
    rows = [
        [
            r["first"],
            r["second"],
            r["emotion"],
            r["n"],
            pct(r["first_share"]),
            pct(r["second_share"]),
            pct(r["none_share"]),
            pv(r["p_value"]),
            f"{pct(r['ci_low'])}-{pct(r['ci_high'])}",
        ]
        for r in an.preferences
        if r["sample"] == "all"
    ]
    parts.append(
        table_text(
            rows,
            headers=[
                "first",
                "second",
                "emotion",
                "n",
                "first",
                "second",
                "none",
                "p",
                f"{an.settings['level']:.0%} CI (first)",
            ],
        )
    )
    samples = []
    for r in an.preferences:
        if r["sample"] != "all" and r["sample"] not in samples:
            samples.append(r["sample"])
    pairs = list(an.key.design.pairs)
    by = {(r["sample"], r["first"], r["second"]): r for r in an.preferences}
    srows = []
    for s in samples:
        line = [s, next(r["emotion"] for r in an.preferences if r["sample"] == s)]
        for f, sec in pairs:
            r = by[(s, f, sec)]
            line.append(
                f"{pct(r['first_share'])} / {pct(r['second_share'])}"
                + (f" / {pct(r['none_share'])}" if an.settings["allow_no_preference"] else "")
                + f" (n={r['n']})"
            )
        srows.append(line)
    parts.append(table_text(srows, headers=["sample", "emotion"] + [f"{f} / {s}" for f, s in pairs]))
    if an.bradley_terry:
        parts.append(
            table_text(
                [
                    [
                        t["rank"],
                        t["condition"],
                        f"{t['score']:+.3f}",
                        f"[{t['ci_low']:+.3f}, {t['ci_high']:+.3f}]",
                        pct(t["strength_share"]),
                    ]
                    for t in an.bradley_terry["table"]
                ],
                headers=["rank", "condition", "BT score", f"{an.settings['level']:.0%} CI", "strength"],
            )
        )
    if an.kappa:
        krows = [["all", pv(an.kappa["all"]["kappa"]), an.kappa["all"]["subjects"]]]
        krows += [[k, pv(v["kappa"]), v["subjects"]] for k, v in an.kappa["per_pair"].items()]
        parts.append(table_text(krows, headers=["Fleiss' kappa", "kappa", "subjects"]))
    if fmt == "json":  # one JSON document: every table, in the order the other formats print them
        import json

        return json.dumps({"tables": [json.loads(p) for p in parts]}, indent=2, ensure_ascii=False)
    return "\n\n".join(parts)
