"""Never lose a user's work: datasets merge by movie (or refuse), and the CSV formula guard round-trips."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from s2w_eval.clikit import run_main
from s2w_eval.errors import UsageError
from s2w_eval.io.runs import read_samples_csv
from s2w_eval.results import atomic_write_csv, csv_safe, csv_unguard
from s2w_models.cli import cli
from s2w_models.data.dataset import SpliceDataset
from s2w_models.data.npz import import_npz
from s2w_models.data.prepare import prepare

from .test_data_prepare import make_movie

EVIL = '=HYPERLINK("http:evil","x")'
TRICKY = [EVIL, "@SUM(A1)", "+1-2", "'quoted", "'=x", "''", "'", "+", "-", "-3", "plain", "\tTAB", ""]


def test_csv_guard_round_trips():
    for v in TRICKY:
        assert csv_unguard(csv_safe(v)) == v, v
    assert csv_safe(EVIL).startswith("'") and csv_safe("plain") == "plain"


def test_run_samples_csv_ids_read_back_exactly(tmp_path):
    ids = [EVIL, "@SUM(A1)", "'quoted", "ok"]
    atomic_write_csv(tmp_path / "samples.csv", [{"sample": i, "emotion": "positive"} for i in ids])
    text = (tmp_path / "samples.csv").read_text()
    assert "\n'@SUM(A1)" in text and "\n\"'=HYPERLINK" in text and "\n''quoted" in text  # inert in a sheet
    samples, problems = read_samples_csv(tmp_path / "samples.csv")
    assert problems == [] and [s.id for s in samples] == ids


@pytest.fixture(scope="module")
def movies(tmp_path_factory):
    root = tmp_path_factory.mktemp("movies")
    for name in ("A", "B", EVIL):
        make_movie(root / "all" / name, seconds=6.5, valence=lambda t: 0.4)
    src1, src2 = root / "one", root / "two"
    src1.mkdir(), src2.mkdir()
    for name in ("A", "B"):
        (src1 / name).symlink_to(root / "all" / name)
    (src2 / EVIL).symlink_to(root / "all" / EVIL)
    return src1, src2


def test_a_movie_named_like_a_formula_stays_readable(movies, tmp_path):
    _, src2 = movies
    res = prepare(src2, tmp_path / "d", split="auto", progress=False)
    assert res.problems == []
    ds = SpliceDataset(tmp_path / "d", None)
    assert set(ds.samples.movie) == {EVIL} and len(ds) >= 1
    assert ds[0]["frames"].shape[0] == 30  # its shard is found and read
    assert "'=HYPERLINK" in (tmp_path / "d" / "samples.csv").read_text()


def test_prepare_into_an_existing_dataset_merges_by_movie(movies, tmp_path):
    src1, src2 = movies
    out = tmp_path / "d"
    prepare(src1, out, progress=False)
    before = pd.read_csv(out / "samples.csv")
    res = prepare(src2, out, progress=False)  # another movie into the same folder
    df = pd.read_csv(out / "samples.csv")
    assert len(df) > len(before) and len(df) == len(res.rows)
    assert set(SpliceDataset(out, None).samples.movie) == {"A", "B", EVIL}
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["movies"] == sorted(["A", "B", EVIL]) and len(meta["history"]) == 1
    assert sum(meta["counts"].values()) == len(df)
    # rows of the earlier movies kept with their split
    old = before.set_index("sample")["split"]
    assert all(df.set_index("sample").loc[s, "split"] == old[s] for s in old.index)
    # a rerun of the same call is not a merge: the index is the same
    text = (out / "samples.csv").read_text()
    prepare(src2, out, progress=False)
    assert (out / "samples.csv").read_text() == text


def test_incompatible_settings_are_refused_before_any_work(movies, tmp_path, capsys):
    src1, src2 = movies
    out = tmp_path / "d"
    prepare(src1, out, progress=False)
    index = (out / "samples.csv").read_bytes()
    shards = sorted(p.name for p in (out / "shards").iterdir())
    with pytest.raises(UsageError, match="fps: 10 there, 5 now") as err:
        prepare(src2, out, fps=5, progress=False)
    assert "replace" in err.value.fix
    assert (out / "samples.csv").read_bytes() == index and sorted(
        p.name for p in (out / "shards").iterdir()
    ) == shards
    code = run_main(cli, ["data", "prepare", str(src2), "--out", str(out), "--fps", "5", "--quiet"])
    assert code == 2 and "--replace" in capsys.readouterr().err
    # --replace starts over: only the new movie, the old shards gone
    assert (
        run_main(cli, ["data", "prepare", str(src2), "--out", str(out), "--fps", "5", "--quiet", "--replace"])
        == 0
    )
    ds = SpliceDataset(out, None)
    assert set(ds.samples.movie) == {EVIL}
    assert not any(p.name.startswith(("A.", "B.")) for p in (out / "shards").iterdir())


def _npz(path, n=3, size=20, seed=0):
    rng = np.random.default_rng(seed)
    np.savez(
        path,
        HSL_data=rng.random((n, 30, 3, size, size)),
        audio=rng.integers(-3000, 3000, (n, 48000)).astype(np.float64),
        emotion=np.arange(n) % 2,
    )
    return path


def test_import_npz_merges_by_file_and_refuses_other_shapes(tmp_path):
    out = tmp_path / "ds"
    import_npz([_npz(tmp_path / "one_train.npz")], out, progress=False)
    import_npz([_npz(tmp_path / "two_test.npz", seed=1)], out, progress=False)
    ds = SpliceDataset(out, None)
    assert set(ds.samples.movie) == {"one_train", "two_test"} and len(ds) == 6
    with pytest.raises(UsageError, match="frame_size"):
        import_npz([_npz(tmp_path / "big_train.npz", size=24)], out, progress=False)
    assert not (out / "shards" / "big_train.frames.npy").exists()
    assert len(SpliceDataset(out, None)) == 6
    shutil.rmtree(out / "shards")
