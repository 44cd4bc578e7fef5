"""Run discovery (the layout of docs/generation.md): layout, sidecars, scenes, and every problem reported by name."""

from __future__ import annotations

import json

import pytest

from s2w_eval.errors import DataError, UsageError
from s2w_eval.io.runs import find_runs, load_run
from tests.conftest import make_run


def test_discovers_layout(tmp_path):
    root = make_run(tmp_path / "runs" / "r1", {"a": "positive", "b": "negative"})
    (root / "baseline" / "a.json").write_text(json.dumps({"model": "baseline", "seed": 1}))
    (root / "scenes").mkdir()
    (root / "scenes" / "a.mp4").write_bytes(b"x")
    (root / "scenes" / "baseline").mkdir()
    (root / "scenes" / "baseline" / "a.mp4").write_bytes(b"x")
    runs = find_runs([tmp_path / "runs"])
    assert [r.name for r in runs] == ["r1"]
    run = runs[0]
    assert run.problems == []
    assert sorted(run.conditions) == ["baseline", "scene2wav", "target"]
    assert run.sidecars[("baseline", "a")]["seed"] == 1
    assert run.scenes["a"].name == "a.mp4"
    assert ("baseline", "a") in run.condition_scenes
    assert run.emotion_of("b") == "negative"


def test_problems_are_named_and_rest_kept(tmp_path):
    root = make_run(tmp_path / "r", {"a": "positive", "b": "negative", "c": "positive"})
    (root / "samples.csv").write_text(
        "sample,emotion\na,positive\nb,negative\nc,positive\nb,positive\nd,happy\n"
    )
    (root / "baseline" / "c.wav").unlink()  # missing sample
    (root / "scene2wav" / "zz.wav").write_bytes((root / "scene2wav" / "a.wav").read_bytes())  # orphan
    (root / "scene2wav" / "a.flac").write_bytes(b"")  # duplicate id in a condition
    (root / "baseline" / "a.json").write_text("{not json")
    run = load_run(root)
    msgs = "\n".join(p.format() for p in run.problems)
    assert "line 5: duplicate sample id 'b'" in msgs
    assert "line 6: sample 'd' has emotion 'happy'" in msgs
    assert "sample 'c' missing in condition 'baseline'" in msgs
    assert "zz.wav: orphan file" in msgs
    assert "duplicate id 'a' in condition 'scene2wav'" in msgs
    assert "a.json: malformed sidecar" in msgs
    assert run.sample_ids == ["a", "b", "c"]
    assert set(run.conditions["baseline"]) == {"a", "b"}


def test_malformed_samples_csv(tmp_path):
    root = make_run(tmp_path / "r", {"a": "positive"})
    (root / "samples.csv").write_text("id,label\na,positive\n")
    with pytest.raises(DataError, match="missing column"):
        load_run(root)
    good = make_run(tmp_path / "g", {"a": "positive"})
    problems = []
    runs = find_runs([tmp_path], problems)
    assert [r.root for r in runs] == [good]
    assert len(problems) == 1 and "samples.csv" in problems[0].path


def test_no_run_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no run found"):
        find_runs([tmp_path])
    with pytest.raises(UsageError, match="not found"):
        find_runs([tmp_path / "missing"])


def test_real_published_runs(shared_data):
    runs = find_runs([shared_data / "scene2wav-samples"])
    by = {r.name: r for r in runs}
    assert set(by) == {"cognimuse-3s", "cognimuse-10s"}
    r3 = by["cognimuse-3s"]
    assert r3.problems == []
    assert len(r3.samples) == 10 and sorted(r3.conditions) == ["baseline", "scene2wav", "target"]
    assert len(r3.scenes) == 10
