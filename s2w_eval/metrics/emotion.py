"""Agreement of circle labels with a label scheme's classes: pure functions.

The label schemes (`valence2`, `valence3`, `quadrant`: their classes, order and rules) are vocabulary, defined in
`s2w_eval.vocab` and re-exported here. The Emotional Circle of Fifths labels a clip `+`, `-` or `0` (a tie). It
speaks of valence only: a class is expected to get the circle label of its valence (`positive` -> `+`,
`negative` -> `-`, `neutral` -> `0`; a quadrant by its valence half). Under `valence3` the circle's `0` is the
neutral class; under `valence2` and `quadrant` a `0` never agrees.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..vocab import (  # noqa: F401 - the schemes are vocabulary; re-exported for evaluation code
    ALL_CLASSES,
    DEFAULT_NEUTRAL_BAND,
    DEFAULT_SCHEME,
    SCHEMES,
    LabelScheme,
    classify,
    get_scheme,
    scheme_of_classes,
    valence_of,
)

CIRCLE_LABELS = ("-", "0", "+")


def intended_circle_label(cls: str) -> str:
    """The circle label a class should get: '+' positive, '-' negative, '0' neutral (a quadrant by its valence)."""
    return {"positive": "+", "negative": "-", "neutral": "0"}[valence_of(cls)]


def circle_to_class(label: str, scheme: str | LabelScheme) -> str | None:
    """The class a circle label names in a scheme: `+` positive, `-` negative, `0` neutral where the scheme has
    it (else None: a tie names no class). Under `quadrant` the circle names only the valence half, so the result
    is 'positive' / 'negative' (compare it with `valence_of` of the intended class)."""
    s = get_scheme(scheme)
    lab = str(label).strip()
    if lab not in CIRCLE_LABELS:
        raise ValueError(f"not a circle label: {label!r} (use +, - or 0)")
    if lab == "0":
        return s.neutral
    return "positive" if lab == "+" else "negative"


def _check(intended: Sequence[str], labels: Sequence[str], s: LabelScheme) -> None:
    if len(intended) != len(labels):
        raise ValueError(f"{len(intended)} intended classes but {len(labels)} circle labels")
    for c in intended:
        s.index(c)
    for lab in labels:
        if lab not in CIRCLE_LABELS:
            raise ValueError(f"not a circle label: {lab!r} (use +, - or 0)")


def confusion_matrix(
    intended: Sequence[str], labels: Sequence[str], scheme: str | LabelScheme
) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray]:
    """(rows, columns, counts): rows the scheme's classes (intended), columns the circle labels `-`, `0`, `+`
    (what the circle said), counts int64 of shape (classes, 3)."""
    s = get_scheme(scheme)
    intended, labels = [str(c) for c in intended], [str(x).strip() for x in labels]
    _check(intended, labels, s)
    m = np.zeros((len(s.classes), len(CIRCLE_LABELS)), np.int64)
    for c, lab in zip(intended, labels, strict=True):
        m[s.index(c), CIRCLE_LABELS.index(lab)] += 1
    return s.classes, CIRCLE_LABELS, m


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of k successes in n (scipy's); (nan, nan) when n == 0."""
    if n <= 0:
        return math.nan, math.nan
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def agreement_per_class(
    intended: Sequence[str], labels: Sequence[str], scheme: str | LabelScheme, level: float = 0.95
) -> list[dict[str, Any]]:
    """Per intended class (and `all`): n, matches (the circle label equals the class's expected label), share,
    Wilson CI. Classes with no sample get n = 0 and NaN share and bounds."""
    s = get_scheme(scheme)
    rows_, cols, m = confusion_matrix(intended, labels, s)
    out = []
    total_n = total_k = 0
    for i, c in enumerate(rows_):
        n = int(m[i].sum())
        k = int(m[i, cols.index(intended_circle_label(c))])
        total_n, total_k = total_n + n, total_k + k
        lo, hi = wilson_interval(k, n, level)
        out.append(
            {
                "class": c,
                "expected_label": intended_circle_label(c),
                "n": n,
                "matches": k,
                "share": k / n if n else math.nan,
                "ci_low": lo,
                "ci_high": hi,
                "ci_level": level,
            }
        )
    lo, hi = wilson_interval(total_k, total_n, level)
    out.append(
        {
            "class": "all",
            "expected_label": "",
            "n": total_n,
            "matches": total_k,
            "share": total_k / total_n if total_n else math.nan,
            "ci_low": lo,
            "ci_high": hi,
            "ci_level": level,
        }
    )
    return out


def class_counts(classes: Iterable[str], scheme: str | LabelScheme) -> dict[str, int]:
    """{class: count} in the scheme's order (every class present, 0 when absent)."""
    s = get_scheme(scheme)
    counts = dict.fromkeys(s.classes, 0)
    for c in classes:
        s.index(c)
        counts[c] += 1
    return counts


def scheme_summary(
    rows: Sequence[dict[str, Any]],
    label_col: str = "label",
    by: Sequence[str] = ("method", "condition"),
    level: float = 0.95,
    scheme: str | LabelScheme | None = None,
) -> dict[str, Any]:
    """Per group of `by` (chords.csv rows: `emotion` = the intended class, `label_col` = the circle label): the
    agreement per class with Wilson CIs and the confusion matrix (intended class x circle label).

    `scheme` defaults to the smallest scheme holding every intended class (a run of positive/negative samples
    is `valence2`). Returns {scheme, classes, label_column, per_class: [...], confusion: [...]}, each list row
    carrying the `by` keys."""
    emotions = [str(r["emotion"]) for r in rows]
    s = get_scheme(scheme) if scheme is not None else scheme_of_classes(emotions)
    if s is None:
        raise ValueError(f"the intended emotions {sorted(set(emotions))} belong to no single label scheme")
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in by), []).append(r)
    per_class: list[dict[str, Any]] = []
    confusion: list[dict[str, Any]] = []
    for key, rs in groups.items():
        head = {**dict(zip(by, key, strict=True)), "label_column": label_col}
        intended = [str(r["emotion"]) for r in rs]
        labels = [str(r[label_col]) for r in rs]
        per_class += [{**head, **row} for row in agreement_per_class(intended, labels, s, level)]
        classes, cols, m = confusion_matrix(intended, labels, s)
        for i, c in enumerate(classes):
            confusion.append({**head, "intended": c, **{col: int(m[i, j]) for j, col in enumerate(cols)}})
    return {
        "scheme": s.name,
        "classes": list(s.classes),
        "label_column": label_col,
        "per_class": per_class,
        "confusion": confusion,
    }
