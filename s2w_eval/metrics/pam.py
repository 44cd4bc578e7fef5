"""PAM: perceptual distance from each condition's clip to the reference clip of the same sample.

Flow: runs (io.runs) -> load clips in each metric's convention -> embeddings (cached by content) or pairwise
distances -> per-item rows, committed to a journal as they finish (resumable) -> pam.csv / pam.json
(aggregates: mean, median, bootstrap CI, wins and paired Wilcoxon per pair of conditions) -> Table 3-shaped
console tables.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, Problem, UsageError
from ..features.base import PerceptualMetric
from ..features.cache import EmbeddingCache
from ..io.audio import probe_audio
from ..io.runs import Run
from ..results import ItemJournal, atomic_write_csv, atomic_write_json, provenance, sha256_file
from ..stats import bootstrap_ci, paired_wilcoxon

METRIC_NAMES = ("cdpam", "dpam", "dpam-scratch", "dpam-finetune", "dpam-linear")
DPAM_LOADERS = ("paper2020", "modern")
PAM_COLUMNS = [
    "sample",
    "emotion",
    "condition",
    "metric",
    "distance",
    "reference",
    "duration_s",
    "ref_duration_s",
    "sample_rate",
    "ref_sample_rate",
    "metric_sample_rate",
    "loader",
    "file",
    "ref_file",
    "sha256",
    "ref_sha256",
]
JOURNAL_NAME = ".pam.journal.jsonl"


def build_metrics(
    names: Sequence[str], dpam_loader: str = "modern", device: str = "cpu"
) -> list[PerceptualMetric]:
    """Instantiate metrics by name: 'cdpam', 'dpam' (= dpam-scratch), 'dpam-finetune', 'dpam-linear'."""
    metrics: list[PerceptualMetric] = []
    for name in names:
        if name == "cdpam":
            from ..features.cdpam import CDPAMMetric

            metrics.append(CDPAMMetric(device=device))
        elif name.startswith("dpam"):
            if dpam_loader not in DPAM_LOADERS:
                raise UsageError(
                    f"unknown DPAM loader {dpam_loader!r}; choose from {', '.join(DPAM_LOADERS)}"
                )
            from ..features.dpam import DPAMMetric

            checkpoint = name.split("-", 1)[1] if "-" in name else "scratch"
            metrics.append(DPAMMetric(checkpoint=checkpoint, loader=dpam_loader, device=device))
        else:
            raise UsageError(f"unknown metric {name!r}; choose from {', '.join(METRIC_NAMES)}")
    return metrics


@dataclass
class _Clip:
    path: Path
    sha256: str
    data: np.ndarray | None = None
    file_sr: int | None = None
    duration: float | None = None


@dataclass
class RunScore:
    run: Run
    out_dir: Path
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)
    computed: int = 0
    reused: int = 0


def _file_info(path: Path) -> tuple[int, float]:
    info = probe_audio(path)
    return info.sample_rate, info.duration


def _item_key(metric: PerceptualMetric, sample: str, condition: str, ref: _Clip, out: _Clip) -> str:
    return "|".join([metric.name, metric.weights_sha256[:16], sample, condition, ref.sha256, out.sha256])


def score_run(
    run: Run,
    metrics: Sequence[PerceptualMetric],
    out_dir: Path,
    reference: str = "target",
    conditions: Sequence[str] | None = None,
    batch_size: int = 1,
    cache: EmbeddingCache | None = None,
    seed: int = 0,
    progress: bool | None = None,
    protocol: dict[str, Any] | None = None,
    on_item: Callable[[dict[str, Any]], None] | None = None,
) -> RunScore:
    """Score one run; write pam.csv and pam.json into out_dir; return the rows and the summary."""
    from tqdm import tqdm

    problems: list[Problem] = list(run.problems)
    cache = cache or EmbeddingCache(enabled=False)
    if reference not in run.conditions:
        raise DataError(
            f"reference condition {reference!r} not found (conditions: "
            f"{', '.join(sorted(run.conditions)) or 'none'})",
            run.root,
            "use --reference to name the reference folder",
        )
    available = [c for c in sorted(run.conditions) if c != reference]
    if conditions:
        unknown = [c for c in conditions if c not in run.conditions]
        for c in unknown:
            problems.append(Problem(str(run.root / c), f"condition {c!r} not found in run {run.name!r}"))
        todo_conditions = [c for c in conditions if c in run.conditions and c != reference]
    else:
        todo_conditions = available
    if not todo_conditions:
        raise DataError(
            f"nothing to compare with the reference {reference!r}",
            run.root,
            "add condition folders or fix --conditions",
        )

    out_dir.mkdir(parents=True, exist_ok=True)
    journal = ItemJournal(out_dir / JOURNAL_NAME)
    clips: dict[Path, _Clip] = {}
    bad_files: set[Path] = set()

    def clip_of(path: Path) -> _Clip | None:
        if path in bad_files:
            return None
        if path not in clips:
            try:
                clips[path] = _Clip(path, sha256_file(path))
            except OSError as exc:
                problems.append(Problem(str(path), f"unreadable file ({exc})"))
                bad_files.add(path)
                return None
        return clips[path]

    # Items in a stable order: sample, then condition.
    items: list[tuple[str, str, _Clip, _Clip]] = []
    for s in run.samples:
        ref_path = run.clip(reference, s.id)
        if ref_path is None:
            continue  # already reported by run discovery as missing
        for cond in todo_conditions:
            out_path = run.clip(cond, s.id)
            if out_path is None:
                continue
            ref, out = clip_of(ref_path), clip_of(out_path)
            if ref is not None and out is not None:
                items.append((s.id, cond, ref, out))

    emotion = {s.id: s.emotion for s in run.samples}
    rows_by_key: dict[str, dict[str, Any]] = {}
    computed = reused = 0

    def finish(metric: PerceptualMetric, sample: str, cond: str, ref: _Clip, out: _Clip, dist: float) -> None:
        nonlocal computed
        row = {
            "sample": sample,
            "emotion": emotion[sample],
            "condition": cond,
            "metric": metric.name,
            "distance": float(dist),
            "reference": reference,
            "duration_s": out.duration,
            "ref_duration_s": ref.duration,
            "sample_rate": out.file_sr,
            "ref_sample_rate": ref.file_sr,
            "metric_sample_rate": metric.sample_rate if metric.sample_rate else "native",
            "loader": metric.loader,
            "file": str(out.path.relative_to(run.root)),
            "ref_file": str(ref.path.relative_to(run.root)),
            "sha256": out.sha256,
            "ref_sha256": ref.sha256,
        }
        key = _item_key(metric, sample, cond, ref, out)
        journal.add(key, row)
        rows_by_key[key] = row
        computed += 1
        if on_item:
            on_item(row)

    def load(metric: PerceptualMetric, clip: _Clip) -> np.ndarray | None:
        if clip.path in bad_files:
            return None
        try:
            x = metric.load(clip.path)
            if clip.file_sr is None:
                clip.file_sr, clip.duration = _file_info(clip.path)
            return x
        except DataError as exc:
            problems.append(Problem.from_error(exc))
            bad_files.add(clip.path)
            return None

    try:
        for metric in metrics:
            pending = []
            for sample, cond, ref, out in items:
                key = _item_key(metric, sample, cond, ref, out)
                if key in journal:
                    rows_by_key[key] = journal.get(key)
                    reused += 1
                else:
                    pending.append((sample, cond, ref, out))
            if not pending:
                continue
            bar = tqdm(
                total=len(pending),
                desc=f"{run.name} {metric.name}",
                unit="pair",
                disable=progress is False if progress is not None else None,
                leave=False,
            )
            if metric.embeds:
                _score_embedding_metric(metric, pending, cache, batch_size, load, finish, bar)
            else:
                _score_pairwise_metric(metric, pending, load, finish, bar, batch_size)
            bar.close()
    finally:
        journal.close()

    # Rows of the current items only (stale journal rows of changed files are ignored), in item order.
    rows: list[dict[str, Any]] = []
    for metric in metrics:
        for sample, cond, ref, out in items:
            row = rows_by_key.get(_item_key(metric, sample, cond, ref, out))
            if row is not None:
                rows.append(row)
    summary = summarize(rows, reference=reference, seed=seed)
    result = {
        "run": run.name,
        "run_path": str(run.root),
        "reference": reference,
        "conditions": todo_conditions,
        "metrics": {m.name: m.describe() for m in metrics},
        "summary": summary,
        "counts": {
            "rows": len(rows),
            "computed": computed,
            "reused": reused,
            "expected": len(items) * len(metrics),
            "problems": len(problems),
        },
        "problems": [p.format() for p in problems],
        "provenance": provenance(
            command="s2w-eval pam",
            seeds={"bootstrap": seed},
            protocol=protocol,
            extra={"cache_dir": str(cache.root) if cache.enabled else None},
        ),
    }
    atomic_write_csv(out_dir / "pam.csv", rows, PAM_COLUMNS)
    atomic_write_json(out_dir / "pam.json", result)
    return RunScore(run, out_dir, rows, result, problems, computed, reused)


def _score_embedding_metric(metric, pending, cache, batch_size, load, finish, bar) -> None:
    namespace = (metric.name, metric.weights_sha256[:16], str(metric.sample_rate or "native"))
    emb: dict[str, np.ndarray] = {}  # by content hash
    failed: set[str] = set()
    # The clips to embed, in item order (a clip shared by several items, like the reference, once).
    order: list = []
    seen: set[str] = set()
    for _, _, ref, out in pending:
        for clip in (ref, out):
            if clip.sha256 not in seen:
                seen.add(clip.sha256)
                order.append(clip)
    waiting = list(pending)

    def emit() -> None:
        nonlocal waiting
        still = []
        for item in waiting:
            sample, cond, ref, out = item
            if ref.sha256 in failed or out.sha256 in failed:
                bar.update(1)
                continue
            if ref.sha256 in emb and out.sha256 in emb:
                finish(metric, sample, cond, ref, out, metric.distance(emb[out.sha256], emb[ref.sha256]))
                bar.update(1)
            else:
                still.append(item)
        waiting = still

    batch: list[tuple[Any, np.ndarray]] = []

    def flush() -> None:
        if batch:
            vectors = metric.embed([x for _, x in batch])
            for (clip, _), v in zip(batch, vectors):
                emb[clip.sha256] = v
                cache.put(namespace, clip.sha256, v)
            batch.clear()
            emit()

    for clip in order:
        hit = cache.get(namespace, clip.sha256)
        if hit is not None:
            emb[clip.sha256] = hit
            if clip.file_sr is None:
                try:
                    clip.file_sr, clip.duration = _file_info(clip.path)
                except DataError:
                    pass
            emit()
            continue
        x = load(metric, clip)
        if x is None:
            failed.add(clip.sha256)
            emit()
            continue
        if batch and (len(batch) >= batch_size or len(batch[0][1]) != len(x)):
            flush()
        batch.append((clip, x))
    flush()
    emit()


def _score_pairwise_metric(metric, pending, load, finish, bar, batch_size) -> None:
    loaded: dict[str, np.ndarray | None] = {}

    def get(clip):
        if clip.sha256 not in loaded:
            loaded[clip.sha256] = load(metric, clip)
        return loaded[clip.sha256]

    batched = hasattr(metric, "pair_distances")
    group: list[tuple] = []

    def flush() -> None:
        if not group:
            return
        if batched and len(group) > 1:
            ds = metric.pair_distances([(x, r) for *_, x, r in group])
        else:
            ds = [metric.pair_distance(x, r) for *_, x, r in group]
        for (sample, cond, ref, out, _, _), d in zip(group, ds):
            finish(metric, sample, cond, ref, out, d)
            bar.update(1)
        group.clear()

    current_ref = None
    for sample, cond, ref, out in pending:
        if current_ref is not None and ref.sha256 != current_ref:
            loaded.pop(current_ref, None)  # keep memory flat: references are visited one sample at a time
        current_ref = ref.sha256
        r, x = get(ref), get(out)
        if r is None or x is None:
            bar.update(1)
            continue
        group.append((sample, cond, ref, out, x, r))
        if len(group) >= batch_size:
            flush()
    flush()


def summarize(rows: Iterable[dict[str, Any]], reference: str = "target", seed: int = 0) -> dict[str, Any]:
    """Per metric: per condition n, mean, median, bootstrap 95% CI; per pair of conditions: wins, Wilcoxon."""
    rows = list(rows)
    out: dict[str, Any] = {}
    for metric in dict.fromkeys(r["metric"] for r in rows):
        mrows = [r for r in rows if r["metric"] == metric]
        conds = list(dict.fromkeys(r["condition"] for r in mrows))
        table: dict[str, dict[str, float]] = {c: {} for c in conds}
        for r in mrows:
            table[r["condition"]][r["sample"]] = float(r["distance"])
        per_cond = {}
        for c in conds:
            vals = np.array(list(table[c].values()), dtype=np.float64)
            ci = bootstrap_ci(vals, np.mean, seed=seed)
            per_cond[c] = {
                "n": int(vals.size),
                "mean": float(vals.mean()) if vals.size else math.nan,
                "median": float(np.median(vals)) if vals.size else math.nan,
                "std": float(vals.std(ddof=1)) if vals.size > 1 else math.nan,
                "ci95_low": ci.low,
                "ci95_high": ci.high,
            }
        pairs = []
        for a, b in itertools.combinations(conds, 2):
            common = [s for s in table[a] if s in table[b]]
            cmp = paired_wilcoxon([table[a][s] for s in common], [table[b][s] for s in common])
            better = a if cmp.a_wins > cmp.b_wins else b if cmp.b_wins > cmp.a_wins else None
            pairs.append(
                {
                    "a": a,
                    "b": b,
                    "n": cmp.n,
                    "a_wins": cmp.a_wins,
                    "b_wins": cmp.b_wins,
                    "ties": cmp.ties,
                    "wilcoxon_statistic": cmp.statistic,
                    "p_value": cmp.p_value,
                    "better_by_wins": better,
                }
            )
        samples = list(dict.fromkeys(r["sample"] for r in mrows))
        best = {}
        for s in samples:
            vals = {c: table[c][s] for c in conds if s in table[c]}
            if vals:
                lo = min(vals.values())
                best[s] = [c for c, v in vals.items() if v == lo]
        out[metric] = {
            "reference": reference,
            "lower_is_better": True,
            "conditions": per_cond,
            "pairs": pairs,
            "best_per_sample": best,
            "bootstrap": {"resamples": 10_000, "level": 0.95, "seed": seed, "statistic": "mean"},
        }
    return out


def format_tables(
    rows: Sequence[dict[str, Any]], summary: dict[str, Any], fmt: str = "github", title: str | None = None
) -> str:
    """The paper's Table 3 shape per metric: a row per sample, a column per condition, the lowest marked."""
    from tabulate import tabulate

    mark = {"latex": lambda s: f"\\textbf{{{s}}}", "github": lambda s: f"**{s}**"}.get(fmt, lambda s: f"{s}*")
    if fmt == "csv":
        from ..results import rows_to_csv

        return rows_to_csv(rows, ["sample", "emotion", "condition", "metric", "distance"])
    parts = []
    for metric, ms in summary.items():
        mrows = [r for r in rows if r["metric"] == metric]
        conds = list(ms["conditions"])
        samples = list(dict.fromkeys(r["sample"] for r in mrows))
        val = {(r["sample"], r["condition"]): float(r["distance"]) for r in mrows}
        emo = {r["sample"]: r["emotion"] for r in mrows}
        body = []
        for s in samples:
            cells = []
            for c in conds:
                v = val.get((s, c))
                if v is None:
                    cells.append("")
                else:
                    txt = f"{v:.4f}"
                    cells.append(
                        mark(txt) if c in ms["best_per_sample"].get(s, []) and len(conds) > 1 else txt
                    )
            body.append([s, emo.get(s, "")] + cells)
        head = f"{title + ': ' if title else ''}{metric} distance to {ms['reference']!r} (lower is closer)"
        parts.append(head)
        parts.append(
            tabulate(body, headers=["sample", "emotion"] + conds, tablefmt=fmt, disable_numparse=True)
        )
        stat = [
            [c, d["n"], _f(d["mean"]), _f(d["median"]), f"[{_f(d['ci95_low'])}, {_f(d['ci95_high'])}]"]
            for c, d in ms["conditions"].items()
        ]
        parts.append(
            tabulate(
                stat,
                headers=["condition", "n", "mean", "median", "bootstrap 95% CI of mean"],
                tablefmt=fmt,
                disable_numparse=True,
            )
        )
        if ms["pairs"]:
            pr = [
                [f"{p['a']} vs {p['b']}", p["n"], p["a_wins"], p["b_wins"], p["ties"], _f(p["p_value"])]
                for p in ms["pairs"]
            ]
            parts.append(
                tabulate(
                    pr,
                    headers=["pair (a vs b)", "n", "a closer", "b closer", "ties", "Wilcoxon p"],
                    tablefmt=fmt,
                    disable_numparse=True,
                )
            )
        parts.append("")
    return "\n\n".join(parts)


def _f(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:.4f}"
