"""`s2w-eval pam`: CDPAM against its authors' reference, the scorer's caching/resume, bad inputs, end to end."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from s2w_eval.cli import cli
from s2w_eval.clikit import run_main
from s2w_eval.features.base import PerceptualMetric
from s2w_eval.features.cache import EmbeddingCache
from s2w_eval.io.audio import load_audio, write_wav
from s2w_eval.io.runs import load_run
from s2w_eval.metrics.pam import summarize
from s2w_eval.runner import run_task
from s2w_eval.tasks.pam import PamTask
from tests.conftest import REPO, make_run, tone

# --- the metric itself -------------------------------------------------------------------------------------


def test_cdpam_reference_value(cdpam_metric, shared_data):
    ref_dir = shared_data / "cdpam-reference"
    ref = cdpam_metric.load(ref_dir / "ref.wav")
    two = cdpam_metric.load(ref_dir / "2.wav")
    e_ref, e_two = cdpam_metric.embed([ref, two])
    d = cdpam_metric.distance(e_two, e_ref)
    assert abs(d - 0.1696) < 5e-4  # CDPAM(ref, 2) = 0.1696 per the metric's authors
    assert cdpam_metric.distance(e_ref, e_ref) == 0.0
    assert cdpam_metric.distance(e_ref, e_two) == pytest.approx(d, abs=1e-7)
    # the input convention: x 32768, rounded
    x, _ = load_audio(ref_dir / "ref.wav", sr=22050)
    np.testing.assert_array_equal(ref, np.round(x.astype(np.float64) * 32768).astype(np.float32))


def test_cdpam_weights_hash_checked(monkeypatch, tmp_path):
    import s2w_eval.features.cdpam as mod
    from s2w_eval.errors import DataError

    monkeypatch.setattr(mod, "CDPAM_WEIGHTS_SHA256", "0" * 64)
    with pytest.raises(DataError, match="sha256"):
        mod.CDPAMMetric()


# --- the scorer, with a cheap deterministic metric ---------------------------------------------------------


def score_run(run, metrics, out_dir, **kwargs):
    return run_task(run, PamTask(metrics), out_dir, **kwargs)


class SpectralMetric(PerceptualMetric):
    """Band energies as the embedding; L1 distance. Counts the clips it embeds."""

    name = "spectral"
    loader = "test"
    sample_rate = 16000
    weights_sha256 = "f" * 64

    def __init__(self):
        self.embedded = 0

    def load(self, path):
        return load_audio(path, sr=16000)[0]

    def embed(self, clips):
        self.embedded += len(clips)
        return [np.log1p(np.abs(np.fft.rfft(c, 512))[:64]) for c in clips]

    def distance(self, a, b):
        return float(np.abs(a - b).mean())

    def describe(self):
        return {"metric": self.name}


def test_scores_every_item_and_reuses_work(tmp_path):
    run = load_run(make_run(tmp_path / "r", {"a": "positive", "b": "negative", "c": "positive"}))
    metric = SpectralMetric()
    cache = EmbeddingCache(tmp_path / "cache")
    res = score_run(run, [metric], tmp_path / "out", cache=cache, progress=False)
    assert len(res.rows) == 6 and res.computed == 6
    assert metric.embedded == 9  # 3 references (shared by both conditions) + 6 outputs: each clip once
    rows = list(csv.DictReader(open(tmp_path / "out" / "pam.csv")))
    assert [r["condition"] for r in rows[:2]] == ["baseline", "scene2wav"]
    for col in ("sample", "emotion", "condition", "metric", "distance", "duration_s", "sample_rate"):
        assert col in rows[0]
    summary = json.loads((tmp_path / "out" / "pam.json").read_text())
    assert summary["provenance"]["s2w_version"] and summary["counts"]["rows"] == 6
    s = summary["summary"]["spectral"]
    assert set(s["conditions"]) == {"baseline", "scene2wav"}
    assert s["pairs"][0]["a_wins"] + s["pairs"][0]["b_wins"] + s["pairs"][0]["ties"] == 3

    # rerun: nothing recomputed, identical output
    metric2 = SpectralMetric()
    res2 = score_run(run, [metric2], tmp_path / "out", cache=cache, progress=False)
    assert res2.computed == 0 and res2.reused == 6 and metric2.embedded == 0
    assert res2.rows == res.rows

    # a second output folder sharing the cache: no embedding work either
    metric3 = SpectralMetric()
    score_run(run, [metric3], tmp_path / "out2", cache=cache, progress=False)
    assert metric3.embedded == 0

    # a changed input file is rescored (and only that item)
    write_wav(run.root / "baseline" / "b.wav", tone(300, 0.5, seed=99), 16000)
    run = load_run(run.root)
    metric4 = SpectralMetric()
    res4 = score_run(run, [metric4], tmp_path / "out", cache=cache, progress=False)
    assert res4.computed == 1 and res4.reused == 5 and metric4.embedded == 1


def test_summary_statistics():
    rows = [
        {"metric": "m", "sample": f"s{i}", "condition": c, "distance": d, "emotion": "positive"}
        for i in range(8)
        for c, d in (("a", 1.0 + i), ("b", 2.0 + i * 1.1))
    ]
    s = summarize(rows, seed=3)["m"]
    assert s["conditions"]["a"]["mean"] == pytest.approx(4.5)
    assert s["conditions"]["a"]["ci95_low"] < 4.5 < s["conditions"]["a"]["ci95_high"]
    pair = s["pairs"][0]
    assert pair["a_wins"] == 8 and pair["better_by_wins"] == "a"
    assert pair["p_value"] == pytest.approx(0.0078125)  # exact Wilcoxon, n = 8, all one sign
    assert summarize(rows, seed=3) == summarize(rows, seed=3)


# --- the CLI: bad inputs, exit codes, formats --------------------------------------------------------------


def _pam(args, capsys):
    code = run_main(cli, ["pam", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_bad_inputs_named_rest_scored(tmp_path, cache_dir, capsys):
    root = make_run(
        tmp_path / "runs" / "bad", {"a": "positive", "b": "negative", "c": "positive"}, seconds=0.3
    )
    (root / "samples.csv").write_text("sample,emotion\na,positive\nb,negative\nc,positive\na,negative\n")
    (root / "baseline" / "c.wav").unlink()  # missing in a condition
    write_wav(root / "scene2wav" / "orphan.wav", tone(500, 0.3), 16000)  # orphan
    data = (root / "scene2wav" / "b.wav").read_bytes()
    (root / "scene2wav" / "b.wav").write_bytes(data[: len(data) // 2])  # truncated
    write_wav(root / "baseline" / "b.wav", np.zeros(4800, np.float32), 16000)  # all zeros
    code, out, err = _pam(
        [
            str(tmp_path / "runs"),
            "--metric",
            "cdpam",
            "--out",
            str(tmp_path / "rep"),
            "--cache-dir",
            str(cache_dir),
            "--quiet",
        ],
        capsys,
    )
    assert code == 1
    assert "duplicate sample id 'a'" in err
    assert "sample 'c' missing in condition 'baseline'" in err
    assert "orphan.wav: orphan file" in err
    assert "scene2wav/b.wav: truncated WAV" in err
    assert "baseline/b.wav: audio is all zeros" in err
    rows = list(csv.DictReader(open(tmp_path / "rep" / "bad" / "pam.csv")))
    assert {(r["sample"], r["condition"]) for r in rows} == {
        ("a", "baseline"),
        ("a", "scene2wav"),
        ("c", "scene2wav"),
    }
    assert "**" in out or "0." in out  # the table printed


def test_cli_usage_errors(tmp_path, capsys):
    make_run(tmp_path / "r", {"a": "positive"}, seconds=0.2)
    code, _, err = _pam([str(tmp_path / "r"), "--metric", "cdpamm"], capsys)
    assert code == 2 and "did you mean 'cdpam'" in err
    code, _, err = _pam([str(tmp_path / "nope")], capsys)
    assert code == 2 and "path not found" in err
    code, _, err = _pam([str(tmp_path / "r"), "--batch-size", "0"], capsys)
    assert code == 2
    code, _, err = _pam(
        [
            str(tmp_path / "r"),
            "--metric",
            "cdpam",
            "--reference",
            "nothere",
            "--quiet",
            "--out",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert code == 1 and "reference condition 'nothere' not found" in err


def test_cli_kill_and_resume_equals_uninterrupted(tmp_path):
    samples = {f"s{i}": ("positive" if i % 2 else "negative") for i in range(4)}
    make_run(tmp_path / "runs" / "k", samples, seconds=0.4)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable,
        "-m",
        "s2w_eval.cli",
        "pam",
        str(tmp_path / "runs"),
        "--metric",
        "cdpam",
        "--quiet",
        "--out",
        str(tmp_path / "rep"),
        "--cache-dir",
        str(tmp_path / "cache-k"),
    ]
    journal = tmp_path / "rep" / "k" / ".pam.journal.jsonl"
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if journal.exists() and len(journal.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the job ended before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(journal.read_text().splitlines())
    assert 2 <= done_before < 8
    assert not (tmp_path / "rep" / "k" / "pam.csv").exists()  # nothing half-written
    rerun = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert rerun.returncode == 0, rerun.stderr
    assert f"({8 - done_before} computed, {done_before} reused)" in rerun.stderr
    fresh = subprocess.run(
        [*cmd[:-4], "--out", str(tmp_path / "fresh"), "--no-cache"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert fresh.returncode == 0, fresh.stderr
    a = list(csv.DictReader(open(tmp_path / "rep" / "k" / "pam.csv")))
    b = list(csv.DictReader(open(tmp_path / "fresh" / "k" / "pam.csv")))
    assert [(r["sample"], r["condition"]) for r in a] == [(r["sample"], r["condition"]) for r in b]
    np.testing.assert_allclose(
        [float(r["distance"]) for r in a], [float(r["distance"]) for r in b], atol=1e-6
    )


# --- end to end on the original system's published samples -------------------------------------------------


@pytest.mark.slow
def test_end_to_end_published_samples(shared_data, tmp_path, cache_dir, capsys):
    run = shared_data / "scene2wav-samples" / "cognimuse-3s"
    args = [
        str(run),
        "--metric",
        "cdpam",
        "--out",
        str(tmp_path / "rep"),
        "--cache-dir",
        str(cache_dir),
        "--quiet",
    ]
    code, out, err = _pam(args, capsys)
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "rep" / "cognimuse-3s" / "pam.csv")))
    assert len(rows) == 20
    assert {r["condition"] for r in rows} == {"baseline", "scene2wav"}
    assert all(np.isfinite(float(r["distance"])) and float(r["distance"]) > 0 for r in rows)
    assert {r["sample_rate"] for r in rows} >= {"44100", "16000"}  # the published formats vary
    for s in [f"N{i}" for i in range(1, 6)] + [f"P{i}" for i in range(1, 6)]:
        assert f"| {s} " in out
    assert "bootstrap 95% CI" in out and "Wilcoxon p" in out
    data = json.loads((tmp_path / "rep" / "cognimuse-3s" / "pam.json").read_text())
    assert data["metrics"]["cdpam"]["weights_sha256"].startswith("453c8b6e")
    assert data["summary"]["cdpam"]["conditions"]["baseline"]["n"] == 10
    # a rerun is served entirely from the journal
    code, out2, err2 = _pam(args + ["--format", "latex"], capsys)
    assert code == 0 and "(0 computed, 20 reused)" in err2 and "\\begin{tabular}" in out2
    code, out3, _ = _pam(args + ["--format", "csv"], capsys)
    assert out3.splitlines()[0] == "sample,emotion,condition,metric,distance"


def test_long_selects_the_10s_protocol(shared_data, tmp_path, capsys):
    run = shared_data / "scene2wav-samples" / "cognimuse-10s"
    code, out, err = _pam([str(run), "--long", "--metric", "dpam", "--out", str(tmp_path), "--quiet"], capsys)
    assert code == 0, err
    data = json.loads((tmp_path / "cognimuse-10s" / "pam.json").read_text())
    assert data["provenance"]["protocol"]["name"] == "cognimuse-10s"
    # the protocol's DPAM loader (the paper's) applies unless --dpam-loader says otherwise
    assert list(data["metrics"]) == ["dpam-scratch/paper2020"]
    rows = list(csv.DictReader(open(tmp_path / "cognimuse-10s" / "pam.csv")))
    assert len(rows) == 4 and all(float(r["duration_s"]) > 9.5 for r in rows)
    code, _, err = _pam([str(run), "--long", "--protocol", "cognimuse-3s"], capsys)
    assert code == 2 and "either --protocol or --long" in err
