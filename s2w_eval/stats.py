"""Statistics shared by every evaluation: bootstrap CIs, paired tests, binomial tests with Wilson CIs.

Pure functions over numpy arrays; every random procedure takes a seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    level: float = 0.95


def bootstrap_ci(values, statistic=np.mean, n_resamples: int = 10_000, level: float = 0.95,
                 seed: int = 0) -> Interval:
    """Percentile bootstrap CI of `statistic` over `values` (seeded, reproducible)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return Interval(math.nan, math.nan, level)
    if x.size == 1:
        return Interval(float(x[0]), float(x[0]), level)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_resamples, x.size))
    if statistic is np.mean:
        boot = x[idx].mean(axis=1)
    elif statistic is np.median:
        boot = np.median(x[idx], axis=1)
    else:
        boot = np.array([statistic(x[i]) for i in idx])
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha])
    return Interval(float(lo), float(hi), level)


@dataclass(frozen=True)
class PairedComparison:
    n: int
    a_wins: int
    b_wins: int
    ties: int
    statistic: float
    p_value: float
    test: str


def paired_wilcoxon(a, b, lower_is_better: bool = True) -> PairedComparison:
    """Wins of a over b per item and the two-sided Wilcoxon signed-rank test of a - b.

    Items where either value is missing are dropped. With fewer than 2 non-zero differences the test is
    undefined: p = NaN (never a made-up number).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    d = a - b
    if lower_is_better:
        a_wins, b_wins = int(np.sum(d < 0)), int(np.sum(d > 0))
    else:
        a_wins, b_wins = int(np.sum(d > 0)), int(np.sum(d < 0))
    ties = int(np.sum(d == 0))
    if np.count_nonzero(d) < 2:
        return PairedComparison(int(a.size), a_wins, b_wins, ties, math.nan, math.nan, "wilcoxon")
    res = _st.wilcoxon(a, b, zero_method="wilcox", alternative="two-sided")
    return PairedComparison(int(a.size), a_wins, b_wins, ties, float(res.statistic), float(res.pvalue), "wilcoxon")


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test (ties dropped)."""
    n = wins + losses
    if n == 0:
        return math.nan
    return float(_st.binomtest(wins, n, 0.5, alternative="two-sided").pvalue)


def binomial_test(successes: int, n: int, p: float = 0.5) -> float:
    """Two-sided exact binomial test; NaN when n == 0."""
    if n <= 0:
        return math.nan
    return float(_st.binomtest(int(successes), int(n), p, alternative="two-sided").pvalue)


def wilson_ci(successes: int, n: int, level: float = 0.95) -> Interval:
    """Wilson score interval for a proportion; (NaN, NaN) when n == 0."""
    if n <= 0:
        return Interval(math.nan, math.nan, level)
    z = float(_st.norm.ppf(1 - (1 - level) / 2))
    phat = successes / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return Interval(max(0.0, centre - half), min(1.0, centre + half), level)
