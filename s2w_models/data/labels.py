"""Label schemes on the data side: labelling splices, recording the scheme in dataset.json, reading it back.

The schemes themselves (`valence2`, `valence3`, `quadrant`, their class order and rules) live in
`s2w_eval.vocab`, so that evaluation reads the same names. A prepared dataset's `dataset.json` holds
`labels: {scheme, classes, neutral_band, rule}`; a dataset without it (written before schemes existed, or by
`import-npz`) is `valence2`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from s2w_eval.errors import DataError, UsageError
from s2w_eval.vocab import (
    DEFAULT_NEUTRAL_BAND,
    DEFAULT_SCHEME,
    SCHEMES,
    LabelScheme,
    classify,
    get_scheme,
)

LABEL_SCHEMES = tuple(SCHEMES)


def check_scheme(name: str, neutral_band: float = DEFAULT_NEUTRAL_BAND) -> LabelScheme:
    """The scheme called `name`; a UsageError for an unknown name or a bad band."""
    try:
        s = get_scheme(name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not (math.isfinite(neutral_band) and 0 <= neutral_band < 1):
        raise UsageError(f"the neutral band must be in [0, 1), got {neutral_band}")
    return s


def scheme_rule(scheme: LabelScheme, neutral_band: float) -> str:
    if scheme.name == "valence3":
        return f"neutral iff |valence| < {neutral_band:g}, else positive iff valence >= 0"
    return scheme.description.split(": ", 1)[-1]


def scheme_meta(scheme: str | LabelScheme, neutral_band: float = DEFAULT_NEUTRAL_BAND) -> dict[str, Any]:
    """The `labels` entry of dataset.json."""
    s = get_scheme(scheme)
    return {
        "scheme": s.name,
        "classes": list(s.classes),
        "neutral_band": float(neutral_band) if s.name == "valence3" else None,
        "rule": scheme_rule(s, neutral_band),
    }


def dataset_scheme(meta: dict[str, Any], where: str | Path | None = None) -> tuple[str, tuple[str, ...]]:
    """(scheme name, classes in index order) of a prepared dataset's meta; `valence2` when it names none."""
    lab = meta.get("labels") if isinstance(meta, dict) else None
    if not lab:
        return DEFAULT_SCHEME, SCHEMES[DEFAULT_SCHEME].classes
    name = lab.get("scheme")
    if name not in SCHEMES:
        raise DataError(
            f"dataset.json names an unknown label scheme {name!r}",
            where,
            f"prepare the dataset again with a known scheme ({', '.join(SCHEMES)})",
        )
    classes = tuple(lab.get("classes") or SCHEMES[name].classes)
    if classes != SCHEMES[name].classes:
        raise DataError(
            f"dataset.json: the {name} scheme's classes are {list(SCHEMES[name].classes)}, not {list(classes)}",
            where,
            "re-run the preparation to rewrite dataset.json",
        )
    return name, classes


def relabel(
    rows: Iterable[dict[str, Any]], scheme: str | LabelScheme, neutral_band: float, where: str | Path
) -> None:
    """Set each row's `emotion` from its `valence` (and `arousal`) under the scheme (in place)."""
    s = get_scheme(scheme)
    for r in rows:
        try:
            r["emotion"] = classify(r["valence"], r.get("arousal"), s, neutral_band)
        except ValueError as exc:
            raise DataError(
                f"sample {r.get('sample', '?')}: {exc}",
                where,
                "give arousal values (clips CSV column `arousal`) "
                "or use a valence-only label scheme (valence2, valence3)",
            ) from None
