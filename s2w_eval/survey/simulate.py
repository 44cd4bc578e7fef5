"""`survey simulate`: a results file in the marketplace's format, from stated true preferences.

For pilots, power analysis and tests. Every rater does every task once (the paper's design: the same raters
judge all scene sets). An attentive rater answers each pair with the stated probability of preferring the
first condition among decisive answers (0.5 for a pair nobody stated), says "no preference" with
probability --none-share when the design allows it, prefers the clean clip of a defect check and answers a
repeated pair as before. A careless rater answers uniformly at random, and on each assignment is too fast
(below the design's min_seconds) with probability 1/2.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from ..io.runs import EMOTIONS
from ..results import atomic_write_csv, atomic_write_json, provenance
from .keyfile import AnswerKey, load_key
from .mturk import RESULT_HEAD
from .preview import read_batch

_SPEC = re.compile(r"^(?:(?P<emotion>[A-Za-z]+):)?(?P<a>[^:>]+)>(?P<b>[^:>]+):(?P<p>[0-9.]+)$")


@dataclass(frozen=True)
class Preference:
    first: str
    second: str
    p: float  # P(first preferred over second) among decisive answers
    emotion: str | None = None


def parse_preference(text: str) -> Preference:
    """'scene2wav>baseline:0.8' or 'negative:scene2wav>target:0.6'."""
    m = _SPEC.match(text.strip())
    if not m:
        raise UsageError(
            f"malformed {text!r}",
            fix="write FIRST>SECOND:P, e.g. scene2wav>baseline:0.8, optionally EMOTION: in front",
            param="prefer",
        )
    p = float(m.group("p"))
    if not 0.0 <= p <= 1.0:
        raise UsageError(f"{text!r}: the probability must be between 0 and 1", param="prefer")
    emotion = m.group("emotion")
    if emotion is not None and emotion not in EMOTIONS:
        raise UsageError(
            f"{text!r}: unknown emotion {emotion!r}", fix=f"use {' or '.join(EMOTIONS)}", param="prefer"
        )
    return Preference(m.group("a").strip(), m.group("b").strip(), p, emotion)


def _p_first(prefs: list[Preference], first: str, second: str, emotion: str) -> float:
    for want_emotion in (emotion, None):
        for p in prefs:
            if p.emotion == want_emotion:
                if (p.first, p.second) == (first, second):
                    return p.p
                if (p.first, p.second) == (second, first):
                    return 1.0 - p.p
    return 0.5


def simulate_rows(
    key: AnswerKey,
    batch: list[dict[str, str]],
    prefs: list[Preference],
    *,
    raters: int,
    careless: float,
    none_share: float,
    seed: int,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    design = key.design
    conds = set(design.conditions)
    for p in prefs:
        for c in (p.first, p.second):
            if c not in conds:
                from ..vocab import did_you_mean

                raise UsageError(
                    f"names condition {c!r}{did_you_mean(c, sorted(conds))} that the survey does not compare",
                    fix=f"conditions: {', '.join(sorted(conds))}",
                    param="prefer",
                )
    if not 0.0 <= careless <= 1.0:
        raise UsageError("must be a share between 0 and 1", param="careless")
    rng = np.random.default_rng(seed)
    workers = [f"SIMW{rng.bytes(5).hex().upper()}" for _ in range(raters)]
    n_careless = int(round(careless * raters))
    careless_set = (
        {workers[i] for i in rng.choice(raters, size=n_careless, replace=False)} if n_careless else set()
    )
    allow_none = design.allow_no_preference
    choices = ["A", "B"] + (["none"] if allow_none else [])
    min_s = float(design.min_seconds or 0.0)
    counts = (key.manifest or {}).get("counts", {})
    play_s = counts.get("min_task_seconds_to_play_everything") or 0.0
    base_time = _dt.datetime(2024, 1, 1, 12, 0, 0, tzinfo=_dt.UTC)
    rows: list[dict[str, Any]] = []
    hp_trials = ((key.manifest or {}).get("headphone_check") or {}).get("trials", [])
    has_practice = bool((key.manifest or {}).get("practice"))
    hit_ids = {}
    for row in batch:
        hit_ids[row["task_id"]] = f"SIMHIT{rng.bytes(6).hex().upper()}"
    for w in workers:
        for row in batch:
            task = row["task_id"]
            items = key.tasks[task]
            sample, emotion = key.sample_of(task)
            answers: dict[int, str] = {}
            is_careless = w in careless_set
            for k in sorted(items):
                it = items[k]
                if is_careless:
                    answers[k] = choices[int(rng.integers(0, len(choices)))]
                    continue
                if it.kind == "defect":
                    answers[k] = it.expected
                elif it.kind == "pair":
                    if allow_none and rng.random() < none_share:
                        answers[k] = "none"
                        continue
                    first_wins = rng.random() < _p_first(prefs, it.first, it.second, emotion)
                    answers[k] = it.first_side if first_wins else ("B" if it.first_side == "A" else "A")
            for k, it in items.items():  # an attentive rater repeats the earlier choice
                if it.kind == "repeat" and not is_careless:
                    prev = items[it.repeat_of].outcome(answers[it.repeat_of])
                    answers[k] = (
                        "none"
                        if prev == "none"
                        else (it.first_side if prev == "first" else ("B" if it.first_side == "A" else "A"))
                    )
            if is_careless and min_s > 0 and rng.random() < 0.5:
                seconds = int(math.floor(rng.uniform(0.1, 0.9) * min_s))
            else:
                seconds = int(max(min_s, play_s) * 1.2 + 5 + rng.exponential(30.0))
            accept = base_time + _dt.timedelta(minutes=len(rows))
            rec = {
                "HITId": hit_ids[task],
                "HITTypeId": "SIMHITTYPE",
                "Title": "Which clip do you prefer?",
                "Reward": "$0.10",
                "AssignmentId": f"SIMA{rng.bytes(7).hex().upper()}",
                "WorkerId": w,
                "AssignmentStatus": "Submitted",
                "AcceptTime": accept.isoformat(),
                "SubmitTime": (accept + _dt.timedelta(seconds=seconds)).isoformat(),
                "WorkTimeInSeconds": seconds,
            }
            rec.update({f"Input.{c}": v for c, v in row.items()})
            rec.update({f"Answer.pair{k}": answers[k] for k in sorted(items)})
            # what the page records besides the answers: consent, headphone check, practice, plays and times
            rec["Answer.consent"] = "yes"
            for t, trial in enumerate(hp_trials, start=1):  # careless raters guess (1 in 3 right)
                rec[f"Answer.hp{t}"] = str(int(rng.integers(1, 4)) if is_careless else trial["quiet"])
            if has_practice:
                rec["Answer.practice"] = choices[int(rng.integers(0, len(choices)))]
            for k in sorted(items):
                rec[f"Answer.pair{k}_plays_a"] = 1
                rec[f"Answer.pair{k}_plays_b"] = 1
                rec[f"Answer.pair{k}_ms"] = int(1000 * seconds / max(1, len(items)))
            rec["Answer.s2w_page_ms"] = 1000 * seconds
            rec.update({"Approve": "", "Reject": ""})
            rows.append(rec)
    truth = {
        "workers": workers,
        "careless": sorted(careless_set),
        "preferences": [p.__dict__ for p in prefs],
        "none_share": none_share if allow_none else 0.0,
    }
    return rows, truth


def results_columns(key: AnswerKey, batch_cols: list[str]) -> list[str]:
    return (
        list(RESULT_HEAD)  # the columns MTurk's batch results start with (fetch writes the same)
        + [f"Input.{c}" for c in batch_cols]
        + [f"Answer.pair{k}" for k in range(1, key.n_items + 1)]
        + _page_columns(key)
        + ["Approve", "Reject"]
    )


def _page_columns(key: AnswerKey) -> list[str]:
    m = key.manifest or {}
    n_hp = len((m.get("headphone_check") or {}).get("trials", []))
    return (
        ["Answer.consent"]
        + [f"Answer.hp{t}" for t in range(1, n_hp + 1)]
        + (["Answer.practice"] if m.get("practice") else [])
        + [f"Answer.pair{k}_{f}" for k in range(1, key.n_items + 1) for f in ("plays_a", "plays_b", "ms")]
        + ["Answer.s2w_page_ms"]
    )


def simulate(
    survey_dir: str | Path,
    prefs: list[Preference],
    *,
    raters: int | None = None,
    careless: float = 0.1,
    none_share: float = 0.1,
    seed: int = 0,
    out: str | Path | None = None,
) -> tuple[Path, dict[str, Any]]:
    survey_dir = Path(survey_dir)
    key = load_key(survey_dir / "answer_key.csv")
    cols, batch = read_batch(survey_dir)
    n = raters or key.design.raters
    rows, truth = simulate_rows(
        key, batch, prefs, raters=n, careless=careless, none_share=none_share, seed=seed
    )
    out_path = Path(out) if out is not None else survey_dir / "simulated_results.csv"
    atomic_write_csv(out_path, rows, results_columns(key, cols))
    truth["provenance"] = provenance(command="s2w-eval survey simulate", seeds={"simulate": seed})
    atomic_write_json(out_path.with_suffix(".truth.json"), truth)
    return out_path, truth


def power(
    survey_dir: str | Path,
    prefs: list[Preference],
    *,
    runs: int = 200,
    raters: int | None = None,
    careless: float = 0.1,
    none_share: float = 0.1,
    seed: int = 0,
    alpha: float = 0.05,
    progress: bool | None = None,
) -> list[dict[str, Any]]:
    """Share of simulated surveys in which each stated pair comes out significant in the stated direction."""
    from ..results import rows_to_csv
    from .aggregate import analyse

    survey_dir = Path(survey_dir)
    key = load_key(survey_dir / "answer_key.csv")
    cols, batch = read_batch(survey_dir)
    n = raters or key.design.raters
    header = results_columns(key, cols)
    hits: dict[tuple[str, str, str], int] = {}
    targets = []
    for p in prefs:
        pair = next(((f, s) for f, s in key.design.pairs if {f, s} == {p.first, p.second}), None)
        if pair is None or p.p == 0.5:
            continue
        targets.append((p, pair))
    import csv
    import io

    from ..progress import track

    for r in track(range(runs), "simulated surveys", "survey", enabled=progress):
        rows, _ = simulate_rows(
            key, batch, prefs, raters=n, careless=careless, none_share=none_share, seed=seed + r
        )
        text = rows_to_csv(rows, header)
        parsed = list(csv.reader(io.StringIO(text)))
        an = analyse(parsed[0], [(i + 2, c) for i, c in enumerate(parsed[1:])], key, light=True)
        for p, (f, s) in targets:
            emo = p.emotion or "all"
            row = next(
                x
                for x in an.preferences
                if x["sample"] == "all" and x["emotion"] == emo and (x["first"], x["second"]) == (f, s)
            )
            stated_first_wins = (p.p > 0.5) if (p.first, p.second) == (f, s) else (p.p < 0.5)
            direction = (row["first_count"] > row["second_count"]) == stated_first_wins
            ok = direction and row["p_value"] == row["p_value"] and row["p_value"] < alpha
            k = (emo, p.first, p.second)
            hits[k] = hits.get(k, 0) + int(ok)
    return [
        {
            "emotion": e,
            "first": a,
            "second": b,
            "stated_p": p.p,
            "runs": runs,
            "detected": hits.get((e, a, b), 0),
            "power": hits.get((e, a, b), 0) / runs if runs else math.nan,
        }
        for p, _ in targets
        for (e, a, b) in [(p.emotion or "all", p.first, p.second)]
    ]
