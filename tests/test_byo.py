"""Bringing your own outputs: plain folders for pam, `run init`, and runs without emotions."""

from __future__ import annotations

import csv
import json

from s2w_eval.cli import cli
from s2w_eval.clikit import run_main
from tests.conftest import make_run


def _rows(path):
    return list(csv.DictReader(open(path, newline="")))


def test_pam_on_plain_folders(tmp_path, capsys):
    root = make_run(tmp_path / "src", {"a": "positive", "b": "negative"}, seconds=0.5)
    (root / "samples.csv").unlink()  # plain folders: no samples.csv at all
    (root / "baseline" / "b.wav").unlink()  # one clip missing: named, the rest scored
    args = ["pam", "--reference", str(root / "target"), "--estimate", str(root / "baseline")]
    args += ["--estimate", str(root / "scene2wav"), "--metric", "dpam", "--out", str(tmp_path / "out"), "-q"]
    assert run_main(cli, args) == 1
    err = capsys.readouterr().err
    assert "sample 'b' missing in 'baseline'" in err
    rows = _rows(tmp_path / "out" / "target-vs-baseline-scene2wav" / "pam.csv")
    assert sorted((r["sample"], r["condition"]) for r in rows) == [
        ("a", "baseline"),
        ("a", "scene2wav"),
        ("b", "scene2wav"),
    ]
    assert all(r["emotion"] == "" and r["reference"] == "target" for r in rows)
    # results never land in an input folder
    assert run_main(cli, [*args[:-3], "--out", str(root / "target" / "res"), "-q"]) == 2


def test_run_init_and_emotions(tmp_path, capsys):
    root = make_run(tmp_path / "r", {"x1": "positive", "=y2": "negative"}, seconds=0.5)
    (root / "samples.csv").unlink()
    assert run_main(cli, ["run", "init", str(root)]) == 0
    assert _rows(root / "samples.csv")[0].keys() == {"sample"}
    # chords needs emotions: a data error naming samples.csv and the fix
    assert run_main(cli, ["chords", str(root), "--out", str(tmp_path / "o"), "-q"]) == 1
    assert "no intended emotion" in capsys.readouterr().err
    # pam does not: it scores the run without them
    assert run_main(cli, ["pam", str(root), "--metric", "dpam", "--out", str(tmp_path / "o"), "-q"]) == 0
    table = tmp_path / "emotions.csv"
    table.write_text("sample,emotion\nx1,positive\n'=y2,negative\n")
    assert run_main(cli, ["run", "init", str(root), "--emotions", str(table)]) == 2  # exists: --force needed
    assert run_main(cli, ["run", "init", str(root), "--emotions", str(table), "--force"]) == 0
    rows = {r["sample"]: r["emotion"] for r in _rows(root / "samples.csv")}
    assert rows == {"x1": "positive", "'=y2": "negative"}  # the formula guard, read back exactly by s2w
    assert run_main(cli, ["chords", str(root), "--out", str(tmp_path / "o2"), "-q"]) == 0
    doc = json.loads((tmp_path / "o2" / "r" / "chords.json").read_text())
    assert doc["counts"]["rows"] == 6
