"""Calibration as a task: how far can each metric be trusted on this run's own data?

From every reference clip s2w makes anchor conditions of known severity (s2w_eval.metrics.anchors: the hidden
reference, white noise at 30/20/10/0 dB SNR, low-pass at 7 and 3.5 kHz, 8- and 4-bit requantisation, a 0.1 s
shift, silence, and the wrong scene = another sample's reference of the opposite emotion) and scores each
against the reference with every selected metric. Per metric the summary reports:
- per ladder (noise, lowpass, requant): Spearman's rank correlation between severity and score over the
  reference and the ladder's anchors, per sample, averaged (bootstrap 95% CI over samples), and the share of
  samples ranked in exactly the right order;
- the hidden reference: the samples where it scores best (no worse than every other anchor; and strictly);
- wrong-scene separation: AUC = P(wrong scene scores worse than a mild right-scene anchor), ties half;
- run-to-run noise: the 20 dB noise anchor drawn twice (two seeds): mean |difference|, also relative to the
  noise ladder's span (|0 dB - reference|).

Metrics: PAM (`cdpam`, `dpam` = DPAM scratch, modern loader: distance to the reference clip), `chords`
(disagreement of the Circle-of-Fifths label with the reference's own label: 0 or 1), and `kad` (per clip the
Euclidean distance between embeddings; per anchor the KAD of the anchor set against the reference set).
For every metric here a higher score means farther from the reference.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, S2WError, UsageError
from ..metrics import anchors as A
from ..metrics import dist as D
from ..stats import bootstrap_ci
from ..vocab import did_you_mean
from .base import Context, Item, Task

METRICS = A.CALIBRATED_METRICS
REDRAW = "noise-20db-redraw"
CAL_COLUMNS = (
    "sample",
    "emotion",
    "condition",
    "metric",
    "score",
    "ladder",
    "severity",
    "label",
    "ref_label",
    "source",
    "ref_file",
    "ref_sha256",
)
ANALYSIS_SR = 22050  # anchors are made at the rate every metric here reads (CDPAM, DPAM modern, chords)


class Scorer:
    name = ""

    def score(self, x: np.ndarray, ref: np.ndarray) -> dict[str, Any]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        raise NotImplementedError


class PamScorer(Scorer):
    def __init__(self, metric):
        self.metric = metric
        self.name = "cdpam" if metric.name == "cdpam" else "dpam"
        self._ref: tuple[int, np.ndarray] | None = None

    def score(self, x, ref):
        conv_x = np.round(x.astype(np.float64) * 32768.0).astype(np.float32)
        conv_r = np.round(ref.astype(np.float64) * 32768.0).astype(np.float32)
        if self.metric.embeds:
            if self._ref is None or self._ref[0] != id(ref):
                self._ref = (id(ref), self.metric.embed([conv_r])[0])
            (e,) = self.metric.embed([conv_x])
            return {"score": float(self.metric.distance(e, self._ref[1]))}
        return {"score": float(self.metric.pair_distance(conv_x, conv_r))}

    def describe(self):
        return self.metric.describe()

    def params(self):
        return {"metric": self.metric.name, "weights": self.metric.weights_sha256}


class ChordScorer(Scorer):
    name = "chords"

    def __init__(self, method: str = "nnls-hmm"):
        from ..features.detect import get_method

        self.method = get_method(method)
        self._ref: tuple[int, str] | None = None

    def _label(self, x):
        from ..features.detect import detect
        from ..metrics.circle import label

        return label(detect(x, ANALYSIS_SR, self.method.name).pitch_classes)

    def score(self, x, ref):
        if self._ref is None or self._ref[0] != id(ref):
            self._ref = (id(ref), self._label(ref))
        lab = self._label(x)
        return {"score": float(lab != self._ref[1]), "label": lab, "ref_label": self._ref[1]}

    def describe(self):
        return {
            "metric": "chords",
            "method": self.method.id,
            "score": "1 if the label differs from the reference's",
        }

    def params(self):
        return {"method": self.method.id, "defaults": dict(self.method.defaults)}


class KadScorer(Scorer):
    name = "kad"

    def __init__(self, embedding):
        self.embedding = embedding
        self._ref: tuple[int, np.ndarray] | None = None

    def _vec(self, x):
        from ..io.audio import resample

        return self.embedding.embed(resample(x, ANALYSIS_SR, self.embedding.sample_rate))

    def score(self, x, ref):
        if self._ref is None or self._ref[0] != id(ref):
            self._ref = (id(ref), self._vec(ref))
        v = self._vec(x)
        return {"score": float(np.linalg.norm(v - self._ref[1])), "embedding": [float(a) for a in v]}

    def describe(self):
        return {"metric": "kad", "embedding": self.embedding.describe()}

    def params(self):
        return {"embedding": self.embedding.name, "weights": self.embedding.weights_sha256}


def build_scorers(names: Sequence[str], embedding: str = "dpam", device: str = "cpu") -> list[Scorer]:
    out: list[Scorer] = []
    for n in names:
        if n == "cdpam":
            from ..features.cdpam import cdpam_model

            out.append(PamScorer(cdpam_model(device)))
        elif n == "dpam":
            from ..features.dpam import DPAMMetric

            out.append(PamScorer(DPAMMetric("scratch", "modern", device=device)))
        elif n == "chords":
            out.append(ChordScorer())
        elif n == "kad":
            from ..features.embeddings import build_embedding

            out.append(KadScorer(build_embedding(embedding, device=device)))
        else:
            raise UsageError(
                f"unknown metric {n!r}{did_you_mean(n, METRICS)}; choose from {', '.join(METRICS)}",
                param="metrics",
            )
    return out


class CalibrateTask(Task):
    name = "calibrate"
    command = "s2w-eval calibrate"
    columns = CAL_COLUMNS
    finite_columns = ("score",)
    unit = "anchor"

    def __init__(
        self, scorers: Sequence[Scorer], reference: str = "target", seed: int = 0, resamples: int = 1000
    ):
        self.scorers = {s.name: s for s in scorers}
        self.reference = reference
        self.seed = seed
        self.resamples = resamples
        self._ref_cache: tuple[Path, np.ndarray] | None = None

    def items(self, ctx: Context) -> list[Item]:
        run = ctx.run
        if self.reference not in run.conditions:
            raise DataError(
                f"reference condition {self.reference!r} not found", run.root, "name the reference folder"
            )
        samples = [s for s in run.samples if run.clip(self.reference, s.id)]
        if len(samples) < 2:
            raise DataError("calibration needs at least 2 reference clips", run.root / self.reference)
        pairs = [(s.id, s.emotion) for s in samples]
        names = [*A.ANCHOR_NAMES, REDRAW]
        items = []
        for metric in self.scorers:
            for s in samples:
                ref = run.clip(self.reference, s.id)
                partner = A.wrong_scene_partner(pairs, s.id)
                for name in names:
                    if name == "wrong-scene":
                        if partner is None:
                            continue
                        items.append(Item(s, name, run.clip(self.reference, partner), ref, metric))
                    else:
                        items.append(Item(s, name, ref, ref, metric))
        return items

    def key_params(self, item: Item) -> Mapping[str, Any]:
        return {
            **self.scorers[item.variant].params(),
            "anchor": item.condition,
            "seed": self.seed,
            "sr": ANALYSIS_SR,
            "anchors_version": 2,
        }

    def _load(self, path: Path) -> np.ndarray:
        if self._ref_cache is None or self._ref_cache[0] != path:
            from ..io.audio import load_audio

            x, _ = load_audio(path, sr=ANALYSIS_SR)
            self._ref_cache = (path, x)
        return self._ref_cache[1]

    def _anchor(self, item: Item, ref: np.ndarray) -> np.ndarray:
        if item.condition == "wrong-scene":
            from ..io.audio import load_audio

            other, _ = load_audio(item.path, sr=ANALYSIS_SR)
            n = ref.size
            return np.pad(other[:n], (0, max(0, n - other.size))).astype(np.float32)
        if item.condition == REDRAW:
            return A.white_noise(ref, ANALYSIS_SR, 20, self.seed + 1)
        return A.anchor(item.condition).make(ref, ANALYSIS_SR, self.seed)

    def compute(
        self, items: Sequence[Item], ctx: Context
    ) -> Iterator[tuple[Item, dict[str, Any] | S2WError]]:
        for item in items:
            ctx.advance(1)
            try:
                ref = self._load(item.reference)
                x = self._anchor(item, ref)
                res = self.scorers[item.variant].score(x, ref)
            except DataError as exc:
                yield item, exc
                continue
            a = A.anchor("noise-20db") if item.condition == REDRAW else A.anchor(item.condition)
            yield (
                item,
                {
                    "metric": item.variant,
                    "ladder": a.ladder,
                    "severity": a.severity,
                    "label": res.get("label", ""),
                    "ref_label": res.get("ref_label", ""),
                    "source": ctx.relative(item.path),
                    "ref_file": ctx.relative(item.reference),
                    "ref_sha256": ctx.digests[item.reference],
                    **{k: v for k, v in res.items() if k not in ("label", "ref_label")},
                },
            )

    # -- results ----------------------------------------------------------------------------------------

    def summarize(self, rows, ctx: Context) -> dict[str, Any]:
        out = {}
        for metric in self.scorers:
            mrows = [r for r in rows if r["metric"] == metric]
            table: dict[str, dict[str, float]] = {}
            for r in mrows:
                table.setdefault(r["sample"], {})[r["condition"]] = float(r["score"])
            out[metric] = calibration_summary(table, self.seed, self.resamples)
            if metric == "kad":
                out[metric]["sets"] = self._kad_sets(mrows)
        return out

    def _kad_sets(self, rows) -> dict[str, Any]:
        vec: dict[tuple[str, str], np.ndarray] = {
            (r["sample"], r["condition"]): np.asarray(r["embedding"], np.float64)
            for r in rows
            if "embedding" in r
        }
        samples = sorted({s for s, c in vec if c == "reference"})
        ref = np.stack([vec[(s, "reference")] for s in samples]) if len(samples) >= 2 else None
        if ref is None:
            return {}
        values = {}
        try:
            bw = D.median_bandwidth(ref)
        except ValueError:
            return {}
        for name in [*A.ANCHOR_NAMES, REDRAW]:
            have = [s for s in samples if (s, name) in vec]
            if len(have) >= 2:
                test = np.stack([vec[(s, name)] for s in have])
                values[name] = D.kad(ref[[samples.index(s) for s in have]], test, bandwidth=bw)
        ladders = {}
        for ladder in A.LADDERS:
            levels = [a.name for a in A.ladder_levels(ladder) if a.name in values]
            if len(levels) >= 3:
                ladders[ladder] = _spearman(
                    [A.anchor(n).severity for n in levels], [values[n] for n in levels]
                )
        return {"kad_by_anchor": values, "bandwidth": bw, "spearman_by_ladder": ladders}

    def document(self, rows, summary, ctx: Context) -> dict[str, Any]:
        doc = {
            "run": ctx.run.name,
            "run_path": str(ctx.run.root),
            "reference": self.reference,
            "anchors": {
                a.name: {"ladder": a.ladder, "severity": a.severity, "definition": a.definition}
                for a in A.ANCHORS
            },
            "metrics": {n: s.describe() for n, s in self.scorers.items()},
            "definitions": {
                "score": "higher = farther from the reference",
                "spearman": "per sample over the reference and the ladder's anchors, averaged; CI by bootstrap "
                "over samples",
                "hidden_reference_best": "samples whose hidden reference scores no worse than every other anchor "
                "(best) and strictly below every other (strictly)",
                "wrong_scene_auc": f"P(wrong scene scores above a mild anchor of the right scene: {', '.join(A.MILD)})",
                "run_to_run": "the 20 dB noise anchor drawn with two seeds: mean |difference|",
            },
            "summary": summary,
        }
        if rows:
            try:
                doc["figure"] = write_figure(summary, rows, ctx.out_dir / "calibrate.png")
            except Exception as exc:  # noqa: BLE001 - a figure is never worth losing the numbers
                doc["figure_error"] = str(exc)
        return doc

    def sort_key(self, row):
        return None

    def tables(self, rows, doc, title: str) -> list:
        return calibration_tables(doc, title)

    def close(self) -> None:
        self.scorers.clear()


def _spearman(sev, scores) -> float:
    from scipy.stats import spearmanr

    if np.ptp(np.asarray(scores, float)) == 0:
        return math.nan
    return float(spearmanr(sev, scores).statistic)


def calibration_summary(
    table: Mapping[str, Mapping[str, float]], seed: int = 0, resamples: int = 1000
) -> dict[str, Any]:
    """The per-metric summary from table[sample][anchor] = score (higher = farther from the reference)."""
    samples = list(table)
    ladders = {}
    for ladder in A.LADDERS:
        levels = A.ladder_levels(ladder)
        rhos, mono = [], 0
        for s in samples:
            vals = [table[s].get(a.name) for a in levels]
            if any(v is None for v in vals):
                continue
            rho = _spearman([a.severity for a in levels], vals)
            rhos.append(rho)
            mono += all(b > a for a, b in zip(vals, vals[1:]))
        finite = [r for r in rhos if math.isfinite(r)]
        ci = bootstrap_ci(finite, np.mean, n_resamples=resamples, seed=seed)
        ladders[ladder] = {
            "spearman": float(np.mean(finite)) if finite else math.nan,
            "ci95_low": ci.low,
            "ci95_high": ci.high,
            "monotonic": mono,
            "n": len(rhos),
            "undefined": len(rhos) - len(finite),
        }
    best = strict = n_best = 0
    for s in samples:
        ref = table[s].get("reference")
        others = [v for k, v in table[s].items() if k not in ("reference",)]
        if ref is None or not others:
            continue
        n_best += 1
        best += all(ref <= v for v in others)
        strict += all(ref < v for v in others)
    wrong = [table[s]["wrong-scene"] for s in samples if "wrong-scene" in table[s]]
    mild = [table[s][m] for s in samples for m in A.MILD if m in table[s]]
    auc = math.nan
    if wrong and mild:
        w, m = np.asarray(wrong)[:, None], np.asarray(mild)[None, :]
        auc = float(np.mean((w > m) + 0.5 * (w == m)))
    diffs = [
        abs(table[s]["noise-20db"] - table[s][REDRAW])
        for s in samples
        if REDRAW in table[s] and "noise-20db" in table[s]
    ]
    spans = [
        abs(table[s]["noise-0db"] - table[s]["reference"])
        for s in samples
        if "noise-0db" in table[s] and "reference" in table[s]
    ]
    mad = float(np.mean(diffs)) if diffs else math.nan
    span = float(np.mean(spans)) if spans else math.nan
    return {
        "ladders": ladders,
        "hidden_reference_best": {"best": best, "strictly": strict, "n": n_best},
        "wrong_scene": {"auc": auc, "n_wrong": len(wrong), "n_mild": len(mild)},
        "run_to_run": {
            "mean_abs_diff": mad,
            "relative_to_span": mad / span if span > 0 else math.nan,
            "n": len(diffs),
        },
        "mean_by_anchor": {
            a: float(np.mean([table[s][a] for s in samples if a in table[s]]))
            for a in [*A.ANCHOR_NAMES, REDRAW]
            if any(a in table[s] for s in samples)
        },
    }


def write_figure(summary: Mapping[str, Any], rows, path: Path) -> str:
    """Per metric and ladder: the mean score (scaled to the 0 dB/strongest anchor) against severity."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..io.files import atomic_write_bytes

    metrics = list(summary)
    fig, axes = plt.subplots(1, len(A.LADDERS), figsize=(4 * len(A.LADDERS), 3.2), squeeze=False)
    for j, ladder in enumerate(A.LADDERS):
        ax = axes[0][j]
        levels = A.ladder_levels(ladder)
        for metric in metrics:
            means = summary[metric]["mean_by_anchor"]
            ys = [means.get(a.name, math.nan) for a in levels]
            top = max((abs(y) for y in ys if math.isfinite(y)), default=0) or 1.0
            ax.plot([a.severity for a in levels], [y / top for y in ys], marker="o", label=metric)
        ax.set_xticks(
            [a.severity for a in levels], [a.name for a in levels], rotation=30, ha="right", fontsize=7
        )
        ax.set_title(f"{ladder} ladder")
        ax.set_ylabel("mean score / max")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path.name


def calibration_tables(doc: Mapping[str, Any], title: str | None = None) -> list:
    """calibrate.json as two tables: per metric, the Spearman correlation of its score with each ladder's
    severity (mean over samples [bootstrap 95% CI], samples in exact order); then how often the hidden
    reference scores best, the wrong-scene AUC against mild damage, and the run-to-run noise."""
    from ..report.tables import Table, fmt_ci, fmt_float

    ref = doc.get("reference", "reference")
    summary = doc.get("summary") or {}
    ladders = Table(
        f"{title + ': ' if title else ''}calibration on anchors made from {ref!r}: Spearman correlation of the "
        "score with the damage's severity",
        [
            "metric",
            *(f"{ladder} ladder" for ladder in A.LADDERS),
            *(f"{ladder} in order" for ladder in A.LADDERS),
        ],
        [],
        note="Mean Spearman over the samples [bootstrap 95% CI]; 'in order': samples whose scores rise strictly "
        "along the ladder. A metric that measures damage has 1.000 everywhere.",
    )
    checks = Table(
        f"{title + ': ' if title else ''}calibration on anchors made from {ref!r}: sanity checks",
        [
            "metric",
            "hidden reference best",
            "strictly best",
            "wrong-scene AUC",
            "run-to-run",
            "run-to-run (rel.)",
        ],
        [],
        note="Hidden reference best: samples where the reference itself scores best among its anchors. "
        "Wrong-scene AUC: how well another scene's audio is told from mild damage (1 = always). Run-to-run: "
        "the score change when the same noise anchor is drawn again (absolute, and relative to the 0 dB "
        "anchor's score).",
    )
    for metric, s in summary.items():
        lad = s.get("ladders") or {}
        ladders.rows.append(
            [
                metric,
                *(
                    f"{fmt_float(lad[x]['spearman'], 3)} {fmt_ci(lad[x]['ci95_low'], lad[x]['ci95_high'], 2)}"
                    if x in lad
                    else "n/a"
                    for x in A.LADDERS
                ),
                *(f"{lad[x]['monotonic']}/{lad[x]['n']}" if x in lad else "n/a" for x in A.LADDERS),
            ]
        )
        hb, rr = s.get("hidden_reference_best") or {}, s.get("run_to_run") or {}
        checks.rows.append(
            [
                metric,
                f"{hb.get('best', 0)}/{hb.get('n', 0)}",
                f"{hb.get('strictly', 0)}/{hb.get('n', 0)}",
                fmt_float((s.get("wrong_scene") or {}).get("auc"), 3),
                fmt_float(rr.get("mean_abs_diff"), 3),
                fmt_float(rr.get("relative_to_span"), 3),
            ]
        )
    return [ladders, checks]
