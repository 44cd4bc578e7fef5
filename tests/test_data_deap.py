"""`data deap` and DEAP's label table, on a generated participant_ratings.csv and a few tiny generated videos."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from s2w_eval.clikit import run_main
from s2w_eval.errors import DataError
from s2w_eval.io.video import write_video
from s2w_models.cli import cli
from s2w_models.data.dataset import SpliceDataset
from s2w_models.data.deap import complete_splices, read_ratings, video_labels

# the authors' negative videos with their grouping by Trial (the rest of 1-16, 19-40 positive)
AUTHORS_NEGATIVE = (8, 14, 16, 19, 21, 26, 28, 33, 39, 40)
EXPERIMENT_NEGATIVE = (1, 2, 3)  # what grouping by Experiment_id gives on the generated file


def write_ratings(path: Path, participants: int = 32, videos: int = 40) -> Path:
    """A participant_ratings.csv in DEAP's format whose two groupings differ, by construction.

    Participant p sees video e = ((t - 1 + p) mod 40) + 1 at trial t (a different order for each). Valence =
    5 + a[t] + b[e] + c[p]: a[t] = -1.5 at the authors' negative trial positions, else +1; b[e] = -1 for videos
    1-3, else 0; c[p] = +-0.25 (cancels over participants). Grouped by Trial, the mean is 5 + a[t] + (mean b over
    32 videos, >= -3/32): negative exactly at the authors' positions. Grouped by Experiment_id it is
    5 + b[e] + (mean a over 32 positions, 0.37 to 0.61): negative exactly for videos 1-3. Arousal: 5 + 2 for even
    trial positions, -2 for odd ones (so the quadrants split under the trial grouping).
    """
    rows = []
    for p in range(participants):
        c = 0.25 if p % 2 == 0 else -0.25
        for t in range(1, videos + 1):
            e = (t - 1 + p) % videos + 1
            a = -1.5 if t in AUTHORS_NEGATIVE else 1.0
            b = -1.0 if e in EXPERIMENT_NEGATIVE else 0.0
            rows.append(
                {
                    "Participant_id": p + 1,
                    "Trial": t,
                    "Experiment_id": e,
                    "Start_time": 3_000_000 + 70_000 * t,
                    "Valence": round(5 + a + b + c, 2),
                    "Arousal": round(5 + (2 if t % 2 == 0 else -2) + c, 2),
                    "Dominance": 5,
                    "Liking": 6,
                    "Familiarity": 2,
                }
            )
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def ratings(tmp_path_factory) -> Path:
    return write_ratings(tmp_path_factory.mktemp("deap") / "participant_ratings.csv")


def _labels(tmp_path: Path, ratings: Path, *args: str) -> pd.DataFrame:
    out = tmp_path / "labels.csv"
    assert run_main(cli, ["data", "labels", str(ratings), "--out", str(out), *args]) == 0
    return pd.read_csv(out, dtype={"video": str})


def test_authors_grouping_reproduces_their_counts(tmp_path, ratings):
    df = _labels(tmp_path, ratings, "--group-by", "trial", "--overlap")
    videos = df[~df.video.str.startswith("total")]
    assert sorted(videos.video.astype(int)) == [v for v in range(1, 41) if v not in (17, 18)]
    assert tuple(sorted(videos[videos.emotion == "negative"].video.astype(int))) == AUTHORS_NEGATIVE
    totals = df[df.video.str.startswith("total")].set_index("video")
    # 28 positive and 10 negative videos: 84 + 30 test splices, 560 + 200 training splices
    assert totals.loc["total positive", ["videos", "test_splices", "train_splices"]].tolist() == [28, 84, 560]
    assert totals.loc["total negative", ["videos", "test_splices", "train_splices"]].tolist() == [10, 30, 200]
    assert (videos.ratings == 32).all()


def test_default_groups_by_video_and_keeps_test_out_of_training(tmp_path, ratings):
    df = _labels(tmp_path, ratings)
    videos = df[~df.video.str.startswith("total")]
    assert tuple(sorted(videos[videos.emotion == "negative"].video.astype(int))) == EXPERIMENT_NEGATIVE
    assert set(videos.train_splices) == {17} and set(videos.test_splices) == {3}
    lab = video_labels(read_ratings(ratings), "experiment")
    assert lab[1].valence_mean == pytest.approx(
        5
        - 1
        + np.mean([-1.5 if t in AUTHORS_NEGATIVE else 1.0 for t in [(1 - 1 - p) % 40 + 1 for p in range(32)]])
    )


def test_other_schemes_on_deap(tmp_path, ratings):
    df = _labels(tmp_path, ratings, "--group-by", "trial", "--labels", "quadrant")
    totals = df[df.video.str.startswith("total")].set_index("video")["videos"].to_dict()
    # even trial positions have high arousal: negatives 8 14 16 26 28 40 even, 19 21 33 39 odd; positives
    # 13 even (2..40 without 18 and the 6), 15 odd (1..39 without 17 and the 4)
    assert totals == {
        "total negative-high": 6,
        "total negative-low": 4,
        "total positive-low": 15,
        "total positive-high": 13,
    }
    # valence3: trial means are 3.5 - 3/32 (negative positions) and 6 - 3/32 (the others), i.e. -0.398 and
    # +0.227 on [-1, 1]: a band of 0.2 leaves every video signed, 0.3 makes the positives neutral, 0.5 all
    for band, want in (
        ("0.2", {"negative": 10, "positive": 28}),
        ("0.3", {"negative": 10, "neutral": 28}),
        ("0.5", {"neutral": 38}),
    ):
        df = _labels(tmp_path, ratings, "--group-by", "trial", "--labels", "valence3", "--neutral-band", band)
        got = df[~df.video.str.startswith("total")].groupby("emotion").size().to_dict()
        assert got == want, band


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d.drop(columns=["Trial"]), "Trial missing"),
        (lambda d: d.assign(Valence=d.Valence.where(d.index != 4, 9.5)), "line 6: Valence must be in"),
        (lambda d: d.assign(Experiment_id=d.Experiment_id.astype(float).where(d.index != 2, 1.5)), "line 4"),
        (lambda d: pd.concat([d, d.iloc[[0]]]), "rates video .* twice"),
    ],
)
def test_bad_ratings_name_the_line(tmp_path, ratings, edit, match):
    bad = tmp_path / "bad.csv"
    edit(pd.read_csv(ratings)).to_csv(bad, index=False)
    with pytest.raises(DataError, match=match):
        read_ratings(bad)


def test_complete_splices():
    assert complete_splices(60.0, 3, 10) == 20  # a one-minute highlight clip (the original's rule gives 19)
    assert complete_splices(59.96, 3, 10) == 20  # one output frame short: still 20 (audio tail zero-padded)
    assert complete_splices(59.8, 3, 10) == 19
    assert complete_splices(11.0, 3, 10) == 3  # the authors' 11 s test clips


# ------------------------------------------------------------------------------------------- end to end
def make_video(path: Path, seconds: float, rgb: tuple[int, int, int], fps: int = 25) -> Path:
    n = int(round(seconds * fps))
    sr = 22050
    frames = np.broadcast_to(np.asarray(rgb, np.uint8), (n, 40, 48, 3)).copy()
    t = np.arange(int(seconds * sr)) / sr
    sound = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None]
    write_video(path, frames, fps, sound, sr)
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("deap_videos")
    make_video(d / "1.mp4", 7.0, (220, 30, 30))  # 2 complete 3 s splices
    make_video(d / "08.mp4", 10.0, (30, 30, 220))  # 3
    make_video(d / "17.mp4", 4.0, (30, 220, 30))  # skipped by the authors' rule
    return d


def test_deap_end_to_end(tmp_path, ratings, videos, capsys):
    out = tmp_path / "ds"
    argv = ["data", "deap", str(ratings), str(videos), "--out", str(out), "--group-by", "trial", "--quiet"]
    argv += ["--ids", "1,8", "--train-splices", "all", "--test-splices", "1", "--val-fraction", "0"]
    assert run_main(cli, argv) == 0
    samples = pd.read_csv(out / "samples.csv")
    assert samples["sample"].tolist() == [
        "deap01_00000",
        "deap01_00001",
        "deap08_00000",
        "deap08_00001",
        "deap08_00002",
    ]
    assert samples.split.tolist() == ["test", "train", "test", "train", "train"]
    assert samples.emotion.tolist() == ["positive"] * 2 + ["negative"] * 3  # trial 8 is an authors' negative
    assert samples.start_s.tolist() == [0.0, 3.0, 0.0, 3.0, 6.0]
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["labels"]["scheme"] == "valence2" and meta["deap"]["group_by"] == "trial"
    assert meta["frames_per_clip"] == 30 and meta["frame_size"] == [100, 100] and meta["sample_rate"] == 16000
    assert meta["deap"]["videos"]["deap08"]["ratings"] == 32
    ds = SpliceDataset(out, split=None)
    assert ds.classes == ("negative", "positive") and ds.labels().tolist() == [1, 1, 0, 0, 0]
    item = ds[0]
    assert tuple(item["frames"].shape) == (30, 3, 100, 100) and tuple(item["audio"].shape) == (48000,)
    red, blue = ds.arrays(0)[0], ds.arrays(2)[0]
    assert abs(float(np.median(red[:, 0])) / 255 - 0.0) < 0.02  # hue of red
    assert abs(float(np.median(blue[:, 0])) / 255 - 2 / 3) < 0.02  # hue of blue
    assert float(item["audio"].abs().max()) > 0.1
    # a rerun reuses both videos; the authors' overlap adds the test splices to training under their own ids
    capsys.readouterr()
    assert run_main(cli, argv) == 0
    assert "reused 2" in capsys.readouterr().out
    assert run_main(cli, [*argv, "--overlap", "--labels", "quadrant"]) == 0
    samples = pd.read_csv(out / "samples.csv")
    assert sorted(samples[samples.split == "test"]["sample"]) == ["deap01_test_00000", "deap08_test_00000"]
    assert (samples.split == "train").sum() == 5
    assert set(samples.emotion) == {"positive-low", "negative-high"}  # trial 1 odd (low), 8 even (high)
    ds = SpliceDataset(out, "train")
    assert ds.classes[ds.labels()[0]] == "positive-low"


def test_deap_missing_videos_are_named_and_the_rest_prepared(tmp_path, ratings, videos):
    out = tmp_path / "ds"
    rc = run_main(
        cli, ["data", "deap", str(ratings), str(videos), "--out", str(out), "--quiet", "--size", "32"]
    )
    assert rc == 1
    meta = json.loads((out / "dataset.json").read_text())
    assert len(meta["problems"]) == 36 and "no video file for video 2" in meta["problems"][0]
    assert meta["movies"] == ["deap01", "deap08"]
    assert any("17.mp4: video 17 skipped" in n for n in meta["notes"])
    assert run_main(cli, ["data", "deap", str(ratings), str(videos), "--out", str(out), "--ids", "17"]) == 2
    assert run_main(cli, ["data", "deap", str(ratings), str(tmp_path / "none"), "--out", str(out)]) == 2


def test_the_cnn_head_follows_the_scheme(tmp_path, ratings, videos):
    from s2w_models.checkpoint import load_model
    from s2w_models.train import train_stage

    out = tmp_path / "ds"
    argv = ["data", "deap", str(ratings), str(videos), "--out", str(out), "--ids", "1,8", "--quiet"]
    argv += ["--labels", "quadrant", "--group-by", "trial", "--train-splices", "all", "--test-splices", "0"]
    assert run_main(cli, [*argv, "--val-fraction", "0.3"]) == 0
    summary = train_stage(
        "cnn", out, tmp_path / "run", preset="tiny", progress=False, overrides=["train.cnn.max_steps=2"]
    )
    assert summary["cnn"]["steps"] == 2
    model, cfg, _ = load_model(tmp_path / "run" / "cnn" / "last.pt")
    assert cfg.data.labels == "quadrant" and cfg.cnn.n_classes == 4 and model.fc.out_features == 4
    assert cfg.data.classes == ("negative-high", "negative-low", "positive-low", "positive-high")


def test_test_splices_from_other_videos(tmp_path, ratings, videos):
    highlights = tmp_path / "highlights"
    highlights.mkdir()
    make_video(highlights / "1.mp4", 4.0, (30, 220, 30))
    out = tmp_path / "ds"
    argv = ["data", "deap", str(ratings), str(videos), "--out", str(out), "--ids", "1", "--quiet"]
    argv += [
        "--test-videos",
        str(highlights),
        "--train-splices",
        "all",
        "--val-fraction",
        "0",
        "--size",
        "16",
    ]
    assert run_main(cli, argv) == 0
    samples = pd.read_csv(out / "samples.csv")
    test = samples[samples.split == "test"]
    assert test["sample"].tolist() == ["deap01_test_00000"] and test.shard.tolist() == ["deap01_test"]
    assert (samples.split == "train").sum() == 2  # every splice of the "raw" video: none held back
    ds = SpliceDataset(out, "test")
    green = ds.arrays(0)[0]
    assert abs(float(np.median(green[:, 0])) / 255 - 1 / 3) < 0.02  # hue of green: the highlight's frames
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["deap"]["overlap"] is False and meta["deap"]["test_videos"] == str(highlights.resolve())


def test_deap_protocol():
    from s2w_eval.protocols import load_protocol

    p = load_protocol("deap-3s")
    assert (
        p.duration == 3.0
        and p.sample_rate == 16000
        and list(p.conditions) == ["target", "baseline", "scene2wav"]
    )
    assert "data deap" in p.data["preparation"]


def test_authors_counts_through_prepare(tmp_path, ratings):
    """Their grouping and overlap on 38 short videos (1 s splices, to stay fast): 84 + 30 test splices and
    560 + 200 training splices, exactly as they report for the one-minute highlights."""
    from s2w_models.data.deap import prepare_deap

    vids = tmp_path / "v"
    vids.mkdir()
    sr = 8000
    for v in [v for v in range(1, 41) if v not in (17, 18)]:
        frames = np.full((200, 16, 16, 3), 6 * v, np.uint8)  # 20 s at 10 fps
        sound = (0.1 * np.sin(2 * np.pi * 220 * np.arange(20 * sr) / sr)).astype(np.float32)[:, None]
        write_video(vids / f"{v}.mp4", frames, 10, sound, sr)
    res = prepare_deap(
        ratings,
        vids,
        tmp_path / "ds",
        seconds=1,
        group_by="trial",
        overlap=True,
        val_fraction=0,
        size=(8, 8),
        progress=False,
    )
    assert not res.problems and len(res.prepared) == 38
    df = pd.DataFrame(res.rows)
    counts = df.groupby(["split", "emotion"]).size().to_dict()
    assert counts == {
        ("test", "positive"): 84,
        ("test", "negative"): 30,
        ("train", "positive"): 560,
        ("train", "negative"): 200,
    }
    neg = sorted({int(m[4:]) for m in df[df.emotion == "negative"].movie})
    assert tuple(neg) == AUTHORS_NEGATIVE
