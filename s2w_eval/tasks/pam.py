"""PAM as a task: the perceptual distance from each condition's clip to the reference clip of the same sample.

Embedding metrics (CDPAM) embed each clip once (the reference's embedding is shared by every condition) through
the verified embedding cache; pairwise metrics (DPAM) compare the two loaded clips. Rows: one per sample x
condition x metric (pam.csv); summary: metrics.pam.summarize (Table 3's shape, bootstrap CIs, wins, Wilcoxon).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, S2WError, UsageError
from ..features.base import PerceptualMetric
from ..io.audio import probe_audio
from ..metrics.pam import DPAM_LOADERS, METRIC_NAMES, summarize
from ..vocab import did_you_mean
from .base import Context, Item, Task, compared_conditions, items_of

PAM_COLUMNS = (
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
)


def build_metrics(
    names: Sequence[str], dpam_loader: str = "modern", device: str = "cpu", precision: str = "float32"
) -> list[PerceptualMetric]:
    """Instantiate metrics by name: 'cdpam', 'dpam' (= dpam-scratch), 'dpam-finetune', 'dpam-linear'."""
    metrics: list[PerceptualMetric] = []
    for name in names:
        if name == "cdpam":
            from ..features.cdpam import CDPAMMetric

            kwargs = {"precision": precision} if precision != "float32" else {}
            metrics.append(CDPAMMetric(device=device, **kwargs))
        elif name in METRIC_NAMES and name.startswith("dpam"):
            if dpam_loader not in DPAM_LOADERS:
                raise UsageError(
                    f"unknown DPAM loader {dpam_loader!r}{did_you_mean(dpam_loader, DPAM_LOADERS)}; "
                    f"choose from {', '.join(DPAM_LOADERS)}"
                )
            from ..features.dpam import DPAMMetric

            checkpoint = name.split("-", 1)[1] if "-" in name else "scratch"
            metrics.append(DPAMMetric(checkpoint=checkpoint, loader=dpam_loader, device=device))
        else:
            raise UsageError(
                f"unknown metric {name!r}{did_you_mean(name, METRIC_NAMES)}; choose from {', '.join(METRIC_NAMES)}"
            )
    return metrics


@dataclass
class _Info:
    sample_rate: int | None = None
    duration: float | None = None


class PamTask(Task):
    name = "pam"
    command = "s2w-eval pam"
    columns = PAM_COLUMNS
    finite_columns = ("distance",)
    unit = "pair"
    console_columns = ("sample", "emotion", "condition", "metric", "distance")

    def __init__(
        self,
        metrics: Sequence[PerceptualMetric],
        reference: str = "target",
        conditions: Sequence[str] | None = None,
        batch_size: int = 1,
        seed: int = 0,
    ):
        self.metrics = {m.name: m for m in metrics}
        self.reference = reference
        self.conditions = list(conditions) if conditions else None
        self.batch_size = batch_size
        self.seed = seed
        self._info: dict[Path, _Info] = {}

    # -- items and keys ---------------------------------------------------------------------------------

    def items(self, ctx: Context) -> list[Item]:
        run = ctx.run
        conds = self.scored_conditions = compared_conditions(ctx, self.reference, self.conditions)
        return items_of(run, conds, list(self.metrics), self.reference)

    def key_params(self, item: Item) -> Mapping[str, Any]:
        m = self.metrics[item.variant]
        return {
            "metric": m.name,
            "weights": m.weights_sha256,
            "loader": m.loader,
            "sample_rate": m.sample_rate,
            "reference": self.reference,
        }

    # -- computing --------------------------------------------------------------------------------------

    def _info_of(self, path: Path) -> _Info:
        if path not in self._info:
            info = probe_audio(path)
            self._info[path] = _Info(info.sample_rate, info.duration)
        return self._info[path]

    def _row(self, item: Item, distance: float, ctx: Context) -> dict[str, Any] | S2WError:
        m = self.metrics[item.variant]
        try:
            out, ref = self._info_of(item.path), self._info_of(item.reference)
        except DataError as exc:
            return exc
        return {
            "metric": m.name,
            "distance": float(distance),
            "reference": self.reference,
            "duration_s": out.duration,
            "ref_duration_s": ref.duration,
            "sample_rate": out.sample_rate,
            "ref_sample_rate": ref.sample_rate,
            "metric_sample_rate": m.sample_rate if m.sample_rate else "native",
            "loader": m.loader,
            "file": ctx.relative(item.path),
            "ref_file": ctx.relative(item.reference),
            "sha256": ctx.digests[item.path],
            "ref_sha256": ctx.digests[item.reference],
        }

    def compute(
        self, items: Sequence[Item], ctx: Context
    ) -> Iterator[tuple[Item, dict[str, Any] | S2WError]]:
        for name, m in self.metrics.items():
            mine = [i for i in items if i.variant == name]
            if not mine:
                continue
            scored = self._embedding_pairs(m, mine, ctx) if m.embeds else self._pairwise(m, mine, ctx)
            for item, result in scored:
                ctx.advance(1)
                if isinstance(result, S2WError):
                    yield item, result
                else:
                    yield item, self._row(item, result, ctx)

    def _load(self, m: PerceptualMetric, path: Path, failed: dict[Path, S2WError]) -> np.ndarray | None:
        if path in failed:
            return None
        try:
            return m.load(path)
        except DataError as exc:
            failed[path] = exc
            return None

    def _embedding_pairs(self, m: PerceptualMetric, items: Sequence[Item], ctx: Context):
        """Each clip embedded once, in item order, batched by equal length; a pair is scored as soon as both
        of its embeddings exist, so a kill loses little."""
        namespace = (m.name, m.weights_sha256[:16], str(m.sample_rate or "native"))
        shape = getattr(m, "embedding_shape", None)
        emb: dict[str, np.ndarray] = {}
        failed: dict[Path, S2WError] = {}
        order: list[Path] = list(dict.fromkeys(p for i in items for p in (i.reference, i.path)))
        waiting = list(items)

        def ready():
            nonlocal waiting
            still = []
            for item in waiting:
                bad = failed.get(item.reference) or failed.get(item.path)
                if bad is not None:
                    yield item, bad
                    continue
                a, b = emb.get(ctx.digests[item.path]), emb.get(ctx.digests[item.reference])
                if a is not None and b is not None:
                    yield item, m.distance(a, b)
                else:
                    still.append(item)
            waiting = still

        batch: list[tuple[Path, np.ndarray]] = []

        def flush():
            if batch:
                vectors = m.embed([x for _, x in batch])
                for (path, _), v in zip(batch, vectors, strict=True):
                    digest = ctx.digests[path]
                    emb[digest] = v
                    ctx.cache.put(namespace, digest, v)
                batch.clear()

        for path in order:
            digest = ctx.digests[path]
            if digest in emb:
                continue
            hit = ctx.cache.get(namespace, digest, shape=shape)
            if hit is not None:
                emb[digest] = hit
                yield from ready()
                continue
            x = self._load(m, path, failed)
            if x is None:
                yield from ready()
                continue
            if batch and (len(batch) >= self.batch_size or len(batch[0][1]) != len(x)):
                flush()
                yield from ready()
            batch.append((path, x))
        flush()
        yield from ready()

    def _pairwise(self, m: PerceptualMetric, items: Sequence[Item], ctx: Context):
        """Both clips loaded, compared; references are visited one sample at a time (memory stays flat)."""
        failed: dict[Path, S2WError] = {}
        loaded: dict[Path, np.ndarray | None] = {}
        batched = hasattr(m, "pair_distances")
        group: list[tuple[Item, np.ndarray, np.ndarray]] = []

        def flush():
            if not group:
                return
            if batched and len(group) > 1:
                ds = m.pair_distances([(x, r) for _, x, r in group])
            else:
                ds = [m.pair_distance(x, r) for _, x, r in group]
            for (item, _, _), d in zip(group, ds, strict=True):
                yield item, d
            group.clear()

        current = None
        for item in items:
            if current is not None and item.reference != current:
                loaded.pop(current, None)
            current = item.reference
            for p in (item.reference, item.path):
                if p not in loaded:
                    loaded[p] = self._load(m, p, failed)
            r, x = loaded[item.reference], loaded[item.path]
            if r is None or x is None:
                yield item, failed.get(item.reference) or failed[item.path]
                continue
            group.append((item, x, r))
            if len(group) >= self.batch_size:
                yield from flush()
            if item.path != item.reference:
                loaded.pop(item.path, None)
        yield from flush()

    # -- results ----------------------------------------------------------------------------------------

    def summarize(self, rows, ctx: Context) -> dict[str, Any]:
        return summarize(rows, reference=self.reference, seed=self.seed)

    def validity(self, rows, ctx: Context) -> dict[str, Any] | None:
        from .checks import run_validity

        return run_validity(ctx, self.scored_conditions, self.reference)

    def document(self, rows, summary, ctx: Context) -> dict[str, Any]:
        return {
            "run": ctx.run.name,
            "run_path": str(ctx.run.root),
            "reference": self.reference,
            "conditions": self.scored_conditions,
            "metrics": {m.name: m.describe() for m in self.metrics.values()},
            "summary": summary,
        }

    def tables(self, rows, doc, title: str) -> list:
        return pam_tables(rows, doc["summary"], title)


def pam_tables(
    rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any], title: str | None = None
) -> list:
    """The paper's Table 3 shape per metric (a row per sample, a column per condition, the closest in bold),
    its statistics per condition, and its paired comparisons."""
    from ..report.tables import Table, fmt_ci, fmt_float

    out = []
    for metric, ms in summary.items():
        mrows = [r for r in rows if r["metric"] == metric]
        conds = list(ms["conditions"])
        samples = list(dict.fromkeys(r["sample"] for r in mrows))
        val = {(r["sample"], r["condition"]): float(r["distance"]) for r in mrows}
        emo = {r["sample"]: r["emotion"] for r in mrows}
        t3 = Table(
            f"{title + ': ' if title else ''}{metric} distance to {ms['reference']!r} (lower is closer)",
            ["sample", "emotion", *conds],
            [],
        )
        for i, s in enumerate(samples):
            t3.rows.append(
                [s, emo.get(s, ""), *(fmt_float(val.get((s, c)), 4) if (s, c) in val else "" for c in conds)]
            )
            if len(conds) > 1:
                t3.bold |= {(i, 2 + j) for j, c in enumerate(conds) if c in ms["best_per_sample"].get(s, [])}
        stat = Table(
            "",
            ["condition", "n", "mean", "median", "bootstrap 95% CI of mean"],
            [
                [
                    c,
                    str(d["n"]),
                    fmt_float(d["mean"]),
                    fmt_float(d["median"]),
                    fmt_ci(d["ci95_low"], d["ci95_high"]),
                ]
                for c, d in ms["conditions"].items()
            ],
        )
        out += [t3, stat]
        if ms["pairs"]:
            out.append(
                Table(
                    "",
                    ["pair (a vs b)", "n", "a closer", "b closer", "ties", "Wilcoxon p"],
                    [
                        [
                            f"{p['a']} vs {p['b']}",
                            str(p["n"]),
                            str(p["a_wins"]),
                            str(p["b_wins"]),
                            str(p["ties"]),
                            fmt_float(p["p_value"]),
                        ]
                        for p in ms["pairs"]
                    ],
                )
            )
    return out
