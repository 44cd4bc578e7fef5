"""Label schemes and the agreement of circle labels with them (s2w_eval.metrics.emotion)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from s2w_eval.metrics.emotion import (
    ALL_CLASSES,
    SCHEMES,
    agreement_per_class,
    circle_to_class,
    class_counts,
    classify,
    confusion_matrix,
    intended_circle_label,
    scheme_of_classes,
    valence_of,
    wilson_interval,
)
from s2w_eval.stats import wilson_ci


def test_scheme_classes_and_order():
    assert SCHEMES["valence2"].classes == ("negative", "positive")  # index 1 = positive, as before schemes
    assert SCHEMES["valence3"].classes == ("negative", "neutral", "positive")
    assert SCHEMES["quadrant"].classes == ("negative-high", "negative-low", "positive-low", "positive-high")
    assert SCHEMES["valence3"].neutral == "neutral" and SCHEMES["valence2"].neutral is None
    assert scheme_of_classes(["positive"]).name == "valence2"
    assert scheme_of_classes(["neutral", "positive"]).name == "valence3"
    assert scheme_of_classes(["negative-low"]).name == "quadrant"
    assert scheme_of_classes(["neutral", "negative-low"]) is None
    assert len(ALL_CLASSES) == 7  # negative, positive, neutral and the four quadrants


def test_the_cli_offers_every_scheme():
    from s2w_models.cli_data import LABEL_SCHEMES

    assert tuple(SCHEMES) == LABEL_SCHEMES


def test_classify_rules():
    assert classify(0.0, None, "valence2") == "positive"  # exactly 0 is positive (the original's >= 0)
    assert classify(-0.001, None, "valence2") == "negative"
    # valence3: neutral iff |v| < band; the band's edges belong to the signed classes
    assert [classify(v, None, "valence3", 0.1) for v in (-0.1, -0.0999, 0.0, 0.0999, 0.1)] == [
        "negative",
        "neutral",
        "neutral",
        "neutral",
        "positive",
    ]
    # with a band of 0 valence3 is valence2
    grid = np.linspace(-1, 1, 401)
    assert [classify(v, None, "valence3", 0.0) for v in grid] == [classify(v, None, "valence2") for v in grid]
    assert classify(0.2, 0.0, "quadrant") == "positive-high"
    assert classify(0.2, -0.01, "quadrant") == "positive-low"
    assert classify(-0.2, 0.5, "quadrant") == "negative-high"
    assert classify(-0.2, -0.5, "quadrant") == "negative-low"
    with pytest.raises(ValueError, match="arousal"):
        classify(0.2, None, "quadrant")
    with pytest.raises(ValueError, match="arousal"):
        classify(0.2, float("nan"), "quadrant")
    with pytest.raises(ValueError, match="unknown label scheme"):
        classify(0.2, None, "valence5")
    with pytest.raises(ValueError, match="finite"):
        classify(float("nan"), None, "valence2")


def test_circle_labels_and_classes():
    assert circle_to_class("0", "valence3") == "neutral"
    assert circle_to_class("0", "valence2") is None and circle_to_class("0", "quadrant") is None
    assert circle_to_class("+", "valence2") == "positive" and circle_to_class("-", "valence3") == "negative"
    assert circle_to_class("+", "quadrant") == "positive"  # the circle speaks of valence only
    with pytest.raises(ValueError, match="circle label"):
        circle_to_class("x", "valence2")
    assert [intended_circle_label(c) for c in SCHEMES["quadrant"].classes] == ["-", "-", "+", "+"]
    assert intended_circle_label("neutral") == "0"
    assert valence_of("positive-low") == "positive"
    with pytest.raises(ValueError, match="unknown emotion class"):
        valence_of("happy")


def test_confusion_matrix_and_agreement_per_class():
    intended = ["negative"] * 5 + ["neutral"] * 4 + ["positive"] * 6
    labels = ["-", "-", "-", "0", "+"] + ["0", "0", "+", "-"] + ["+"] * 5 + ["0"]
    rows, cols, m = confusion_matrix(intended, labels, "valence3")
    assert rows == ("negative", "neutral", "positive") and cols == ("-", "0", "+")
    assert m.tolist() == [[3, 1, 1], [1, 2, 1], [0, 1, 5]]
    agree = {r["class"]: r for r in agreement_per_class(intended, labels, "valence3")}
    assert [agree[c]["matches"] for c in ("negative", "neutral", "positive", "all")] == [3, 2, 5, 10]
    assert agree["all"]["n"] == 15 and agree["neutral"]["share"] == 0.5
    for r in agree.values():  # scipy's Wilson interval equals the project's own
        ci = wilson_ci(r["matches"], r["n"])
        assert r["ci_low"] == pytest.approx(ci.low) and r["ci_high"] == pytest.approx(ci.high)
    # the same clips under valence2 (neutral clips absent): a tie never agrees
    two = [(c, lab) for c, lab in zip(intended, labels, strict=True) if c != "neutral"]
    agree2 = {
        r["class"]: r for r in agreement_per_class([c for c, _ in two], [x for _, x in two], "valence2")
    }
    assert agree2["negative"]["matches"] == 3 and agree2["positive"]["matches"] == 5
    # a class without samples: n = 0, NaN share and bounds
    q = {
        r["class"]: r for r in agreement_per_class(["positive-low", "negative-high"], ["+", "+"], "quadrant")
    }
    assert q["positive-low"]["matches"] == 1 and q["negative-high"]["matches"] == 0
    assert q["positive-high"]["n"] == 0 and math.isnan(q["positive-high"]["share"])
    assert math.isnan(q["positive-high"]["ci_low"])
    with pytest.raises(ValueError, match="not a class"):
        confusion_matrix(["neutral"], ["0"], "valence2")
    with pytest.raises(ValueError, match="intended classes but"):
        confusion_matrix(["positive"], [], "valence2")


def test_wilson_interval_reference_values():
    lo, hi = wilson_interval(8, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)  # the textbook Wilson 95 % interval
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


def test_class_counts():
    assert class_counts(["neutral", "positive", "neutral"], "valence3") == {
        "negative": 0,
        "neutral": 2,
        "positive": 1,
    }
    with pytest.raises(ValueError):
        class_counts(["neutral"], "valence2")


def test_scheme_summary_of_chords_rows():
    from s2w_eval.metrics.emotion import scheme_summary

    rows = [
        {"method": "m", "condition": c, "emotion": e, "label": lab}
        for c, e, lab in [
            ("target", "neutral", "0"),
            ("target", "positive", "+"),
            ("target", "negative", "+"),
            ("baseline", "neutral", "-"),
            ("baseline", "positive", "+"),
            ("baseline", "negative", "-"),
        ]
    ]
    out = scheme_summary(rows)
    assert out["scheme"] == "valence3" and out["classes"] == ["negative", "neutral", "positive"]
    tgt = {r["class"]: r for r in out["per_class"] if r["condition"] == "target"}
    assert (tgt["neutral"]["matches"], tgt["negative"]["matches"], tgt["all"]["matches"]) == (1, 0, 2)
    conf = {(r["condition"], r["intended"]): (r["-"], r["0"], r["+"]) for r in out["confusion"]}
    assert conf[("baseline", "neutral")] == (1, 0, 0) and conf[("target", "negative")] == (0, 0, 1)
    two = scheme_summary([r for r in rows if r["emotion"] != "neutral"])
    assert two["scheme"] == "valence2"
    with pytest.raises(ValueError, match="no single label scheme"):
        scheme_summary([{**rows[0], "emotion": "positive-low"}, rows[0]])


def test_runs_and_the_circle_accept_every_scheme_class(tmp_path):
    from s2w_eval.io.runs import normalise_emotion, read_samples_csv
    from s2w_eval.metrics.circle import emotion_label

    for c in ALL_CLASSES:
        assert normalise_emotion(c) == c
        assert emotion_label(c) == intended_circle_label(c)
    p = tmp_path / "samples.csv"
    p.write_text("sample,emotion\na,neutral\nb,positive-high\nc,happy\n")
    samples, problems = read_samples_csv(p)
    assert [s.emotion for s in samples] == ["neutral", "positive-high"]
    assert len(problems) == 1 and "'happy'" in problems[0].message


def test_chords_scores_a_run_of_valence3_classes(tmp_path, capsys):
    import json

    from s2w_eval.cli import cli
    from s2w_eval.clikit import run_main
    from s2w_eval.io.audio import write_wav

    from .chords_synth import make_clip

    run = tmp_path / "v3run"
    (run / "target").mkdir(parents=True)
    (run / "samples.csv").write_text("sample,emotion\nA,positive\nS,neutral\n")
    c = make_clip("chords", 3.0, 16000, np.random.default_rng(1))
    write_wav(run / "target" / "A.wav", c.audio, c.sr)
    write_wav(run / "target" / "S.wav", np.zeros(16000, np.float32), 16000)  # silent: the circle says 0
    assert run_main(cli, ["chords", str(run), "--out", str(tmp_path / "rep")]) == 0
    printed = capsys.readouterr().out
    assert "agreement per intended class, valence3 scheme" in printed and "confusion matrix" in printed
    doc = json.loads((tmp_path / "rep" / "v3run" / "chords.json").read_text())
    neutral = [
        r for r in doc["match_by_emotion"] if r["emotion"] == "neutral" and r["label_column"] == "label"
    ]
    assert neutral and all(r["n"] == 1 and r["matches"] == 1 for r in neutral)  # a tie is the neutral class
    es = doc["emotion_classes"]["label"]
    assert es["scheme"] == "valence3" and es["classes"] == ["negative", "neutral", "positive"]
    per = {(r["method"], r["class"]): r for r in es["per_class"]}
    assert all(per[(m, "neutral")]["matches"] == 1 for m, _ in per)
    conf = [r for r in es["confusion"] if r["intended"] == "neutral"]
    assert conf and all((r["-"], r["0"], r["+"]) == (0, 1, 0) for r in conf)
    # the report follows the scheme: the tie agrees with neutral, per-class and confusion tables
    rep = tmp_path / "rep" / "v3run"
    assert run_main(cli, ["report", str(rep), "--format", "md", "--max-figures", "0"]) == 0
    md = (rep / "report.md").read_text()
    assert "agreement per intended class, valence3 scheme" in md and "confusion matrix, intended class" in md
