"""From detected notes to emotion labels, and per-run aggregates: pure functions over rows.

Per clip three labels, always side by side (DESIGN.md section 4):
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


def write_clip_files(det, folder, stem: str) -> dict[str, str]:
    """<stem>.notes.lab, <stem>.chords.lab (mir_eval style) and <stem>.mid (music21) for one clip."""
    from pathlib import Path

    from ..features.notes import lab_text, notes_lab, write_midi
    from ..results import atomic_write_text

    folder = Path(folder)
    paths = {
        "notes_lab": folder / f"{stem}.notes.lab",
        "chords_lab": folder / f"{stem}.chords.lab",
        "midi": folder / f"{stem}.mid",
    }
    atomic_write_text(paths["notes_lab"], notes_lab(det.notes))
    atomic_write_text(paths["chords_lab"], lab_text((s.start, s.end, s.label) for s in det.chords))
    write_midi(det.notes, paths["midi"])
    return {k: str(v) for k, v in paths.items()}


def score_run(
    run,
    methods: Sequence[tuple[str, Mapping[str, Any]]],
    out_dir,
    conditions: Sequence[str] | None = None,
    protocol: Mapping[str, Any] | None = None,
    tie_tolerance: float = 0.05,
    level: float = 0.95,
    primary: str = "label",
    progress: bool | None = None,
) -> dict[str, Any]:
    """Detect and label every clip of every condition of `run` with each (method, params); resumable.

    Writes OUT/chords.csv, OUT/chords.json, per clip OUT/clips/<condition>/<sample>.<method>.{notes.lab,
    chords.lab,mid}. Returns {"rows", "summary", "problems", "counts", "out_dir"}.
    """
    from pathlib import Path

    from tqdm import tqdm

    from ..errors import DataError, Problem
    from ..features.detect import detect, get_method, params_hash, silent_detection
    from ..io.audio import load_audio
    from ..results import ItemJournal, atomic_write_csv, atomic_write_json, provenance, sha256_file

    out_dir = Path(out_dir)
    problems: list[Problem] = []
    conds = list(run.conditions) if conditions is None else [c for c in conditions if c in run.conditions]
    for c in conditions or []:
        if c not in run.conditions:
            problems.append(
                Problem(
                    str(run.root / c),
                    f"condition {c!r} not in run {run.name!r}",
                    f"the run has: {', '.join(run.conditions) or 'no conditions'}",
                )
            )
    resolved = []
    for name, overrides in methods:
        m = get_method(name)
        p = m.params(overrides)
        resolved.append((m, p, params_hash(m.id, p)))
    items = [(c, s) for c in conds for s in run.samples if run.clip(c, s.id) is not None]
    rows: list[dict[str, Any]] = []
    computed = reused = 0
    journal = ItemJournal(out_dir / "chords.journal.jsonl")
    bar = tqdm(
        total=len(items) * len(resolved),
        desc=f"chords {run.name}",
        unit="clip",
        disable=(not progress) if progress is not None else None,
        leave=False,
    )
    try:
        for cond, sample in items:
            path = run.clip(cond, sample.id)
            try:
                digest = sha256_file(path)
            except OSError as exc:
                problems.append(Problem(str(path), f"unreadable ({exc})"))
                bar.update(len(resolved))
                continue
            x = sr = None
            silent, silent_s = False, 0.0
            for m, p, ph in resolved:
                key = f"{digest}:{m.id}:{ph}"
                stem = f"{sample.id}.{_slug(m.id)}"
                folder = out_dir / "clips" / cond
                row = journal.get(key)
                if row is not None and (folder / f"{stem}.mid").exists():
                    row = {**row, "sample": sample.id, "emotion": sample.emotion, "condition": cond}
                    row["intended"] = circle.emotion_label(sample.emotion)
                    row["match"] = row["label"] == row["intended"]
                    rows.append(row)
                    reused += 1
                    bar.update(1)
                    continue
                if x is None and not silent:
                    try:
                        x, sr = load_audio(path)
                    except DataError as exc:
                        if "all zeros" not in exc.message:  # unreadable, truncated, NaN: a problem
                            problems.append(Problem.from_error(exc))
                            bar.update(len(resolved))
                            break
                        silent = True  # an all-zero clip is a valid answer: label 0, reason "silent"
                        silent_s = _duration_of(path)
                det = silent_detection(m.id, p, silent_s) if silent else detect(x, sr, m.id, p)
                row = detection_row(det, sample.id, sample.emotion, cond, tie_tolerance)
                row.update({"file": str(path), "sha256": digest, "params_hash": ph})
                write_clip_files(det, folder, stem)
                journal.add(key, row)
                rows.append(row)
                computed += 1
                bar.update(1)
    finally:
        bar.close()
        journal.close()
    order = {c: i for i, c in enumerate(conds)}
    ids = {s.id: i for i, s in enumerate(run.samples)}
    rows.sort(key=lambda r: (r["method"], ids.get(r["sample"], 0), order.get(r["condition"], 0)))
    summary = summarize(rows, conds, level)
    summary["primary_label"] = primary
    atomic_write_csv(out_dir / "chords.csv", rows, CSV_COLUMNS)
    counts = {
        "rows": len(rows),
        "expected": len(run.samples) * len(conds) * len(resolved),
        "computed": computed,
        "reused": reused,
    }
    doc = {
        "run": run.name,
        "run_path": str(run.root),
        "conditions": conds,
        "methods": {
            m.id: {"params": p, "params_hash": ph, "description": m.description} for m, p, ph in resolved
        },
        "label_rules": {
            "label": "the paper's Emotional Circle of Fifths over the set of detected pitch classes",
            "label_weighted": f"pitch classes weighted by seconds sounding; ties within "
            f"{tie_tolerance:.0%} of the total are 0",
            "label_key": "mode of the music21 (Krumhansl-Schmuckler) key: major +, minor -, none 0",
        },
        "counts": counts,
        **summary,
        "provenance": provenance(
            command="s2w-eval chords", protocol=protocol, extra={"analysis_sample_rate": 22050}
        ),
    }
    atomic_write_json(out_dir / "chords.json", doc)
    return {"rows": rows, "summary": summary, "problems": problems, "counts": counts, "out_dir": out_dir}


def _duration_of(path) -> float:
    try:
        import soundfile as sf

        return float(sf.info(str(path)).duration)
    except Exception:
        return 0.0


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
