"""`s2w-eval dist`: the task on the shared runner (rows, resume, cache, a changed clip), the CLI, the errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from s2w_eval.cli import cli
from s2w_eval.clikit import run_main
from s2w_eval.features.cache import EmbeddingCache
from s2w_eval.features.embeddings import Embedding
from s2w_eval.io.audio import write_wav
from s2w_eval.io.runs import load_run
from s2w_eval.metrics import dist as D
from s2w_eval.runner import run_task
from s2w_eval.tasks.dist import DistTask
from tests.conftest import make_run, tone

SAMPLES = {f"s{i}": ("positive" if i % 2 else "negative") for i in range(6)}


class Bands(Embedding):
    """Log band energies: a cheap deterministic embedding that counts its calls."""

    name, sample_rate, weights_sha256 = "bands", 16000, "b" * 64

    def __init__(self):
        self.calls = 0

    def embed(self, x):
        self.calls += 1
        return np.log1p(np.abs(np.fft.rfft(x, 256))[:16]).astype(np.float32)

    def describe(self):
        return {"embedding": self.name}


def test_dist_rows_resume_and_changed_clip(tmp_path):
    run = load_run(make_run(tmp_path / "r", SAMPLES))
    cache = EmbeddingCache(tmp_path / "cache")
    emb = Bands()
    task = DistTask([emb], metrics=["kad", "fad"], n_resamples=200)
    res = run_task(run, task, tmp_path / "out", cache=cache, progress=False)
    assert len(res.rows) == 4 and res.computed == 4  # 2 conditions x 2 distances
    assert emb.calls == 18  # 6 references + 12 outputs, each once (the references serve both conditions)
    rows = list(csv.DictReader(open(tmp_path / "out" / "dist.csv")))
    assert set(rows[0]) >= {
        "condition",
        "embedding",
        "metric",
        "value",
        "ci95_low",
        "ci95_high",
        "n",
        "n_ref",
    }
    assert {(r["condition"], r["metric"]) for r in rows} == {
        (c, m) for c in ("baseline", "scene2wav") for m in ("kad", "fad")
    }
    doc = json.loads((tmp_path / "out" / "dist.json").read_text())
    assert doc["schema_version"] and doc["bootstrap"]["paired"] is True
    assert "biased upward" in doc["summary"]["fad/bands"]["note"]
    # the values are the metric functions on the same embeddings
    ref = np.stack([emb.embed(emb.load(run.clip("target", s))) for s in SAMPLES])
    out = np.stack([emb.embed(emb.load(run.clip("baseline", s))) for s in SAMPLES])
    row = next(r for r in res.rows if r["condition"] == "baseline" and r["metric"] == "kad")
    assert row["value"] == pytest.approx(D.kad(ref, out), rel=1e-6)
    assert row["ci95_low"] <= row["value"] <= row["ci95_high"] and row["n"] == 6

    # rerun: nothing recomputed or embedded
    emb2 = Bands()
    res2 = run_task(
        run, DistTask([emb2], metrics=["kad", "fad"], n_resamples=200), tmp_path / "out", cache=cache
    )
    assert res2.computed == 0 and res2.reused == 4 and emb2.calls == 0

    # one changed clip: its condition's distances are recomputed, and only its embedding is made again
    write_wav(run.root / "baseline" / "s3.wav", tone(700, 0.5, seed=42), 16000)
    run = load_run(run.root)
    emb3 = Bands()
    res3 = run_task(
        run, DistTask([emb3], metrics=["kad", "fad"], n_resamples=200), tmp_path / "out", cache=cache
    )
    assert res3.computed == 2 and res3.reused == 2 and emb3.calls == 1


def test_dist_needs_two_shared_samples(tmp_path):
    root = make_run(tmp_path / "r", {"a": "positive", "b": "negative"})
    (root / "scene2wav" / "b.wav").unlink()
    res = run_task(load_run(root), DistTask([Bands()], n_resamples=50), tmp_path / "out", progress=False)
    assert {r["condition"] for r in res.rows} == {"baseline"}
    assert any("at least 2" in p.message for p in res.problems)


def _dist(args, capsys):
    code = run_main(cli, ["dist", *args])
    return code, capsys.readouterr()


def test_cli_dist_on_dpam_embeddings(tmp_path, cache_dir, capsys):
    root = make_run(tmp_path / "r", {k: SAMPLES[k] for k in ("s0", "s1", "s2", "s3")}, seconds=0.5)
    code, cap = _dist(
        [
            str(root),
            "--embedding",
            "dpam",
            "--out",
            str(tmp_path / "out"),
            "--cache-dir",
            str(cache_dir),
            "--resamples",
            "100",
            "-q",
        ],
        capsys,
    )
    assert code == 0, cap.err
    assert "kad" in cap.out and "baseline" in cap.out
    doc = json.loads((tmp_path / "out" / "r" / "dist.json").read_text())
    assert doc["embeddings"]["dpam"]["weights_sha256"] and doc["metrics"] == ["kad"]
    assert set(doc["summary"]["kad/dpam"]["conditions"]) == {"baseline", "scene2wav"}


def test_cli_dist_usage_errors(tmp_path, capsys):
    root = make_run(tmp_path / "r", {"a": "positive", "b": "negative"})
    code, cap = _dist([str(root), "--metric", "kld", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "kld" in cap.err
    code, cap = _dist([str(root), "--embedding", "vggish", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "never downloads" in cap.err
    code, cap = _dist(
        [str(root), "--embedding", "dpam", "--weights", "x.pth", "--out", str(tmp_path / "o")], capsys
    )
    assert code == 2 and "weights" in cap.err
    code, cap = _dist(
        [
            str(root),
            "--embedding",
            "vggish",
            "--weights",
            str(tmp_path / "none.pth"),
            "--out",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert code == 1 and "not found" in cap.err
