"""PAM (perceptual audio metric) as pure functions: distances between arrays, and the per-run summary.

`cdpam_distance(reference, estimated, sample_rate=...)` and `dpam_distance(...)` take 1-D audio arrays
(reference first, as mir_eval's functions do), validate them, convert them to the metric's input convention and
return the distance (lower is closer). `summarize(rows)` turns per-item rows into the run's aggregates: per
condition n, mean, median, bootstrap 95% CI; per pair of conditions wins, ties and a paired Wilcoxon test.
Scoring whole runs (files, cache, journal) is the `pam` task's job (s2w_eval.tasks.pam).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..stats import bootstrap_ci, paired_wilcoxon

METRIC_NAMES = ("cdpam", "dpam", "dpam-scratch", "dpam-finetune", "dpam-linear")
DPAM_LOADERS = ("paper2020", "modern")


def _validate(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D mono signal, got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{name}: empty signal")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: holds NaN or inf")
    return x


@functools.lru_cache(maxsize=8)
def _dpam(checkpoint: str, device: str):
    from ..features.dpam import DPAMMetric

    return DPAMMetric(checkpoint=checkpoint, loader="modern", device=device)


def cdpam_distance(
    reference: np.ndarray,
    estimated: np.ndarray,
    *,
    sample_rate: int,
    device: str = "cpu",
    precision: str = "float32",
) -> float:
    """CDPAM distance between two mono signals in [-1, 1] at `sample_rate` (resampled to 22050 Hz); the same
    number `s2w-eval pam` gives for files holding these samples. The network loads once per process."""
    from ..features.cdpam import cdpam_distance as _cdpam_distance

    _validate("reference", reference)
    _validate("estimated", estimated)
    return _cdpam_distance(reference, estimated, sr=sample_rate, device=device, precision=precision)


def dpam_distance(
    reference: np.ndarray,
    estimated: np.ndarray,
    *,
    sample_rate: int,
    checkpoint: str = "scratch",
    device: str = "cpu",
) -> float:
    """DPAM distance between two mono signals in [-1, 1] at `sample_rate` (DPAM's `modern` convention: resampled
    to 22050 Hz; the shorter clip zero-padded at the start)."""
    from ..features.dpam import MODERN_SR, modern_input
    from ..io.audio import resample

    ref = _validate("reference", reference)
    est = _validate("estimated", estimated)
    metric = _dpam(checkpoint, device)
    a, b = (modern_input(resample(v.astype(np.float32), sample_rate, MODERN_SR)) for v in (ref, est))
    return float(metric.pair_distance(b, a))


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
