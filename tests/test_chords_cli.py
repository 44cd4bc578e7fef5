"""`s2w-eval chords` end to end: generated runs (silence, bad files, resume) and the published samples."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from s2w_eval.cli import cli
from s2w_eval.clikit import run_main
from s2w_eval.io.audio import write_wav
from s2w_eval.metrics import chords as mchords
from s2w_eval.metrics import circle

from .chords_synth import make_clip
from .conftest import NO_DATA, TEST_DATA

SAMPLES = TEST_DATA / "scene2wav-samples"


def _run(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    run = tmp_path / "myrun"
    (run / "target").mkdir(parents=True)
    (run / "model").mkdir()
    (run / "samples.csv").write_text("sample,emotion\nA,positive\nB,negative\nS,negative\n")
    for cond in ("target", "model"):
        for sid in ("A", "B"):
            c = make_clip("chords", 3.0, 16000, rng)
            write_wav(run / cond / f"{sid}.wav", c.audio, c.sr)
    write_wav(run / "target" / "S.wav", np.zeros(16000, np.float32), 16000)  # silent clip
    (run / "model" / "S.wav").write_bytes(b"RIFF....not a wav")  # unreadable
    return run


def _csv(path):
    return list(csv.DictReader(path.open()))


def test_cli_end_to_end_generated(tmp_path, capsys):
    run = _run(tmp_path)
    out = tmp_path / "reports"
    code = run_main(cli, ["chords", str(run), "--out", str(out), "-q"])
    assert code == 1  # the unreadable file is named, the rest done
    cap = capsys.readouterr()
    assert "S.wav" in cap.err and "pitch classes" in cap.out
    rows = _csv(out / "myrun" / "chords.csv")
    assert len(rows) == 5
    for col in (
        "sample",
        "emotion",
        "condition",
        "method",
        "pitch_classes",
        "label",
        "label_weighted",
        "label_key",
        "key",
        "key_confidence",
        "reason",
    ):
        assert col in rows[0]
    silent = next(r for r in rows if r["sample"] == "S")
    assert silent["condition"] == "target" and silent["label"] == "0" and silent["reason"] == "silent"
    for r in rows:
        lab = r["label"].lstrip("'")
        assert lab == circle.label(r["pitch_classes"])
        assert r["pitch_classes"] == circle.format_pitch_classes(r["pitch_classes"])
        assert r["method"] == "nnls-hmm/1"
    doc = json.loads((out / "myrun" / "chords.json").read_text())
    assert doc["provenance"]["command"] == "s2w-eval chords"
    assert doc["methods"]["nnls-hmm/1"]["params"]["median_s"] == 0.25
    m = [s for s in doc["match"] if s["label_column"] == "label" and s["condition"] == "target"][0]
    assert (
        m["n"] == 3
        and 0 <= m["ci_low"] <= m["share"] + 1e-9
        and m["share"] <= m["ci_high"] + 1e-9 <= 1 + 1e-9
    )
    assert any(a["condition_a"] == "model" and a["condition_b"] == "target" for a in doc["agreement"])
    clips = out / "myrun" / "clips" / "target"
    lab = (clips / "A.nnls-hmm-v1.chords.lab").read_text().splitlines()
    assert lab and all(len(line.split("\t")) == 3 for line in lab)
    assert (clips / "A.nnls-hmm-v1.mid").read_bytes()[:4] == b"MThd"
    # resume: nothing recomputed, same rows
    code = run_main(cli, ["chords", str(run), "--out", str(out), "-q"])
    assert code == 1
    assert "(0 computed, 5 reused)" in capsys.readouterr().err
    assert _csv(out / "myrun" / "chords.csv") == rows


def test_cli_resume_counts(tmp_path, capsys):
    run = _run(tmp_path)
    (run / "model" / "S.wav").unlink()
    shutil.rmtree(run / "model")
    out = tmp_path / "r"
    assert run_main(cli, ["chords", str(run), "--out", str(out), "-q"]) == 0
    capsys.readouterr()
    assert run_main(cli, ["chords", str(run), "--out", str(out), "-q"]) == 0
    assert "(0 computed, 3 reused)" in capsys.readouterr().err


def test_cli_usage_errors(tmp_path, capsys):
    run = _run(tmp_path)
    assert run_main(cli, ["chords", str(run), "--method", "nnls-hm"]) == 2
    assert "did you mean" in capsys.readouterr().err
    assert run_main(cli, ["chords", str(run), "--param", "nope=1"]) == 2
    assert run_main(cli, ["chords", str(tmp_path / "missing")]) == 2


def test_summaries_pure():
    rows = [
        {
            "sample": "a",
            "emotion": "positive",
            "condition": "x",
            "method": "m",
            "label": "+",
            "label_weighted": "+",
            "label_key": "0",
            "pitch_classes": "C D",
        },
        {
            "sample": "b",
            "emotion": "negative",
            "condition": "x",
            "method": "m",
            "label": "+",
            "label_weighted": "-",
            "label_key": "-",
            "pitch_classes": "C",
        },
        {
            "sample": "a",
            "emotion": "positive",
            "condition": "y",
            "method": "m",
            "label": "+",
            "label_weighted": "+",
            "label_key": "+",
            "pitch_classes": "C",
        },
    ]
    s = mchords.match_summary(rows)
    x = next(r for r in s if r["condition"] == "x")
    assert (x["n"], x["matches"], x["share"]) == (2, 1, 0.5)
    ag = mchords.condition_agreement(rows)
    assert ag == [
        {
            "method": "m",
            "condition_a": "x",
            "condition_b": "y",
            "label_column": "label",
            "n": 1,
            "same_label": 1,
            "share_same": 1.0,
            "mean_jaccard": 0.5,
        }
    ]
    assert mchords.clip_labels({"C": 2.0, "C#": 0.5}, "minor") == {
        "label": "0",
        "label_weighted": "+",
        "label_key": "-",
    }


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"real test data not at {SAMPLES}: {NO_DATA}")
def test_published_samples_long(tmp_path, capsys):
    """cognimuse-10s with --long: runs end to end, prints the table; agreement with the paper is reported."""
    out = tmp_path / "rep"
    code = run_main(
        cli,
        ["chords", str(SAMPLES / "cognimuse-10s"), "--long", "--method", "nnls-hmm", "--out", str(out), "-q"],
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "baseline pitch classes" in text and "scene2wav label" in text
    doc = json.loads((out / "cognimuse-10s" / "chords.json").read_text())
    assert doc["provenance"]["protocol"]["name"] == "cognimuse-10s"
    rows = _csv(out / "cognimuse-10s" / "chords.csv")
    assert len(rows) == 6  # 2 samples x 3 conditions
    ref = {
        (r["sample"], c): r[f"label_{c}"]
        for r in csv.DictReader((SAMPLES / "paper_reference.csv").open())
        if r["protocol"] == "cognimuse-10s"
        for c in ("baseline", "scene2wav")
    }
    agree = sum(
        1
        for r in rows
        if (r["sample"], r["condition"]) in ref
        and r["label"].lstrip("'") == ref[(r["sample"], r["condition"])]
    )
    print(f"labels equal to the paper's on cognimuse-10s: {agree}/4")
