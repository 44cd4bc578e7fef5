"""`data labels` and the original label rule, against the real COGNIMUSE annotation files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from s2w_eval.clikit import run_main
from s2w_eval.errors import DataError, UsageError
from s2w_models.cli import cli
from s2w_models.data.annotations import Annotation, n_splices, parse_annotation, splice_labels

from .conftest import NO_DATA, TEST_DATA

DATA = TEST_DATA
ANNOTATIONS = DATA / "cognimuse-annotations"

# the paper's Tables 1-2: movie -> (splices, negative, positive)
EXPECTED_3S = {
    "BMI": (625, 608, 17),
    "CHI": (602, 0, 602),
    "FNE": (605, 114, 491),
    "GLA": (600, 125, 475),
    "LOR": (750, 557, 193),
    "CRA": (532, 527, 5),
    "DEP": (609, 245, 364),
}
EXPECTED_10S_TOTALS = {"total train": (953, 423, 530), "total test": (341, 233, 108)}


def needs_annotations():
    if not (ANNOTATIONS / "BMI" / "intended_1.dat").is_file():
        pytest.skip(f"COGNIMUSE annotations not found under {ANNOTATIONS} ({NO_DATA})")


def _table(out_csv: Path) -> dict[str, tuple[int, int, int]]:
    df = pd.read_csv(out_csv)
    return {r.movie: (int(r.splices), int(r.negative), int(r.positive)) for r in df.itertuples()}, df


def test_labels_3s_match_the_paper(tmp_path, capsys):
    needs_annotations()
    out = tmp_path / "labels.csv"
    rc = run_main(cli, ["data", "labels", str(ANNOTATIONS), "--durations", "DEP=1828.8", "--out", str(out)])
    assert rc == 0
    got, df = _table(out)
    for movie, want in EXPECTED_3S.items():
        assert got[movie] == want, movie
    assert got["total train"] == (3182, 1404, 1778)
    assert got["total test"] == (1141, 772, 369)
    splits = dict(zip(df.movie, df.split))
    assert {m for m, s in splits.items() if s == "test" and not m.startswith("total")} == {"CRA", "DEP"}
    dep = df[df.movie == "DEP"].iloc[0]
    assert dep.duration_from == "given" and int(dep.past_annotation_end) == 9
    printed = capsys.readouterr().out
    assert "| BMI" in printed and "609" in printed


def test_labels_10s_and_dep_needs_the_video_length(tmp_path):
    needs_annotations()
    out = tmp_path / "l10.csv"
    assert (
        run_main(
            cli,
            [
                "data",
                "labels",
                str(ANNOTATIONS),
                "--seconds",
                "10",
                "--durations",
                "DEP=1828.8",
                "--out",
                str(out),
            ],
        )
        == 0
    )
    got, _ = _table(out)
    for k, want in EXPECTED_10S_TOTALS.items():
        assert got[k] == want
    # without DEP's real length the annotation's end decides: 599 (235/364), as the spec warns
    assert run_main(cli, ["data", "labels", str(ANNOTATIONS), "--out", str(out)]) == 0
    got, _ = _table(out)
    assert got["DEP"] == (599, 235, 364)


def test_labels_usage_errors(tmp_path):
    needs_annotations()
    assert run_main(cli, ["data", "labels", str(ANNOTATIONS), "--durations", "DXP=3"]) == 2
    assert run_main(cli, ["data", "labels", str(ANNOTATIONS), "--durations", "DEP"]) == 2
    assert run_main(cli, ["data", "labels", str(tmp_path / "nowhere")]) == 2


def _ann(valence, arousal=None, step=0.04):
    v = np.asarray(valence, float)
    return Annotation(
        "x.dat",
        np.round(np.arange(v.size) * step, 2),
        v,
        np.zeros_like(v) if arousal is None else np.asarray(arousal, float),
    )


def test_label_rule_details():
    # 75 rows per 3 s window; the mean is rounded to 3 decimals before the sign test (>= 0 is positive)
    v = np.full(250, 0.5)
    v[75:150] = -0.0004  # rounds to -0.0 -> positive
    v[150:225] = np.r_[np.full(74, 0.0), -0.075]  # mean -0.001 -> negative
    rows = splice_labels(_ann(v), duration=9.0, seconds=3)
    assert n_splices(9.0, 3) == len(rows) == 2  # range(0, 9 - 3, 3) -> 0, 3: the last splice [6, 9) dropped
    assert [r["emotion"] for r in rows] == ["positive", "positive"]
    rows = splice_labels(_ann(v), duration=9.99, seconds=3)  # int(D) truncates
    assert len(rows) == 2
    rows = splice_labels(_ann(v), duration=12.0, seconds=3)
    assert [r["emotion"] for r in rows] == ["positive", "positive", "negative"]
    assert rows[2]["valence"] == -0.001
    # past the end: the last row is reused ("extend"), dropped ("truncate") or rejected ("error")
    short = _ann(np.r_[np.full(75, 0.2), np.full(25, -0.3)])  # 4 s of annotation
    rows = splice_labels(short, duration=12.0, seconds=3)
    assert len(rows) == 3 and rows[2]["valence"] == -0.3 and rows[2]["past_end"] and not rows[0]["past_end"]
    assert len(splice_labels(short, duration=12.0, seconds=3, short="truncate")) == 1
    with pytest.raises(DataError, match="annotation ends at"):
        splice_labels(short, duration=12.0, seconds=3, short="error")
    with pytest.raises(UsageError):
        splice_labels(short, duration=12.0, short="nope")


@pytest.mark.parametrize(
    "content, line, match",
    [
        ("0 0.1 0.2\n0.04 0.1\n", 2, "expected 3 columns"),
        ("0 0.1 0.2\n0.04 0.1 0.2\n0.08 abc 0.1\n", 3, "not a number"),
        ("0 0.1 0.2\n0.04 0.1 0.2\n0.04 0.1 0.2\n", 3, "does not increase"),
        ("0 0.1 0.2\n\n0.04 1.5 0.2\n", 3, "outside"),
        ("0 0.1 nan\n", 1, "NaN"),
    ],
)
def test_bad_annotation_rows_name_the_line(tmp_path, content, line, match):
    p = tmp_path / "intended_1.dat"
    p.write_text(content)
    with pytest.raises(DataError, match=match) as err:
        parse_annotation(p)
    assert f"line {line}:" in str(err.value) and str(p) in str(err.value)


def test_bad_annotation_files(tmp_path):
    p = tmp_path / "intended_1.dat"
    p.write_text("\n\n")
    with pytest.raises(DataError, match="no rows"):
        parse_annotation(p)
    p.write_bytes(b"\x00\x05\x16\x07\xff\xfe Mac OS X")  # the AppleDouble junk the original data ships
    with pytest.raises(DataError, match="not text"):
        parse_annotation(p)
    with pytest.raises(DataError, match="not found"):
        parse_annotation(tmp_path / "missing.dat")


def test_real_annotation_facts():
    needs_annotations()
    ann = parse_annotation(ANNOTATIONS / "LOR" / "intended_1.dat")
    assert ann.end == pytest.approx(2253.6)
    assert np.allclose(np.diff(ann.time), 0.04, atol=1e-6)
    assert ann.valence.min() == pytest.approx(-1.0) and ann.valence.max() == pytest.approx(0.493)
    # LOR with the table's rounded duration 37.57 min gives 751 splices (spec caveat)
    assert n_splices(37.57 * 60, 3) == 751
