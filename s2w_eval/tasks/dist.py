"""Distribution distances as a task: how far each condition's set of clips lies from the reference set.

One item per condition x embedding x distance (variant "kad/cdpam"); its key holds the content hashes of every
clip of both sets, so adding, removing or changing a clip recomputes it. Each clip is embedded once per
embedding through the verified embedding cache (the reference set's embeddings serve every condition), so a
rerun or a second run sharing clips embeds nothing twice. The sets are the samples present in both the
condition and the reference (paired), and the bootstrap resamples those samples.

Rows (dist.csv): condition, embedding, metric, value, ci95_low, ci95_high, n, n_ref, bandwidth, ...
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, Problem, S2WError, UsageError
from ..features.embeddings import Embedding, embed_cached
from ..metrics import dist as D
from ..vocab import did_you_mean
from .base import Context, Item, Task, compared_conditions

DIST_COLUMNS = (
    "condition",
    "embedding",
    "metric",
    "value",
    "ci95_low",
    "ci95_high",
    "n",
    "n_ref",
    "reference",
    "dims",
    "bandwidth",
    "fad_inf_r2",
    "bootstrap_resamples",
    "samples_sha256",
)
#: below this many clips per set FAD is dominated by its small-sample bias (and singular covariances)
FAD_MIN_ADVISED = 100
FAD_BIAS_NOTE = (
    "FAD is biased upward at small n (its expected value falls like 1/n towards the populations' distance), so "
    "FAD values compare only sets of equal size; with fewer clips than embedding dimensions the covariances are "
    "singular. KAD (unbiased) is the default; fad-inf extrapolates FAD to infinitely many clips."
)


class DistTask(Task):
    name = "dist"
    command = "s2w-eval dist"
    columns = DIST_COLUMNS
    console_columns = DIST_COLUMNS[:8]
    finite_columns = ("value",)
    sample_fields = ()
    unit = "distance"

    def __init__(
        self,
        embeddings: Sequence[Embedding],
        metrics: Sequence[str] = ("kad",),
        reference: str = "target",
        conditions: Sequence[str] | None = None,
        bandwidth: float | None = None,
        n_resamples: int = 1000,
        seed: int = 0,
    ):
        for m in metrics:
            if m not in D.METRICS:
                raise UsageError(
                    f"unknown distance {m!r}{did_you_mean(m, D.METRICS)}; choose from {', '.join(D.METRICS)}",
                    param="metric",
                )
        self.embeddings = {e.name: e for e in embeddings}
        self.metrics = list(metrics)
        self.reference = reference
        self.conditions = list(conditions) if conditions else None
        self.bandwidth = bandwidth
        self.n_resamples = n_resamples
        self.seed = seed
        self._sets: dict[Item, tuple[list[Path], list[Path]]] = {}
        self._emb: dict[tuple[str, str], np.ndarray] = {}
        self._digests: dict[tuple[Path, int, int], str] = {}

    # -- items and keys ---------------------------------------------------------------------------------

    def items(self, ctx: Context) -> list[Item]:
        run = ctx.run
        conds = self.scored_conditions = compared_conditions(ctx, self.reference, self.conditions)
        items = []
        for cond in conds:
            samples = [s for s in run.samples if run.clip(cond, s.id) and run.clip(self.reference, s.id)]
            if len(samples) < 2:
                ctx.problems.append(
                    Problem(
                        str(run.root / cond),
                        f"condition {cond!r} shares {len(samples)} sample(s) with the reference; a distance "
                        "between sets needs at least 2",
                    )
                )
                continue
            outs = [run.clip(cond, s.id) for s in samples]
            refs = [run.clip(self.reference, s.id) for s in samples]
            for emb in self.embeddings:
                for metric in self.metrics:
                    # the item's own files are the first pair; key_params adds every clip of both sets
                    item = Item(samples[0], cond, outs[0], refs[0], f"{metric}/{emb}")
                    self._sets[item] = (outs, refs)
                    items.append(item)
        return items

    def key_params(self, item: Item) -> Mapping[str, Any]:
        metric, emb = item.variant.split("/", 1)
        outs, refs = self._sets[item]
        e = self.embeddings[emb]
        return {
            "metric": metric,
            "embedding": emb,
            "weights": e.weights_sha256,
            "sample_rate": e.sample_rate,
            "reference": self.reference,
            "bandwidth": self.bandwidth,
            "resamples": self.n_resamples,
            "seed": self.seed,
            "files": [[self._digest(o), self._digest(r)] for o, r in zip(outs, refs, strict=True)],
        }

    def _digest(self, path: Path) -> str:
        from ..io.files import sha256_file

        st = path.stat()
        key = (path, st.st_mtime_ns, st.st_size)
        if key not in self._digests:
            self._digests[key] = sha256_file(path)
        return self._digests[key]

    # -- computing --------------------------------------------------------------------------------------

    def _embedding(self, e: Embedding, path: Path, ctx: Context) -> np.ndarray:
        digest = ctx.digests.get(path) or self._digest(path)
        key = (e.name, digest)
        if key not in self._emb:
            hit = ctx.cache.get(e.namespace, digest) if ctx.cache is not None else None
            self._emb[key] = hit if hit is not None else embed_cached(e, e.load(path), digest, ctx.cache)
        return self._emb[key]

    def compute(
        self, items: Sequence[Item], ctx: Context
    ) -> Iterator[tuple[Item, dict[str, Any] | S2WError]]:
        for item in items:
            ctx.advance(1)
            metric, emb_name = item.variant.split("/", 1)
            e = self.embeddings[emb_name]
            outs, refs = self._sets[item]
            try:
                test = np.stack([self._embedding(e, p, ctx) for p in outs])
                ref = np.stack([self._embedding(e, p, ctx) for p in refs])
            except DataError as exc:
                yield item, exc
                continue
            try:
                r = D.distance(
                    metric,
                    ref,
                    test,
                    paired=True,
                    bandwidth=self.bandwidth,
                    n_resamples=self.n_resamples,
                    seed=self.seed,
                )
            except ValueError as exc:
                yield (
                    item,
                    DataError(f"{metric} on the {emb_name} embedding: {exc}", ctx.run.root / item.condition),
                )
                continue
            digest = hashlib.sha256(
                "".join(ctx.digests.get(p, p.name) for p in outs + refs).encode()
            ).hexdigest()
            yield (
                item,
                {
                    "embedding": emb_name,
                    "metric": metric,
                    "value": r.value,
                    "ci95_low": r.ci.low,
                    "ci95_high": r.ci.high,
                    "n": r.n_test,
                    "n_ref": r.n_ref,
                    "reference": self.reference,
                    "dims": int(ref.shape[1]),
                    "bandwidth": r.extra.get("bandwidth"),
                    "fad_inf_r2": r.extra.get("r2"),
                    "bootstrap_resamples": self.n_resamples if metric != "fad-inf" else 0,
                    "samples_sha256": digest,
                },
            )

    # -- results ----------------------------------------------------------------------------------------

    def summarize(self, rows, ctx: Context) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for r in rows:
            key = f"{r['metric']}/{r['embedding']}"
            d = out.setdefault(key, {"metric": r["metric"], "embedding": r["embedding"], "conditions": {}})
            d["conditions"][r["condition"]] = {
                k: r[k] for k in ("value", "ci95_low", "ci95_high", "n", "n_ref", "bandwidth", "fad_inf_r2")
            }
        for d in out.values():
            conds = d["conditions"]
            finite = {c: v["value"] for c, v in conds.items() if math.isfinite(v["value"])}
            d["closest"] = min(finite, key=finite.get) if finite else None
            d["lower_is_better"] = True
            if d["metric"] == "fad":
                small = [c for c, v in conds.items() if v["n"] < FAD_MIN_ADVISED]
                d["note"] = FAD_BIAS_NOTE + (
                    f" Here n = {min(v['n'] for v in conds.values())} clips: compare these FAD values only with "
                    "FAD on sets of the same size."
                    if small
                    else ""
                )
        return out

    def document(self, rows, summary, ctx: Context) -> dict[str, Any]:
        return {
            "run": ctx.run.name,
            "run_path": str(ctx.run.root),
            "reference": self.reference,
            "conditions": getattr(self, "scored_conditions", []),
            "metrics": self.metrics,
            "embeddings": {name: e.describe() for name, e in self.embeddings.items()},
            "definitions": {
                "kad": f"unbiased MMD^2, Gaussian kernel, x{D.KAD_SCALE:g} (kadtk's scale); bandwidth "
                + ("given" if self.bandwidth else "the median pairwise distance within the reference set"),
                "fad": "Frechet distance between Gaussian fits (unbiased covariance)",
                "fad-inf": "FAD extrapolated linearly in 1/n (fadtk's procedure; resamples with replacement)",
                "sets": "the samples present in both the condition and the reference; bootstrap resamples them "
                "(paired), percentile 95% interval",
                "fad_bias": FAD_BIAS_NOTE,
            },
            "bootstrap": {"resamples": self.n_resamples, "level": 0.95, "seed": self.seed, "paired": True},
            "summary": summary,
        }

    def sort_key(self, row: Mapping[str, Any]) -> Any:
        return (row["embedding"], row["metric"], row["condition"])

    def tables(self, rows, doc, title: str) -> list:
        return dist_tables(doc, title)

    def close(self) -> None:
        for e in self.embeddings.values():
            e.close()
        self._emb.clear()


def dist_tables(doc: Mapping[str, Any], title: str | None = None) -> list:
    """One table per distance and embedding from dist.json: each condition's distance to the reference set
    with its bootstrap CI and set sizes, the closest condition in bold; FAD carries its small-sample note."""
    from ..report.tables import Table, fmt_ci, fmt_float

    out = []
    for key, d in (doc.get("summary") or {}).items():
        conds = d.get("conditions") or {}
        t = Table(
            f"{title + ': ' if title else ''}{d.get('metric', key)} on {d.get('embedding', '?')} embeddings: "
            f"distance of each condition's set to the {doc.get('reference', 'reference')!r} set (lower is closer)",
            ["condition", "value", "bootstrap 95% CI", "n", "n (reference)"],
            [],
            note=d.get("note", ""),
            conditions=list(conds),
        )
        for i, (c, v) in enumerate(conds.items()):
            ci = "n/a" if d.get("metric") == "fad-inf" else fmt_ci(v.get("ci95_low"), v.get("ci95_high"))
            t.rows.append([c, fmt_float(v.get("value")), ci, str(v.get("n", "")), str(v.get("n_ref", ""))])
            if c == d.get("closest") and len(conds) > 1:
                t.bold.add((i, 1))
        out.append(t)
    return out
