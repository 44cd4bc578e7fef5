"""s2w_eval.stats against scipy: the Wilson interval is scipy's; the bootstrap agrees with scipy.stats.bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from s2w_eval.stats import bootstrap_ci, wilson_ci


@pytest.mark.parametrize(("k", "n"), [(0, 5), (3, 10), (10, 10), (17, 20), (1, 1)])
def test_wilson_is_scipys(k, n):
    ours = wilson_ci(k, n, 0.95)
    ref = st.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert (ours.low, ours.high) == (ref.low, ref.high)
    # the textbook formula, independently
    z = st.norm.ppf(0.975)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert ours.low == pytest.approx(max(0.0, centre - half), abs=1e-12)
    assert ours.high == pytest.approx(min(1.0, centre + half), abs=1e-12)


def test_wilson_empty():
    ci = wilson_ci(0, 0)
    assert math.isnan(ci.low) and math.isnan(ci.high)


@pytest.mark.parametrize("statistic", [np.mean, np.median])
def test_bootstrap_agrees_with_scipy(statistic):
    """Our seeded percentile bootstrap (vectorised; why hand-written: scipy's draws differ per version, and ours
    must stay bit-identical across versions for the golden outputs) agrees with scipy.stats.bootstrap's
    percentile interval to within the Monte Carlo error of 10,000 resamples."""
    x = np.random.default_rng(1).gamma(2.0, 1.5, size=20)
    ours = bootstrap_ci(x, statistic, n_resamples=10_000, seed=0)
    ref = st.bootstrap(
        (x,), statistic, n_resamples=10_000, method="percentile", random_state=0
    ).confidence_interval
    spread = x.std() / math.sqrt(x.size)
    assert ours.low == pytest.approx(ref.low, abs=0.1 * spread)
    assert ours.high == pytest.approx(ref.high, abs=0.1 * spread)
    assert bootstrap_ci(x, statistic, seed=0) == bootstrap_ci(x, statistic, seed=0)
