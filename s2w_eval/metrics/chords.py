"""From detected notes to emotion labels, and per-run aggregates: pure functions over rows.

Per clip three labels, always side by side:
- `label`: the paper's rule over the SET of detected pitch classes (`circle.label`);
- `label_weighted` (beyond the paper): each pitch class votes with the seconds it sounds (`circle.weighted_label`);
- `label_key` (beyond the paper): the mode of the estimated key, major `+`, minor `-`, no key `0` (the
  classic valence correlate of mode; the key's tonic is not run through the circle).
Per run: the share of samples whose label equals the intended emotion, per condition and per condition x
emotion, with Wilson 95% intervals; agreement between conditions (same label, Jaccard of the sets).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..stats import wilson_ci
from . import circle

LABEL_COLUMNS = ("label", "label_weighted", "label_key")


def key_label(mode: str | None) -> str:
    if mode == "major":
        return "+"
    if mode == "minor":
        return "-"
    return "0"


def clip_labels(
    pc_durations: Mapping[str, float], key_mode: str | None, tie_tolerance: float = 0.05
) -> dict[str, str]:
    """The three labels of one clip from its pitch classes' sounding durations and its key's mode."""
    pcs = [p for p, d in pc_durations.items() if d > 0]
    return {
        "label": circle.label(pcs),
        "label_weighted": circle.weighted_label(pc_durations, tie_tolerance),
        "label_key": key_label(key_mode),
    }


def match_summary(
    rows: Sequence[Mapping[str, Any]],
    label_col: str = "label",
    level: float = 0.95,
    by: Sequence[str] = ("method", "condition"),
) -> list[dict[str, Any]]:
    """Share of rows whose `label_col` equals the intended label, grouped by `by`, with a Wilson CI."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in by), []).append(r)
    out = []
    for key, rs in groups.items():
        n = len(rs)
        hits = sum(1 for r in rs if r[label_col] == circle.emotion_label(r["emotion"]))
        ci = wilson_ci(hits, n, level)
        out.append(
            {
                **dict(zip(by, key, strict=True)),
                "label_column": label_col,
                "n": n,
                "matches": hits,
                "share": hits / n if n else math.nan,
                "ci_low": ci.low,
                "ci_high": ci.high,
                "ci_level": level,
            }
        )
    return out


def jaccard(a: Iterable[str], b: Iterable[str]) -> float:
    a, b = set(a), set(b)
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def condition_agreement(rows: Sequence[Mapping[str, Any]], label_col: str = "label") -> list[dict[str, Any]]:
    """For each method and pair of conditions: samples in both, share with the same label, mean Jaccard of sets."""
    out = []
    by_method: dict[str, dict[str, dict[str, Mapping[str, Any]]]] = {}
    for r in rows:
        by_method.setdefault(r["method"], {}).setdefault(r["condition"], {})[r["sample"]] = r
    for method, conds in by_method.items():
        for a, b in itertools.combinations(sorted(conds), 2):
            common = sorted(set(conds[a]) & set(conds[b]))
            if not common:
                continue
            same = sum(1 for s in common if conds[a][s][label_col] == conds[b][s][label_col])
            jac = [
                jaccard(str(conds[a][s]["pitch_classes"]).split(), str(conds[b][s]["pitch_classes"]).split())
                for s in common
            ]
            out.append(
                {
                    "method": method,
                    "condition_a": a,
                    "condition_b": b,
                    "label_column": label_col,
                    "n": len(common),
                    "same_label": same,
                    "share_same": same / len(common),
                    "mean_jaccard": sum(jac) / len(jac),
                }
            )
    return out


def table4(rows: Sequence[Mapping[str, Any]], conditions: Sequence[str], method: str) -> list[dict[str, Any]]:
    """The paper's Table 4 shape: one row per sample, for each condition its pitch classes and label."""
    samples: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["method"] != method:
            continue
        s = samples.setdefault(
            r["sample"], {"sample": r["sample"], "intended": circle.emotion_label(r["emotion"])}
        )
        s[f"{r['condition']} pitch classes"] = r["pitch_classes"] or "(none)"
        s[f"{r['condition']} label"] = r["label"]
    cols = ["sample", "intended"] + [f"{c} {w}" for c in conditions for w in ("pitch classes", "label")]
    return [{c: s.get(c, "") for c in cols} for _, s in sorted(samples.items())]


# ---- scoring a run --------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "sample",
    "emotion",
    "condition",
    "method",
    "pitch_classes",
    "label",
    "label_weighted",
    "label_key",
    "intended",
    "match",
    "key",
    "key_confidence",
    "key_alternatives",
    "n_notes",
    "pc_seconds",
    "chords",
    "reason",
    "duration_s",
    "tuning",
    "file",
    "sha256",
    "params_hash",
)


def _slug(method_id: str) -> str:
    return method_id.replace("/", "-v")


def detection_row(
    det, sample: str, emotion: str, condition: str, tie_tolerance: float = 0.05
) -> dict[str, Any]:
    """One chords.csv row from a Detection."""
    pcd = det.pc_durations
    labels = clip_labels(pcd, det.key.mode if det.key else None, tie_tolerance)
    intended = circle.emotion_label(emotion)
    chords_seq = []
    for seg in det.chords:
        if seg.label != "N" and (not chords_seq or chords_seq[-1] != seg.label):
            chords_seq.append(seg.label)
    return {
        "sample": sample,
        "emotion": emotion,
        "condition": condition,
        "method": det.method,
        "pitch_classes": circle.format_pitch_classes(pcd),
        **labels,
        "intended": intended,
        "match": labels["label"] == intended,
        "key": det.key.name if det.key else "",
        "key_confidence": det.key.confidence if det.key else None,
        "key_alternatives": "; ".join(f"{n} {r:.3f}" for n, r in det.key.alternatives) if det.key else "",
        "n_notes": len(det.notes),
        "pc_seconds": " ".join(f"{p}:{pcd[p]:.2f}" for p in circle.order_pitch_classes(pcd)),
        "chords": " ".join(chords_seq),
        "reason": det.reason or "",
        "duration_s": round(det.duration, 4),
        "tuning": det.tuning,
    }


def summarize(
    rows: Sequence[Mapping[str, Any]], conditions: Sequence[str], level: float = 0.95
) -> dict[str, Any]:
    out: dict[str, Any] = {"match": [], "match_by_emotion": [], "agreement": []}
    for col in LABEL_COLUMNS:
        out["match"] += match_summary(rows, col, level)
        out["match_by_emotion"] += match_summary(rows, col, level, by=("method", "condition", "emotion"))
        out["agreement"] += condition_agreement(rows, col)
    out["label_counts"] = {}
    for r in rows:
        k = f"{r['method']}|{r['condition']}"
        d = out["label_counts"].setdefault(k, {"+": 0, "-": 0, "0": 0})
        d[r["label"]] += 1
    out["no_notes"] = [
        {"method": r["method"], "condition": r["condition"], "sample": r["sample"], "reason": r["reason"]}
        for r in rows
        if r["reason"]
    ]
    return out
