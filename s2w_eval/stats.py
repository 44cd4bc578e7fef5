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


def bootstrap_ci(
    values, statistic=np.mean, n_resamples: int = 10_000, level: float = 0.95, seed: int = 0
) -> Interval:
    """Percentile bootstrap CI of `statistic` over `values` (seeded, reproducible).

    Hand-written (vectorised) rather than scipy.stats.bootstrap: its resampling stream differs between scipy
    versions, and these intervals must stay identical across versions for the golden outputs; tests/test_stats.py
    checks that it agrees with scipy's percentile interval."""
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
    return PairedComparison(
        int(a.size), a_wins, b_wins, ties, float(res.statistic), float(res.pvalue), "wilcoxon"
    )


def binomial_test(successes: int, n: int, p: float = 0.5) -> float:
    """Two-sided exact binomial test; NaN when n == 0."""
    if n <= 0:
        return math.nan
    return float(_st.binomtest(int(successes), int(n), p, alternative="two-sided").pvalue)


def wilson_ci(successes: int, n: int, level: float = 0.95) -> Interval:
    """Wilson score interval for a proportion (scipy's binomtest); (NaN, NaN) when n == 0."""
    if n <= 0:
        return Interval(math.nan, math.nan, level)
    ci = _st.binomtest(int(successes), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return Interval(float(ci.low), float(ci.high), level)


# ---------------------------------------------------------------------------------------------- pairwise surveys


def bradley_terry(wins, prior: float = 0.1, max_iter: int = 10_000, tol: float = 1e-10) -> np.ndarray:
    """Bradley-Terry log-strengths from a win matrix (maximum likelihood, Hunter's MM algorithm).

    `wins[i, j]` = times item i was preferred over item j (ties may be added as 0.5 to both cells). `wins`
    may be a batch [..., k, k]; the result is [..., k] log-strengths centred to sum zero, so that
    P(i preferred over j) = 1 / (1 + exp(s_j - s_i)). `prior` pseudo-wins are added to every off-diagonal
    cell (a weak symmetric prior) so that an item that never (or always) wins keeps a finite strength.
    """
    w = np.array(wins, dtype=np.float64)
    if w.ndim < 2 or w.shape[-1] != w.shape[-2]:
        raise ValueError(f"wins must be a square matrix (or a batch of them), got shape {w.shape}")
    k = w.shape[-1]
    off = ~np.eye(k, dtype=bool)
    w = np.where(off, w + prior, 0.0)
    n = w + np.swapaxes(w, -1, -2)  # comparisons between i and j
    total_wins = w.sum(axis=-1)
    p = np.ones(w.shape[:-1])
    for _ in range(max_iter):
        denom = (n / (p[..., :, None] + p[..., None, :])).sum(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = np.where(denom > 0, total_wins / denom, p)
        new = np.maximum(new, 1e-300)
        new = new / np.exp(np.log(new).mean(axis=-1, keepdims=True))
        if np.max(np.abs(np.log(new) - np.log(p))) < tol:
            p = new
            break
        p = new
    s = np.log(p)
    return s - s.mean(axis=-1, keepdims=True)


@dataclass(frozen=True)
class BradleyTerryResult:
    items: tuple[str, ...]
    scores: tuple[float, ...]  # log-strengths, centred to sum zero
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]
    level: float
    n_resamples: int

    def ranking(self) -> list[str]:
        order = np.argsort(-np.asarray(self.scores), kind="stable")
        return [self.items[i] for i in order]


def bradley_terry_bootstrap(
    group_wins, items, n_resamples: int = 2000, level: float = 0.95, seed: int = 0, prior: float = 0.1
) -> BradleyTerryResult:
    """Bradley-Terry scores with percentile-bootstrap CIs, resampling whole groups (e.g. raters).

    `group_wins` is [groups, k, k]: one win matrix per rater, so the CI honours that a rater's answers are
    not independent of each other. The point estimate uses all groups.
    """
    g = np.asarray(group_wins, dtype=np.float64)
    if g.ndim != 3 or g.shape[1] != g.shape[2] or g.shape[1] != len(items):
        raise ValueError(f"group_wins must be [groups, {len(items)}, {len(items)}], got shape {g.shape}")
    est = bradley_terry(g.sum(axis=0), prior=prior)
    if g.shape[0] < 2:
        lo = hi = est
    else:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, g.shape[0], size=(n_resamples, g.shape[0]))
        counts = np.stack([np.bincount(row, minlength=g.shape[0]) for row in idx])  # [B, groups]
        boot = bradley_terry(np.einsum("bg,gij->bij", counts, g), prior=prior)
        alpha = (1.0 - level) / 2.0
        lo, hi = np.quantile(boot, [alpha, 1.0 - alpha], axis=0)
    return BradleyTerryResult(
        tuple(items),
        tuple(float(v) for v in est),
        tuple(float(v) for v in lo),
        tuple(float(v) for v in hi),
        level,
        int(n_resamples),
    )


def fleiss_kappa(counts) -> float:
    """Fleiss' kappa of agreement from a [subjects, categories] table of rating counts.

    Subjects may have different numbers of ratings (Fleiss 1971's per-subject agreement averaged over the
    subjects rated at least twice; category shares pooled over all ratings). NaN when undefined (no subject
    with two ratings, or every rating in one category).
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 2 or c.size == 0:
        return math.nan
    n_i = c.sum(axis=1)
    keep = n_i >= 2
    if not np.any(keep):
        return math.nan
    c, n_i = c[keep], n_i[keep]
    p_j = c.sum(axis=0) / c.sum()
    p_i = ((c * c).sum(axis=1) - n_i) / (n_i * (n_i - 1))
    p_bar = float(p_i.mean())
    p_e = float((p_j * p_j).sum())
    if p_e >= 1.0:
        return math.nan
    return (p_bar - p_e) / (1.0 - p_e)
