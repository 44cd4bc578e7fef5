"""Distribution distances between a reference set and a test set of clip embeddings: FAD, FAD-inf, KAD.

Pure functions over numpy arrays `[clips, dims]`, reference set first. Every random procedure takes a seed.

- FAD (Kilgour et al. 2019): the Frechet distance between Gaussian fits (mean, unbiased covariance) of the
  two sets, ||mu_r - mu_t||^2 + tr C_r + tr C_t - 2 tr sqrt(C_r C_t). Biased upward at small sample sizes
  (the expected value falls like 1/n towards the distance of the populations; Chong & Forsyth 2020), so FAD
  values are comparable only between sets of equal size.
- FAD-inf (Chong & Forsyth 2020, as fadtk computes it): FAD of the reference against `steps` resamples of
  the test set of sizes from `min_n` to n (drawn with replacement), a least-squares line in 1/n, and its
  intercept at 1/n = 0. Resampling cannot add clips: with few clips it extrapolates the estimate of these
  clips, and `r2` tells how well a line fits.
- KAD (Chung et al. 2025): the maximum mean discrepancy with a Gaussian (characteristic) kernel, unbiased
  estimator (within-set means exclude each clip paired with itself), bandwidth by the median heuristic (the
  median pairwise Euclidean distance within the reference set, so that every condition is measured with the
  same kernel) unless given. Reported x100 as kadtk does (`KAD_SCALE`). Its expected value is 0 when the two
  sets come from the same distribution, at any n, so the estimate can be slightly negative.
- `bootstrap_interval`: percentile bootstrap over clips (paired sets resampled by the same sample indices).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..stats import Interval

KAD_SCALE = 100.0  # kadtk's SCALE_FACTOR: KAD is reported as 100 x MMD^2
KAD_EPS = 1e-8  # kadtk's: gamma = 1 / (2 sigma^2 + eps)
METRICS = ("kad", "fad", "fad-inf")


def _as_set(x, what: str, min_n: int = 2) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"the {what} set must be a [clips, dims] array, got shape {arr.shape}")
    if arr.shape[0] < min_n:
        raise ValueError(f"the {what} set has {arr.shape[0]} clips; this distance needs at least {min_n}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"the {what} set holds NaN or infinite values")
    return arr


def _check_dims(ref: np.ndarray, test: np.ndarray) -> None:
    if ref.shape[1] != test.shape[1]:
        raise ValueError(f"embedding sizes differ: reference {ref.shape[1]}, test {test.shape[1]}")


# ---- FAD ----------------------------------------------------------------------------------------------------


def gaussian_fit(x) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (ddof 1) of a set [clips, dims]."""
    x = _as_set(x, "embedding")
    return x.mean(axis=0), np.cov(x, rowvar=False, ddof=1).reshape(x.shape[1], x.shape[1])


def _psd_factor(cov: np.ndarray) -> np.ndarray:
    """L with cov = L L^T, from the eigendecomposition (cov may be singular; tiny negative eigenvalues from
    rounding are clipped to 0)."""
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    return v * np.sqrt(np.clip(w, 0.0, None))


def trace_sqrt_product(f1: np.ndarray, f2: np.ndarray) -> float:
    """tr sqrt(C1 C2) for C1 = f1 f1^T, C2 = f2 f2^T (f1, f2: [dims, k] factors).

    Why not scipy.linalg.sqrtm(C1 @ C2), as pytorch-fid and fadtk do: the product is not symmetric, and with
    fewer clips than dimensions (20 clips of a 512-d embedding) both covariances are singular, so sqrtm
    returns complex values and warns. C1 C2 is similar to the PSD matrix (f1^T f2)(f1^T f2)^T, so its
    eigenvalues are the squared singular values of f1^T f2 and tr sqrt(C1 C2) is the sum of those singular
    values (the nuclear norm): exact, real, and a stable SVD.
    """
    return float(np.linalg.svd(f1.T @ f2, compute_uv=False).sum())


def _factor(x: np.ndarray, mu: np.ndarray, cov: np.ndarray | None) -> np.ndarray:
    """A covariance factor: the centred data / sqrt(n - 1) when that is smaller than dims, else eigh-based."""
    n, d = x.shape
    if n <= d or cov is None:
        return ((x - mu) / math.sqrt(n - 1)).T
    return _psd_factor(cov)


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """Frechet distance between N(mu1, cov1) and N(mu2, cov2)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, np.float64)), np.atleast_2d(np.asarray(cov2, np.float64))
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shapes do not match: mu {mu1.shape}/{mu2.shape}, cov {cov1.shape}/{cov2.shape}")
    diff = mu1 - mu2
    tr = trace_sqrt_product(_psd_factor(cov1), _psd_factor(cov2))
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * tr)


def fad(ref, test) -> float:
    """FAD between the Gaussian fits of two embedding sets (reference first)."""
    ref, test = _as_set(ref, "reference"), _as_set(test, "test")
    _check_dims(ref, test)
    return _fad_sets(ref, test)


def _fad_sets(ref: np.ndarray, test: np.ndarray, ref_stats=None) -> float:
    mu_r, cov_r, f_r = ref_stats if ref_stats is not None else _stats(ref)
    mu_t = test.mean(axis=0)
    centred = test - mu_t
    n = test.shape[0]
    tr_t = float(np.einsum("ij,ij->", centred, centred) / (n - 1))
    f_t = (centred / math.sqrt(n - 1)).T if n <= test.shape[1] else _psd_factor(np.cov(test, rowvar=False))
    diff = mu_r - mu_t
    return float(diff @ diff + np.trace(cov_r) + tr_t - 2.0 * trace_sqrt_product(f_r, f_t))


def _stats(x: np.ndarray):
    mu, cov = x.mean(axis=0), np.cov(x, rowvar=False, ddof=1).reshape(x.shape[1], x.shape[1])
    return mu, cov, _factor(x, mu, cov)


@dataclass(frozen=True)
class FadInf:
    score: float  # the intercept: FAD extrapolated to infinitely many clips
    slope: float  # d FAD / d (1/n)
    r2: float  # how well a line in 1/n fits the points
    points: tuple[tuple[int, float], ...]  # (n, FAD at n)


def fad_inf(ref, test, steps: int = 25, min_n: int | None = None, seed: int = 0) -> FadInf:
    """FAD-inf as fadtk's `score_inf`: FAD of the full reference against `steps` resamples (with replacement)
    of the test set of sizes linspace(min_n, n, steps), a line fitted in 1/n, its intercept.

    `min_n` defaults to fadtk's 500 when the test set has over 1000 clips, else to half the set (at least 2).
    """
    ref, test = _as_set(ref, "reference"), _as_set(test, "test", min_n=3)
    _check_dims(ref, test)
    n = test.shape[0]
    lo = min_n if min_n is not None else (500 if n > 1000 else max(2, n // 2))
    if not 2 <= lo < n:
        raise ValueError(f"FAD-inf needs 2 <= min_n < n clips (min_n {lo}, n {n})")
    ns = np.unique(np.linspace(lo, n, steps).astype(int))
    if ns.size < 2:
        raise ValueError("FAD-inf needs at least two different set sizes")
    rng = np.random.default_rng(seed)
    ref_stats = _stats(ref)
    points = []
    for k in ns:
        idx = rng.integers(0, n, size=int(k))
        points.append((int(k), _fad_sets(ref, test[idx], ref_stats)))
    xs = 1.0 / np.array([p[0] for p in points], dtype=np.float64)
    ys = np.array([p[1] for p in points], dtype=np.float64)
    slope, intercept = np.polyfit(xs, ys, 1)
    ss_tot = float(np.sum((ys - ys.mean()) ** 2))
    r2 = 1.0 - float(np.sum((ys - (slope * xs + intercept)) ** 2)) / ss_tot if ss_tot > 0 else math.nan
    return FadInf(float(intercept), float(slope), r2, tuple(points))


# ---- KAD ----------------------------------------------------------------------------------------------------


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T)
    return np.clip(d2, 0.0, None)


def median_bandwidth(x) -> float:
    """The median heuristic: the median Euclidean distance over all pairs of distinct clips of a set."""
    x = _as_set(x, "embedding")
    d2 = _sq_dists(x, x)
    iu = np.triu_indices(x.shape[0], k=1)
    return float(np.median(np.sqrt(d2[iu])))


@dataclass(frozen=True)
class KernelMatrices:
    """Gaussian kernel matrices of a (reference, test) pair, for the estimate and its bootstrap."""

    k_rr: np.ndarray
    k_tt: np.ndarray
    k_rt: np.ndarray
    bandwidth: float


def kernel_matrices(ref, test, bandwidth: float | None = None) -> KernelMatrices:
    ref, test = _as_set(ref, "reference"), _as_set(test, "test")
    _check_dims(ref, test)
    sigma = median_bandwidth(ref) if bandwidth is None else float(bandwidth)
    if not sigma > 0 or not math.isfinite(sigma):
        raise ValueError(
            f"KAD bandwidth must be a positive number, got {sigma} (a reference set of identical clips has "
            "median distance 0: give the bandwidth)"
        )
    gamma = 1.0 / (2.0 * sigma * sigma + KAD_EPS)
    return KernelMatrices(
        np.exp(-gamma * _sq_dists(ref, ref)),
        np.exp(-gamma * _sq_dists(test, test)),
        np.exp(-gamma * _sq_dists(ref, test)),
        sigma,
    )


def _within_mean(k: np.ndarray, idx: np.ndarray | None) -> float:
    """Mean of k over pairs of distinct draws; a clip drawn twice by a bootstrap is not paired with itself."""
    if idx is None:
        n = k.shape[0]
        return float((k.sum() - np.trace(k)) / (n * (n - 1)))
    sub = k[np.ix_(idx, idx)]
    mask = idx[:, None] != idx[None, :]
    cnt = int(mask.sum())
    return float(sub[mask].sum() / cnt) if cnt else math.nan


def kad_from_kernels(km: KernelMatrices, ref_idx=None, test_idx=None, scale: float = KAD_SCALE) -> float:
    """Unbiased MMD^2 from kernel matrices, optionally on resampled index sets (x `scale`)."""
    k_rt = km.k_rt
    if ref_idx is not None:
        k_rt = k_rt[ref_idx]
    if test_idx is not None:
        k_rt = k_rt[:, test_idx]
    mmd2 = _within_mean(km.k_rr, ref_idx) + _within_mean(km.k_tt, test_idx) - 2.0 * float(k_rt.mean())
    return scale * mmd2


def kad(ref, test, bandwidth: float | None = None, scale: float = KAD_SCALE) -> float:
    """KAD: unbiased MMD^2 with a Gaussian kernel, x `scale` (100, as kadtk reports it)."""
    return kad_from_kernels(kernel_matrices(ref, test, bandwidth), scale=scale)


# ---- bootstrap ----------------------------------------------------------------------------------------------


def bootstrap_interval(
    stat: Callable[[np.ndarray, np.ndarray], float],
    n_ref: int,
    n_test: int,
    paired: bool = False,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap CI of stat(ref_idx, test_idx) over resampled clip indices.

    paired=True (the sets hold the same samples in the same order: a condition's clip and its reference) draws
    one index set for both, keeping each pair together; else the two sets are resampled independently.
    Resamples whose statistic is undefined (NaN) are dropped.
    """
    if paired and n_ref != n_test:
        raise ValueError(f"paired bootstrap needs sets of equal size ({n_ref} vs {n_test})")
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_resamples):
        ri = rng.integers(0, n_ref, size=n_ref)
        ti = ri if paired else rng.integers(0, n_test, size=n_test)
        v = stat(ri, ti)
        if math.isfinite(v):
            vals.append(v)
    if not vals:
        return Interval(math.nan, math.nan, level)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(np.asarray(vals), [alpha, 1.0 - alpha])
    return Interval(float(lo), float(hi), level)


@dataclass(frozen=True)
class DistanceResult:
    metric: str  # kad | fad | fad-inf
    value: float
    ci: Interval
    n_ref: int
    n_test: int
    extra: dict


def distance(
    metric: str,
    ref,
    test,
    paired: bool = False,
    bandwidth: float | None = None,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> DistanceResult:
    """One distance with its bootstrap CI: metric 'kad', 'fad' or 'fad-inf' (no CI: NaN bounds)."""
    ref, test = _as_set(ref, "reference"), _as_set(test, "test")
    _check_dims(ref, test)
    n_r, n_t = ref.shape[0], test.shape[0]
    if metric == "kad":
        km = kernel_matrices(ref, test, bandwidth)
        value = kad_from_kernels(km)
        ci = bootstrap_interval(
            lambda ri, ti: kad_from_kernels(km, ri, ti), n_r, n_t, paired, n_resamples, level, seed
        )
        return DistanceResult(metric, value, ci, n_r, n_t, {"bandwidth": km.bandwidth, "scale": KAD_SCALE})
    if metric == "fad":
        value = _fad_sets(ref, test)

        def stat(ri, ti):
            r, t = ref[ri], test[ti]
            return _fad_sets(r, t) if _distinct(ri) and _distinct(ti) else math.nan

        ci = bootstrap_interval(stat, n_r, n_t, paired, n_resamples, level, seed)
        return DistanceResult(metric, value, ci, n_r, n_t, {})
    if metric == "fad-inf":
        r = fad_inf(ref, test, seed=seed)
        return DistanceResult(
            metric,
            r.score,
            Interval(math.nan, math.nan, level),
            n_r,
            n_t,
            {"slope": r.slope, "r2": r.r2, "points": [list(p) for p in r.points]},
        )
    raise ValueError(f"unknown distance {metric!r}; choose from {', '.join(METRICS)}")


def _distinct(idx: np.ndarray) -> bool:
    return np.unique(idx).size >= 2
