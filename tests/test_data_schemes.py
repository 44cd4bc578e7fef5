"""Label schemes on COGNIMUSE: the label table on the real annotations, and prepare relabelling without decoding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from s2w_eval.clikit import run_main
from s2w_eval.errors import DataError, UsageError
from s2w_eval.io.video import write_video
from s2w_models.cli import cli
from s2w_models.data.dataset import SpliceDataset
from s2w_models.data.prepare import prepare

from .conftest import NO_DATA, TEST_DATA

ANNOTATIONS = TEST_DATA / "cognimuse-annotations"

# docs/data.md: the real annotation files, 3 s splices, DEP=1828.8 (totals: train / test)
VALENCE3_3S = {"total train": (3182, 1326, 125, 1731), "total test": (1141, 707, 155, 279)}
QUADRANT_3S = {"total train": (3182, 498, 906, 1077, 701), "total test": (1141, 333, 439, 338, 31)}


def _table(tmp_path: Path, *args: str) -> pd.DataFrame:
    if not (ANNOTATIONS / "BMI" / "intended_1.dat").is_file():
        pytest.skip(f"COGNIMUSE annotations not found under {ANNOTATIONS} ({NO_DATA})")
    out = tmp_path / "t.csv"
    argv = ["data", "labels", str(ANNOTATIONS), "--durations", "DEP=1828.8", "--out", str(out), *args]
    assert run_main(cli, argv) == 0
    return pd.read_csv(out).set_index("movie")


def test_schemes_on_the_real_annotations(tmp_path):
    two = _table(tmp_path)
    three = _table(tmp_path, "--labels", "valence3")
    quad = _table(tmp_path, "--labels", "quadrant")
    for k, want in VALENCE3_3S.items():
        assert tuple(three.loc[k, ["splices", "negative", "neutral", "positive"]]) == want
    for k, want in QUADRANT_3S.items():
        cols = ["splices", "negative-high", "negative-low", "positive-low", "positive-high"]
        assert tuple(quad.loc[k, cols]) == want
    # every scheme splits the same splices; the quadrants refine valence2, valence3 moves a band to neutral
    assert (quad["negative-high"] + quad["negative-low"]).equals(two["negative"])
    assert (quad["positive-low"] + quad["positive-high"]).equals(two["positive"])
    assert (three["negative"] <= two["negative"]).all() and (three["positive"] <= two["positive"]).all()
    assert (three.negative + three.neutral + three.positive).equals(two.splices)
    # a band of 0 is valence2
    zero = _table(tmp_path, "--labels", "valence3", "--neutral-band", "0")
    assert zero["negative"].equals(two["negative"]) and (zero["neutral"] == 0).all()


def _movie(folder: Path) -> None:
    """12 s: three 3 s windows of valence 0.5, 0.05, -0.5 and arousal 0.3, -0.3, 0.3."""
    fps, sr = 25, 22050
    frames = np.full((12 * fps, 32, 32, 3), 90, np.uint8)
    sound = (0.1 * np.sin(2 * np.pi * 330 * np.arange(12 * sr) / sr)).astype(np.float32)[:, None]
    write_video(folder / "video.mp4", frames, fps, sound, sr)
    t = np.arange(300) * 0.04
    v = np.select([t < 3, t < 6], [0.5, 0.05], -0.5)
    a = np.select([t < 3, t < 6], [0.3, -0.3], 0.3)
    (folder / "emotion").mkdir(parents=True)
    (folder / "emotion" / "intended_1.dat").write_text(
        "".join(f"{ti:.2f} {vi:.3f} {ai:.3f}\n" for ti, vi, ai in zip(t, v, a, strict=True))
    )


def test_prepare_relabels_without_decoding(tmp_path):
    src, out = tmp_path / "src", tmp_path / "ds"
    _movie(src / "m1")
    _movie(src / "m2")
    res = prepare(src, out, size=(16, 16), val_fraction=0, progress=False)
    assert res.prepared == ["m1", "m2"]
    assert [r["emotion"] for r in res.rows if r["movie"] == "m1"] == ["positive", "positive", "negative"]
    res = prepare(src, out, size=(16, 16), val_fraction=0, labels="valence3", progress=False)
    assert res.reused == ["m1", "m2"] and res.prepared == []
    assert [r["emotion"] for r in res.rows if r["movie"] == "m1"] == ["positive", "neutral", "negative"]
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["labels"] == {
        "scheme": "valence3",
        "classes": ["negative", "neutral", "positive"],
        "neutral_band": 0.1,
        "rule": "neutral iff |valence| < 0.1, else positive iff valence >= 0",
    }
    ds = SpliceDataset(out, split=None)
    assert ds.classes == ("negative", "neutral", "positive") and ds.labels().tolist() == [2, 1, 0] * 2
    rc = run_main(
        cli, ["data", "prepare", str(src), "--out", str(out), "--size", "16", "--labels", "quadrant"]
    )
    assert rc == 0
    ds = SpliceDataset(out, split=None)
    assert [ds.classes[i] for i in ds.labels()[:3]] == ["positive-high", "positive-low", "negative-high"]
    # samples.csv must hold the scheme's classes
    df = pd.read_csv(out / "samples.csv")
    df.loc[0, "emotion"] = "neutral"
    df.to_csv(out / "samples.csv", index=False)
    with pytest.raises(DataError, match="unknown emotion value"):
        SpliceDataset(out)
    with pytest.raises(UsageError, match="unknown label scheme"):
        prepare(src, out, labels="valence9", progress=False)


def test_quadrant_needs_arousal(tmp_path):
    src = tmp_path / "clips"
    src.mkdir()
    _movie(src)
    (src / "clips.csv").write_text("file,start,end,valence\nvideo.mp4,0,6,0.4\n")
    with pytest.raises(DataError, match="arousal"):
        prepare(src, tmp_path / "ds", size=(16, 16), labels="quadrant", progress=False)
    res = prepare(src, tmp_path / "ds", size=(16, 16), labels="valence3", progress=False)
    assert {r["emotion"] for r in res.rows} == {"positive"}


def test_generation_selection_balances_every_class():
    from collections import Counter

    from s2w_models.generate import select_samples

    emos = ["negative"] * 10 + ["neutral"] * 3 + ["positive"] * 10
    assert Counter(emos[i] for i in select_samples(emos, 9, seed=0)) == {
        "negative": 3,
        "neutral": 3,
        "positive": 3,
    }
    # too few neutral ones: all taken, the rest shared by the others
    got = Counter(emos[i] for i in select_samples(emos, 14, seed=0))
    assert got["neutral"] == 3 and {got["negative"], got["positive"]} == {5, 6}
    quad = ["negative-high", "negative-low", "positive-low", "positive-high"] * 5
    assert set(Counter(quad[i] for i in select_samples(quad, 8, seed=4)).values()) == {2}


def test_a_merge_by_movie_keeps_one_label_scheme(tmp_path):
    """Preparing one more movie with another scheme relabels the kept movies too (never a mixed index)."""
    src, out = tmp_path / "src", tmp_path / "ds"
    _movie(src / "m1")
    _movie(src / "m2")
    prepare(src, out, size=(16, 16), val_fraction=0, movies=["m1"], progress=False)
    res = prepare(src, out, size=(16, 16), val_fraction=0, movies=["m2"], labels="valence3", progress=False)
    by_movie = {m: [r["emotion"] for r in res.rows if r["movie"] == m] for m in ("m1", "m2")}
    assert by_movie == {"m1": ["positive", "neutral", "negative"], "m2": ["positive", "neutral", "negative"]}
    ds = SpliceDataset(out, split=None)
    assert ds.classes == ("negative", "neutral", "positive") and ds.labels().tolist() == [2, 1, 0] * 2
