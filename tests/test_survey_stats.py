"""Bradley-Terry and Fleiss' kappa (s2w_eval.stats), checked against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from s2w_eval.stats import bradley_terry, bradley_terry_bootstrap, fleiss_kappa


def _bt_direct(w: np.ndarray) -> np.ndarray:
    """Maximum likelihood by a general-purpose optimiser (independent of the MM algorithm)."""
    k = w.shape[0]

    def nll(free):
        s = np.r_[free, -free.sum()]
        d = s[:, None] - s[None, :]
        return float(np.sum(w * np.logaddexp(0.0, -d)))

    res = minimize(nll, np.zeros(k - 1), method="BFGS", options={"gtol": 1e-10})
    return np.r_[res.x, -res.x.sum()]


def test_bradley_terry_matches_direct_maximum_likelihood():
    rng = np.random.default_rng(1)
    for k in (2, 3, 5):
        w = rng.integers(1, 40, size=(k, k)).astype(float) * (1 - np.eye(k))
        np.testing.assert_allclose(bradley_terry(w, prior=0.0), _bt_direct(w), atol=1e-5)
    # batched input gives the same as one at a time
    ws = rng.integers(1, 9, size=(4, 3, 3)) * (1 - np.eye(3))
    np.testing.assert_allclose(bradley_terry(ws), np.stack([bradley_terry(x) for x in ws]), atol=1e-9)


def test_bradley_terry_recovers_true_strengths_and_stays_finite():
    true = np.array([1.0, 0.0, -1.0])
    n = 20000
    p = 1 / (1 + np.exp(true[None, :] - true[:, None]))
    w = np.round(p * n) * (1 - np.eye(3))
    np.testing.assert_allclose(bradley_terry(w, prior=0.0), true, atol=0.01)
    s = bradley_terry(np.array([[0, 10, 10], [0, 0, 5], [0, 5, 0]]))  # item 0 never loses
    assert np.all(np.isfinite(s)) and s[0] == s.max()


def test_bootstrap_over_raters_brackets_the_estimate():
    rng = np.random.default_rng(0)
    g = np.zeros((30, 3, 3))
    for r in range(30):
        for i, j, pi in ((0, 1, 0.8), (0, 2, 0.7), (1, 2, 0.4)):
            a = rng.binomial(10, pi)
            g[r, i, j] += a
            g[r, j, i] += 10 - a
    res = bradley_terry_bootstrap(g, ["P", "B", "O"], n_resamples=500, seed=3)
    assert res.ranking()[0] == "P"
    for s, lo, hi in zip(res.scores, res.ci_low, res.ci_high):
        assert lo <= s <= hi and hi - lo < 1.0
    again = bradley_terry_bootstrap(g, ["P", "B", "O"], n_resamples=500, seed=3)
    assert again == res
    with pytest.raises(ValueError):
        bradley_terry_bootstrap(g, ["P", "B"])


def test_fleiss_kappa_textbook_example():
    # Fleiss (1971) as reproduced on Wikipedia: 10 subjects, 14 raters, 5 categories, kappa = 0.210
    t = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(t) == pytest.approx(0.2099, abs=1e-4)
    assert fleiss_kappa([[5, 0], [0, 5], [5, 0]]) == pytest.approx(1.0)
    assert math.isnan(fleiss_kappa([[1, 0], [0, 1]]))  # nobody rated twice
    assert math.isnan(fleiss_kappa([[3, 0], [4, 0]]))  # one category only


def test_bradley_terry_ranks_as_crowd_kit_does_on_simulated_crowds(tmp_path):
    """Our Bradley-Terry (Hunter's MM) against crowd-kit's (Toloka's quality-control library)."""
    crowdkit = pytest.importorskip("crowdkit.aggregation", reason="crowd-kit is not installed")
    import pandas as pd

    from s2w_eval.survey.aggregate import aggregate
    from s2w_eval.survey.build import build_survey
    from s2w_eval.survey.simulate import parse_preference, simulate
    from tests.test_survey_build import SAFE, make_run, small_design

    run = make_run(tmp_path / "run", ids=SAFE, emotions=["negative", "positive"] * 3)
    res = build_survey(
        run, small_design(raters=15, allow_no_preference=False, min_seconds=0.0), seed=4, out=tmp_path / "s"
    )
    agree = 0
    for seed, prefs in enumerate(
        (
            ["scene2wav>baseline:0.8", "scene2wav>target:0.6", "target>baseline:0.7"],
            ["baseline>scene2wav:0.75", "target>scene2wav:0.7", "target>baseline:0.6"],
            ["scene2wav>baseline:0.9", "target>scene2wav:0.65", "target>baseline:0.9"],
        )
    ):
        results, _ = simulate(
            res.out,
            [parse_preference(p) for p in prefs],
            careless=0.0,
            seed=seed,
            out=tmp_path / f"r{seed}.csv",
        )
        an, _, _ = aggregate(
            results, res.out / "answer_key.csv", tmp_path / f"a{seed}", n_resamples=100, plots=False
        )
        ours = [t["condition"] for t in an.bradley_terry["table"]]
        df = pd.DataFrame(an.comparisons)[["worker", "left", "right", "label"]]
        theirs = crowdkit.BradleyTerry(n_iter=200).fit(df).scores_.sort_values(ascending=False).index.tolist()
        assert ours == theirs, (prefs, ours, theirs)
        agree += 1
    assert agree == 3
