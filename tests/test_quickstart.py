"""`s2w-models quickstart --small` end to end: every artefact exists and is sane; a rerun reuses every step."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest

from s2w_eval.clikit import run_main
from s2w_eval.io.audio import load_audio
from s2w_eval.io.runs import load_run
from s2w_models.cli import cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def qs(tmp_path_factory) -> tuple[Path, float]:
    out = tmp_path_factory.mktemp("qs") / "quickstart"
    t0 = time.perf_counter()
    # DPAM only: CDPAM costs ~4 s of CPU per 3 s clip and is covered by the pam tests
    rc = run_main(cli, ["quickstart", "--out", str(out), "--small", "--metric", "dpam", "--quiet"])
    assert rc == 0
    return out, time.perf_counter() - t0


def test_layout_and_checkpoints(qs):
    out, _ = qs
    for p in ("synth/synth.json", "data/dataset.json", "data/samples.csv", "quickstart.json"):
        assert (out / p).is_file(), p
    for stage in ("cnn", "encoder", "scene2wav"):
        assert (out / "train" / stage / "best.pt").stat().st_size > 1000
    state = json.loads((out / "quickstart.json").read_text())
    assert state["settings"]["clips"] == 4 and state["protocol"]["name"] == "quickstart"
    assert all(s["status"] in ("done", "skipped") for s in state["steps"].values()), state["steps"]
    assert state["provenance"]["command"] == "s2w-models quickstart"


def test_run_is_a_valid_run(qs):
    out, _ = qs
    run = load_run(out / "runs" / "synthetic-test")
    assert not run.problems, run.problems
    assert len(run.samples) == 4
    assert sorted(s.emotion for s in run.samples) == ["negative", "negative", "positive", "positive"]
    assert set(run.conditions) == {"target", "baseline", "scene2wav"}
    for cond in run.conditions:
        for s in run.samples:
            x, sr = load_audio(run.clip(cond, s.id))
            assert sr == 16000 and x.size == 16000, (cond, s.id, x.size)
            assert np.all(np.isfinite(x)) and np.abs(x).max() <= 1.0 and np.std(x) > 1e-4
    # generated clips carry sidecars naming the checkpoint and the protocol
    side = run.sidecars[("scene2wav", run.samples[0].id)]
    assert side["protocol"]["name"] == "quickstart" and len(side["checkpoint_sha256"]) == 64
    assert len(run.scenes) == 4  # the scene videos


def test_result_files_and_report(qs):
    out, _ = qs
    res = out / "reports" / "synthetic-test"
    rows = list(csv.DictReader(open(res / "pam.csv")))
    assert len(rows) == 4 * 2  # 4 samples x (baseline, scene2wav), DPAM
    assert all(float(r["distance"]) > 0 for r in rows)
    pam = json.loads((res / "pam.json").read_text())
    (metric,) = pam["summary"]
    assert set(pam["summary"][metric]["conditions"]) == {"baseline", "scene2wav"}
    assert pam["provenance"]["protocol"]["name"] == "quickstart"
    # survey sheets
    batch = list(csv.DictReader(open(res / "survey" / "batch.csv")))
    assert len(batch) == 4 and (res / "survey" / "answer_key.csv").is_file()
    # report: the PAM table shape with the result file's numbers, figures for every sample, provenance
    md = (res / "report.md").read_text()
    assert "paper Table 3 shape" in md and "| sample" in md
    for r in rows:
        assert f"{float(r['distance']):.4f}" in md
    # a figure per sample + the PAM box plot + the calibration ladders
    assert md.count("![") == 4 + 1 + 1 and "## Provenance" in md
    # every evaluation of the protocol ran and is in the report
    dist = json.loads((res / "dist.json").read_text())
    assert set(dist["summary"]) == {"kad/dpam", "fad/dpam"}
    assert set(dist["summary"]["kad/dpam"]["conditions"]) == {"baseline", "scene2wav"}
    cal = json.loads((res / "calibrate.json").read_text())
    assert set(cal["summary"]) == {"dpam", "chords", "kad"}
    assert "## Distribution distances to the reference set" in md and "## Metric calibration" in md
    html = (res / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 + 1 + 1
    assert (res / "report.tex").read_text().count(r"\begin{tabular}") >= 3
    from s2w_eval.cli import COMMANDS

    if "chords" in COMMANDS:  # chords step ran: one row per clip (4 samples x 3 conditions) per method
        chords = list(csv.DictReader(open(res / "chords.csv")))
        assert len(chords) == 12 and {r["condition"] for r in chords} == {"target", "baseline", "scene2wav"}
        assert "Agreement with the intended emotion" in md and "paper Tables 4-5 shape" in md


def test_rerun_reuses_everything(qs, capsys):
    out, first = qs
    t0 = time.perf_counter()
    assert run_main(cli, ["quickstart", "--out", str(out), "--small", "--metric", "dpam", "--quiet"]) == 0
    again = time.perf_counter() - t0
    err = capsys.readouterr().err
    for step in (
        "synthesize scenes",
        "prepare dataset",
        "train CNN",
        "train Scene2Wav",
        "generate run",
        "score PAM",
        "build survey",
    ):
        assert f"{step}: reused" in err, step
    assert again < first / 3, (again, first)


def test_bad_call_is_a_usage_error(tmp_path):
    assert run_main(cli, ["quickstart", "--out", str(tmp_path / "q"), "--clips", "1"]) == 2
