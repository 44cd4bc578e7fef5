"""The runner's contract (s2w_eval.runner): keys, finite values only, a verified cache, safe concurrent writes."""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from s2w_eval.features.base import PerceptualMetric
from s2w_eval.features.cache import EmbeddingCache, encode_entry
from s2w_eval.io.audio import load_audio
from s2w_eval.io.runs import load_run
from s2w_eval.runner import run_task
from s2w_eval.tasks.pam import PamTask
from tests.conftest import REPO, make_run


class Bands(PerceptualMetric):
    """Band energies as the embedding, L1 distance; counts the clips it embeds."""

    name = "bands"
    loader = "test"
    sample_rate = 16000
    weights_sha256 = "e" * 64
    embedding_shape = (64,)

    def __init__(self):
        self.embedded = 0

    def load(self, path):
        return load_audio(path, sr=16000)[0]

    def embed(self, clips):
        self.embedded += len(clips)
        return [np.log1p(np.abs(np.fft.rfft(c, 512))[:64]).astype(np.float32) for c in clips]

    def distance(self, a, b):
        return float(np.abs(a - b).mean())

    def describe(self):
        return {"metric": self.name}


def _rows(path):
    return list(csv.DictReader(open(path, newline="")))


def test_key_covers_samples_csv_fields(tmp_path):
    """Changing a sample's emotion in samples.csv rescores it; pam.csv never keeps the old emotion."""
    root = make_run(tmp_path / "r", {"a": "positive", "b": "negative"})
    run_task(load_run(root), PamTask([Bands()]), tmp_path / "out")
    text = (root / "samples.csv").read_text().replace("a,positive", "a,negative")
    (root / "samples.csv").write_text(text)
    metric = Bands()
    res = run_task(load_run(root), PamTask([metric]), tmp_path / "out")
    assert res.computed == 2 and res.reused == 2  # a's two pairs, not b's
    assert {r["emotion"] for r in _rows(tmp_path / "out" / "pam.csv") if r["sample"] == "a"} == {"negative"}


def test_non_finite_is_a_problem_and_retried(tmp_path):
    root = make_run(tmp_path / "r", {"a": "positive", "b": "negative"})

    class Flaky(Bands):
        def __init__(self, bad: bool):
            super().__init__()
            self.bad = bad
            self.calls = 0

        def distance(self, a, b):
            self.calls += 1
            return float("nan") if self.bad and self.calls == 1 else super().distance(a, b)

    res = run_task(load_run(root), PamTask([Flaky(bad=True)]), tmp_path / "out")
    assert res.computed == 3 and len(res.rows) == 3
    assert any("distance = nan" in p.message and "retried" in p.message for p in res.problems)
    doc = json.loads((tmp_path / "out" / "pam.json").read_text())
    assert doc["counts"]["problems"] >= 1 and doc["summary"]["bands"]["conditions"]
    journal = (tmp_path / "out" / ".pam.journal.jsonl").read_text().splitlines()
    assert len(journal) == 3  # the NaN item was never journaled
    again = run_task(load_run(root), PamTask([Flaky(bad=False)]), tmp_path / "out")
    assert again.computed == 1 and again.reused == 3 and not again.problems


@pytest.mark.parametrize("damage", ["truncate", "alter", "wrong-shape", "garbage"])
def test_cache_entries_are_verified(tmp_path, damage):
    root = make_run(tmp_path / "r", {"a": "positive"})
    cache = EmbeddingCache(tmp_path / "cache")
    first = run_task(load_run(root), PamTask([Bands()]), tmp_path / "o1", cache=cache)
    entries = sorted((tmp_path / "cache").rglob("*.emb"))
    assert len(entries) == 3
    victim = entries[0]
    blob = victim.read_bytes()
    if damage == "truncate":
        victim.write_bytes(blob[:-10])
    elif damage == "alter":
        victim.write_bytes(blob[:-4] + b"\x00\x00\x80\x7f")
    elif damage == "wrong-shape":
        victim.write_bytes(encode_entry(np.ones((3, 7), np.float32)))
    else:
        victim.write_bytes(b"not an entry at all")
    metric = Bands()
    again = run_task(load_run(root), PamTask([metric]), tmp_path / "o2", cache=cache)
    assert metric.embedded == 1  # only the damaged entry was recomputed
    assert [r["distance"] for r in again.rows] == [r["distance"] for r in first.rows]
    warnings = [p for p in again.problems if p.warning]
    assert len(warnings) == 1 and str(victim) in warnings[0].path and "discarded" in warnings[0].message
    assert json.loads((tmp_path / "o2" / "pam.json").read_text())["warnings"]
    # and the entry is good again
    assert (
        EmbeddingCache(tmp_path / "cache").get(("bands", "e" * 16, "16000"), victim.stem, shape=(64,))
        is not None
    )


def test_files_get_the_users_umask(tmp_path):
    root = make_run(tmp_path / "r", {"a": "positive"})
    old = os.umask(0o022)
    try:
        run_task(load_run(root), PamTask([Bands()]), tmp_path / "out", cache=EmbeddingCache(tmp_path / "c"))
    finally:
        os.umask(old)
    for name in ("pam.csv", "pam.json"):
        assert stat.S_IMODE((tmp_path / "out" / name).stat().st_mode) == 0o644, name
    entry = next((tmp_path / "c").rglob("*.emb"))
    assert stat.S_IMODE(entry.stat().st_mode) == 0o644


def test_out_inside_the_run_is_refused(tmp_path):
    from s2w_eval.errors import UsageError

    root = make_run(tmp_path / "r", {"a": "positive"})
    for out in (root, root / "results"):
        with pytest.raises(UsageError, match="inputs are never written to"):
            run_task(load_run(root), PamTask([Bands()]), out)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        run_task(load_run(root), PamTask([Bands()]), tmp_path / "afile" / "out")


_TWO_PROCS = """
import sys
sys.path.insert(0, {repo!r})
from tests.test_runner import Bands
from s2w_eval.features.cache import EmbeddingCache
from s2w_eval.io.runs import load_run
from s2w_eval.runner import run_task
from s2w_eval.tasks.pam import PamTask
for _ in range(3):
    run_task(load_run({root!r}), PamTask([Bands()]), {out!r}, cache=EmbeddingCache({cache!r}))
"""


def test_two_processes_share_cache_and_output(tmp_path):
    root = make_run(tmp_path / "r", {f"s{i}": "positive" for i in range(6)}, seconds=0.3)
    code = _TWO_PROCS.format(
        repo=str(REPO), root=str(root), out=str(tmp_path / "out"), cache=str(tmp_path / "c")
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    rows = _rows(tmp_path / "out" / "pam.csv")
    assert len(rows) == 12
    single = run_task(load_run(root), PamTask([Bands()]), tmp_path / "single")
    assert [r["distance"] for r in rows] == [repr(r["distance"]) for r in single.rows]
    assert not list((tmp_path / "out").glob(".*.tmp")) and not list((tmp_path / "c").rglob("*.tmp"))
