"""Distribution distances (s2w_eval.metrics.dist): zero on identical sets, closed forms, order invariance,
and agreement with fadtk's and kadtk's own functions where those packages are installed."""

from __future__ import annotations

import ast
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from s2w_eval.metrics import dist


def _gauss(n, d, seed, shift=0.0, scale=1.0):
    return np.random.default_rng(seed).standard_normal((n, d)) * scale + shift


# --- FAD ---------------------------------------------------------------------------------------------------


def test_fad_of_a_set_with_itself_is_zero():
    x = _gauss(50, 8, 0)
    assert dist.fad(x, x) == pytest.approx(0.0, abs=1e-9)
    # fewer clips than dimensions: both covariances singular; still exactly 0, and real
    y = _gauss(20, 64, 1)
    assert dist.fad(y, y) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_closed_form_for_two_gaussians():
    # diagonal covariances: d^2 = |mu1-mu2|^2 + sum (s1 - s2)^2 for standard deviations s
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([3.0, 1.0, 0.5])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)
    got = dist.frechet_distance(mu1, np.diag(s1**2), mu2, np.diag(s2**2))
    assert got == pytest.approx(expected, rel=1e-12)
    # a full covariance and a rotated copy: 1-D check against the scalar formula after rotation
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    c1, c2 = q @ np.diag(s1**2) @ q.T, q @ np.diag(s2**2) @ q.T
    assert dist.frechet_distance(mu1, c1, mu2, c2) == pytest.approx(expected, rel=1e-10)


def test_fad_of_samples_approaches_the_population_distance_and_fad_inf_reduces_the_bias():
    d = 32
    ref = _gauss(8000, d, 10)
    test = _gauss(2000, d, 11, shift=0.2, scale=1.2)
    true = d * 0.2**2 + d * (1.2 - 1.0) ** 2  # closed form for the populations
    full = dist.fad(ref, test)
    assert full == pytest.approx(true, rel=0.1)
    small = [dist.fad(ref, _gauss(20, d, 100 + k, shift=0.2, scale=1.2)) for k in range(20)]
    assert min(small) > full  # strongly biased upward at 20 clips
    r = dist.fad_inf(ref, test, min_n=50, seed=0)
    assert r.slope > 0 and r.r2 > 0.9  # FAD falls linearly in 1/n
    assert abs(r.score - true) < abs(full - true)  # the extrapolation is closer to the populations' value
    assert r.points[0][0] == 50 and r.points[-1][0] == 2000
    assert dist.fad_inf(ref, test, min_n=50, seed=0) == r  # seeded


def test_fad_is_invariant_to_clip_order():
    ref, test = _gauss(30, 6, 4), _gauss(25, 6, 5, shift=0.3)
    perm_r, perm_t = np.random.default_rng(0).permutation(30), np.random.default_rng(1).permutation(25)
    assert dist.fad(ref[perm_r], test[perm_t]) == pytest.approx(dist.fad(ref, test), rel=1e-12)
    assert dist.kad(ref[perm_r], test[perm_t]) == pytest.approx(dist.kad(ref, test), rel=1e-12)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="at least 2"):
        dist.fad(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="sizes differ"):
        dist.kad(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        dist.fad(np.full((4, 3), np.nan), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="bandwidth"):
        dist.kad(np.zeros((4, 3)), np.ones((4, 3)))  # identical reference clips: median distance 0


# --- KAD ---------------------------------------------------------------------------------------------------


def test_kad_of_a_set_with_itself_is_close_to_zero_and_unbiased_across_draws():
    x = _gauss(20, 16, 6)
    # against itself the unbiased estimate is 2/n (mean off-diagonal kernel - 1) x 100: small and negative
    v = dist.kad(x, x)
    assert -dist.KAD_SCALE * 2 / 20 <= v <= 0.0
    # two independent sets of the same distribution: mean over draws ~ 0 (unbiased), unlike the biased V-stat
    vals = [dist.kad(_gauss(20, 16, 200 + 2 * k), _gauss(20, 16, 201 + 2 * k)) for k in range(60)]
    sem = np.std(vals, ddof=1) / math.sqrt(len(vals))
    assert abs(np.mean(vals)) < 3 * sem
    # a shifted distribution is clearly above that
    shifted = [
        dist.kad(_gauss(20, 16, 300 + 2 * k), _gauss(20, 16, 301 + 2 * k, shift=1.0)) for k in range(10)
    ]
    assert min(shifted) > max(vals)


def test_kad_matches_an_independent_double_loop():
    ref, test = _gauss(7, 3, 7), _gauss(9, 3, 8, shift=0.4)
    sigma = dist.median_bandwidth(ref)
    pair = [np.linalg.norm(a - b) for i, a in enumerate(ref) for j, b in enumerate(ref) if i < j]
    assert sigma == pytest.approx(float(np.median(pair)), rel=1e-12)

    def k(a, b):
        return math.exp(-np.sum((a - b) ** 2) / (2 * sigma**2 + dist.KAD_EPS))

    m, n = len(ref), len(test)
    xx = sum(k(ref[i], ref[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(test[i], test[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(a, b) for a in ref for b in test) / (m * n)
    assert dist.kad(ref, test) == pytest.approx(100 * (xx + yy - 2 * xy), rel=1e-10)


# --- bootstrap -----------------------------------------------------------------------------------------------


def test_bootstrap_intervals_cover_the_estimate_and_are_reproducible():
    ref, test = _gauss(20, 8, 9), _gauss(20, 8, 10, shift=0.7)
    for metric in ("kad", "fad"):
        a = dist.distance(metric, ref, test, paired=True, n_resamples=300, seed=1)
        b = dist.distance(metric, ref, test, paired=True, n_resamples=300, seed=1)
        assert a == b
        assert a.ci.low < a.value < a.ci.high, metric
        assert a.n_ref == a.n_test == 20
    c = dist.distance("kad", ref, test, paired=False, n_resamples=300, seed=2)
    assert c.ci.low < c.value < c.ci.high
    inf = dist.distance("fad-inf", ref, test)
    assert math.isnan(inf.ci.low) and "r2" in inf.extra


# --- cross-checks against fadtk and kadtk ----------------------------------------------------------------------


def _function_from(package: str, module_file: str, name: str, namespace: dict):
    """Take one function's source from an installed package's file and compile it alone: fadtk and kadtk
    import torchaudio, hypy_utils and their model loaders at module level, which s2w does not install."""
    spec = importlib.util.find_spec(package)  # finds the folder without running the package's __init__
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(
            f"{package} is not installed (pip install --no-deps {package}; the check compares its code)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / module_file
    tree = ast.parse(path.read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    # with the module's plain constants (kadtk's SCALE_FACTOR)
    consts = [n for n in tree.body if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)]
    code = compile(ast.Module(body=[*consts, fn], type_ignores=[]), str(path), "exec")
    exec(code, namespace)
    return namespace[name]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fadtk passes sqrtm's deprecated `disp`
def test_fad_equals_fadtk_on_the_same_embeddings():
    import logging

    from numpy.lib.scimath import sqrt as scisqrt
    from scipy import linalg

    ns = {"np": np, "linalg": linalg, "scisqrt": scisqrt, "log": logging.getLogger("fadtk-check")}
    calc_frechet = _function_from("fadtk", "fad.py", "calc_frechet_distance", ns)
    stats = _function_from("fadtk", "fad.py", "calc_embd_statistics", ns)
    for n, d, seed in ((200, 16, 0), (60, 32, 1)):
        ref, test = _gauss(n, d, seed), _gauss(n + 11, d, seed + 1, shift=0.2, scale=1.3)
        theirs = float(np.real(calc_frechet(*stats(ref), *stats(test))))
        assert dist.fad(ref, test) == pytest.approx(theirs, rel=1e-6, abs=1e-6)


def test_kad_equals_kadtk_on_the_same_embeddings():
    import torch

    ns = {"torch": torch, "np": np, "Path": Path}
    calc_kad = _function_from("kadtk", "kad.py", "calc_kernel_audio_distance", ns)
    _function_from("kadtk", "kad.py", "median_pairwise_distance", ns)
    ref, test = _gauss(40, 24, 2), _gauss(30, 24, 3, shift=0.3)
    sigma = dist.median_bandwidth(ref)
    theirs = calc_kad(
        torch.from_numpy(ref),
        torch.from_numpy(test),
        (None, None),
        "cpu",
        bandwidth=sigma,
        precision=torch.float64,
    )
    assert dist.kad(ref, test, bandwidth=sigma) == pytest.approx(float(theirs), rel=1e-6, abs=1e-6)
    # with no bandwidth kadtk takes the (lower) median pairwise distance of the evaluated set; given that
    # bandwidth, ours agrees too
    theirs_default = calc_kad(
        torch.from_numpy(ref), torch.from_numpy(test), (None, None), "cpu", precision=torch.float64
    )
    bw = float(torch.median(torch.pdist(torch.from_numpy(test).float())))
    assert dist.kad(ref, test, bandwidth=bw) == pytest.approx(float(theirs_default), rel=1e-5)
