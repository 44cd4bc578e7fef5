"""`data synth` -> `data prepare` round trip, the dataset contract, alignment, resumability and bad inputs."""

from __future__ import annotations

import json
import pickle
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from s2w_eval.clikit import run_main
from s2w_eval.io.video import read_audio_track, write_video
from s2w_models.cli import cli
from s2w_models.data.annotations import n_splices, parse_annotation, splice_labels
from s2w_models.data.dataset import SpliceDataset
from s2w_models.data.npz import import_npz
from s2w_models.data.prepare import prepare
from s2w_models.data.synth import NEGATIVE_ROOTS, PITCH_NAMES, POSITIVE_ROOTS, synthesize


def write_annotation(path: Path, seconds: float, valence=lambda t: 0.3) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(round(seconds / 0.04))) * 0.04
    path.write_text("".join(f"{ti:.2f} {valence(ti):.3f} 0.100\n" for ti in t))


def make_movie(
    folder: Path,
    seconds: float = 12.0,
    fps: int = 30,
    audio: bool = True,
    flashes=(),
    ann_seconds: float | None = None,
    valence=lambda t: 0.3,
) -> Path:
    """A small COGNIMUSE-format movie: dim frames, bright for 0.1 s at each flash, a click at the same times."""
    sr = 22050
    n = int(round(seconds * fps))
    bright = np.zeros(n, bool)
    for t in flashes:
        bright[int(round(t * fps)) : int(round((t + 0.1) * fps))] = True
    frames = (np.full((48, 64, 3), 235 if b else 30, np.uint8) for b in bright)
    sound = None
    if audio:
        sound = np.zeros((int(seconds * sr), 2), np.float32)
        sound[:, 0] = 0.01 * np.sin(2 * np.pi * 220 * np.arange(sound.shape[0]) / sr)
        sound[:, 1] = 0.03 * np.sin(2 * np.pi * 330 * np.arange(sound.shape[0]) / sr)
        for t in flashes:
            i = int(round(t * sr))
            sound[i : i + 30] = 0.9
    write_video(folder / "video.mp4", frames, fps, sound, sr if audio else None)
    write_annotation(folder / "emotion" / "intended_1.dat", ann_seconds or seconds, valence)
    return folder


# --------------------------------------------------------------------------------------- synth round trip
@pytest.fixture(scope="module")
def synth_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    src, out = root / "src", root / "prepared"
    synthesize(src, minutes=0.8, seed=3, movies=2, size=(60, 80), progress=False)
    res = prepare(src, out, progress=False)
    return src, out, res


def test_synth_writes_the_source_format(synth_set):
    src, _, _ = synth_set
    movies = sorted(p.name for p in src.iterdir() if p.is_dir())
    assert movies == ["synth01", "synth02"]
    assert json.loads((src / "split.json").read_text()) == {"test": ["synth02"]}
    for m in movies:
        ann = parse_annotation(src / m / "emotion" / "intended_1.dat")
        assert ann.time[0] == 0 and np.allclose(np.diff(ann.time), 0.04) and ann.end == pytest.approx(23.96)
        scenes = pd.read_csv(src / m / "scenes.csv")
        assert (scenes.end_s - scenes.start_s).min() >= 3 - 1e-6 and scenes.end_s.iloc[-1] == 24
        lab = pd.read_csv(src / m / "chords.lab", sep="\t", header=None, names=["start", "end", "chord"])
        assert lab.start.iloc[0] == 0 and np.allclose(
            lab.start.iloc[1:].to_numpy(), lab.end.iloc[:-1].to_numpy()
        )
        for row in lab.itertuples():
            root, quality = row.chord.split(":")
            scene = scenes[(scenes.start_s <= row.start + 1e-6) & (row.start < scenes.end_s)].iloc[0]
            pc = PITCH_NAMES.index(root)
            if scene.emotion == "positive":
                assert quality == "maj" and pc in POSITIVE_ROOTS
            else:
                assert quality == "min" and pc in NEGATIVE_ROOTS


def test_synth_is_deterministic_and_resumable(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    synthesize(a, minutes=0.1, seed=7, movies=1, size=(48, 64), progress=False)
    synthesize(b, minutes=0.1, seed=7, movies=1, size=(48, 64), progress=False)
    synthesize(c, minutes=0.1, seed=8, movies=1, size=(48, 64), progress=False)
    for name in ("emotion/intended_1.dat", "chords.lab", "scenes.csv"):
        assert (a / "synth01" / name).read_bytes() == (b / "synth01" / name).read_bytes()
    assert (a / "synth01" / "chords.lab").read_bytes() != (c / "synth01" / "chords.lab").read_bytes()
    mtime = (a / "synth01" / "video.mp4").stat().st_mtime_ns
    synthesize(a, minutes=0.1, seed=7, movies=1, size=(48, 64), progress=False)
    assert (a / "synth01" / "video.mp4").stat().st_mtime_ns == mtime  # reused, not rewritten


def test_round_trip_counts_labels_and_splits(synth_set):
    src, out, res = synth_set
    assert res.problems == [] and sorted(res.prepared) == ["synth01", "synth02"]
    df = pd.read_csv(out / "samples.csv")
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["frames_per_clip"] == 30 and meta["audio_len"] == 48000 and meta["color"] == "hsv"
    assert meta["frame_size"] == [100, 100] and meta["sample_rate"] == 16000 and meta["downmix"] == "average"
    agree = 0
    for movie, part in df.groupby("movie"):
        assert len(part) == n_splices(24.0, 3) == 7
        want = splice_labels(parse_annotation(src / movie / "emotion" / "intended_1.dat"), 24.0, 3)
        assert part.valence.tolist() == [r["valence"] for r in want]
        assert part.emotion.tolist() == [r["emotion"] for r in want]
        scenes = pd.read_csv(src / movie / "scenes.csv")
        for r in part.itertuples():  # the label follows the scene that fills most of the splice
            overlap = (np.minimum(scenes.end_s, r.start_s + 3) - np.maximum(scenes.start_s, r.start_s)).clip(
                0
            )
            agree += scenes.emotion.iloc[int(np.argmax(overlap))] == r.emotion
    assert agree >= 0.8 * len(df)
    assert set(df[df.movie == "synth02"].split) == {"test"}
    train = df[df.movie == "synth01"].sort_values("start_s")
    assert train.split.tolist() == ["train"] * 6 + ["val"]  # validation = the train movie's tail


def test_dataset_contract(synth_set):
    _, out, _ = synth_set
    ds_all = SpliceDataset(out, split=None)
    parts = {s: SpliceDataset(out, s) for s in ("train", "val", "test")}
    assert sum(len(p) for p in parts.values()) == len(ds_all) == 14
    item = parts["test"][0]
    assert set(item) == {"frames", "audio", "emotion", "sample", "index"}
    assert item["frames"].dtype == torch.float32 and item["frames"].shape == (30, 3, 100, 100)
    assert 0 <= item["frames"].min() and item["frames"].max() <= 1
    assert item["audio"].dtype == torch.float32 and item["audio"].shape == (48000,)
    assert item["audio"].abs().max() <= 1 and item["audio"].abs().max() > 0.05
    assert item["emotion"].dtype == torch.int64
    assert item["emotion"].item() == int(parts["test"].samples.emotion.iloc[0] == "positive")
    assert item["sample"] == parts["test"].samples["sample"].iloc[0] and item["index"] == 0
    assert ds_all.meta["seconds"] == 3
    clone = pickle.loads(pickle.dumps(parts["train"]))  # DataLoader workers: re-open the memory maps
    assert clone._shards == {} and torch.equal(clone[1]["frames"], parts["train"][1]["frames"])
    batch = next(iter(torch.utils.data.DataLoader(parts["train"], batch_size=4)))
    assert batch["frames"].shape == (4, 30, 3, 100, 100)
    # stored as uint8 memory maps, never loaded whole
    frames, _ = parts["train"].shard("synth01")
    assert isinstance(frames, np.memmap) and frames.dtype == np.uint8
    # the picture carries the emotion: positive splices are brighter and more saturated on average
    sv = np.array(
        [float((ds_all[i]["frames"][:, 1] * ds_all[i]["frames"][:, 2]).mean()) for i in range(len(ds_all))]
    )
    pos = ds_all.labels() == 1
    assert pos.any() and (~pos).any() and sv[pos].mean() > sv[~pos].mean()
    with pytest.raises(Exception, match="unknown split"):
        SpliceDataset(out, "dev")


def test_prepare_resumes_per_movie(synth_set, tmp_path):
    src, out, _ = synth_set
    res = prepare(src, out, progress=False)
    assert sorted(res.reused) == ["synth01", "synth02"] and res.prepared == []
    # a changed setting re-does the work in a new folder; a changed split does not re-decode
    res = prepare(src, out, split="synth01", progress=False)
    assert sorted(res.reused) == ["synth01", "synth02"]
    df = pd.read_csv(out / "samples.csv")
    assert set(df[df.movie == "synth01"].split) == {"test"}
    prepare(src, out, progress=False)  # restore the default split for the other tests


# ------------------------------------------------------------------------------------- alignment, policies
def test_audio_and_frames_are_aligned(tmp_path):
    src = tmp_path / "src"
    flashes = [0.5, 2.2, 4.0, 7.3, 8.1]
    make_movie(src / "m1", seconds=12.0, fps=30, flashes=flashes)
    res = prepare(src, tmp_path / "out", progress=False)
    assert res.problems == []
    ds = SpliceDataset(tmp_path / "out", None)
    assert len(ds) == 3
    seen = []
    for i in range(len(ds)):
        item = ds[i]
        v = item["frames"][:, 2].mean(dim=(1, 2)).numpy()
        a = item["audio"].numpy()
        for j in np.flatnonzero(v > 0.5):
            t = 3 * i + j / 10
            seen.append(round(t, 1))
            peak = int(np.argmax(np.abs(a[j * 1600 : (j + 1) * 1600])))
            assert np.abs(a[j * 1600 + peak]) > 0.5, t  # the click falls within this frame's 0.1 s
            assert peak < 200, (t, peak)  # ... at its start (within 12.5 ms)
    assert seen == [t for t in flashes if t < 9]


def test_downmix_policies_differ(tmp_path):
    src = tmp_path / "src"
    make_movie(src / "m1", seconds=7.0)
    a = prepare(src, tmp_path / "avg", progress=False)
    b = prepare(src, tmp_path / "left", downmix="left", progress=False)
    assert not a.problems and not b.problems
    xa = SpliceDataset(tmp_path / "avg", None)[0]["audio"].numpy()
    xl = SpliceDataset(tmp_path / "left", None)[0]["audio"].numpy()
    ref = read_audio_track(src / "m1" / "video.mp4", 16000, "left", 0, 3)
    assert np.abs(xl - ref).max() < 2 / 32768
    assert np.abs(xa).max() > 1.5 * np.abs(xl).max()  # (0.01 + 0.03) / 2 vs 0.01


def _vfr_movie(folder: Path) -> None:
    import av

    folder.mkdir(parents=True)
    times = np.r_[np.arange(0, 3, 1 / 30), np.arange(3, 7.2, 1 / 12)]
    sr = 16000
    with av.open(str(folder / "video.mp4"), "w") as out:
        vs = out.add_stream("libx264", rate=30)
        vs.width, vs.height, vs.pix_fmt = 32, 32, "yuv420p"
        vs.time_base = Fraction(1, 1000)
        a = out.add_stream("aac", rate=sr)
        a.layout = "mono"
        for t in times:
            f = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 100, np.uint8), format="rgb24")
            f.pts, f.time_base = int(round(t * 1000)), Fraction(1, 1000)
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        x = (0.2 * np.sin(np.arange(int(7.3 * sr)) * 0.05)).astype(np.float32)
        for i in range(0, x.size, 1024):
            af = av.AudioFrame.from_ndarray(x[None, i : i + 1024], format="fltp", layout="mono")
            af.sample_rate, af.pts, af.time_base = sr, i, Fraction(1, sr)
            for p in a.encode(af):
                out.mux(p)
        for p in a.encode():
            out.mux(p)
    write_annotation(folder / "emotion" / "intended_1.dat", 7.3)


def test_bad_inputs_are_named_and_the_rest_prepared(tmp_path, capsys):
    src = tmp_path / "src"
    make_movie(src / "good", seconds=7.0)
    write_annotation(src / "novideo" / "emotion" / "intended_1.dat", 7.0)
    (src / "junk" / "emotion").mkdir(parents=True)
    (src / "junk" / "video.mp4").write_bytes(b"\x00garbage" * 200)
    write_annotation(src / "junk" / "emotion" / "intended_1.dat", 7.0)
    make_movie(src / "badann", seconds=7.0)
    lines = (src / "badann" / "emotion" / "intended_1.dat").read_text().splitlines()
    lines[4] = "0.16 0.2"
    (src / "badann" / "emotion" / "intended_1.dat").write_text("\n".join(lines) + "\n")
    make_movie(src / "noaudio", seconds=7.0, audio=False)
    make_movie(src / "shortann", seconds=13.0, ann_seconds=5.0, valence=lambda t: 0.5 if t < 3 else -0.5)
    _vfr_movie(src / "vfr")
    out = tmp_path / "out"
    rc = run_main(cli, ["data", "prepare", str(src), "--out", str(out), "--quiet", "--split", "good"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "novideo: no video file" in err
    assert "junk/video.mp4: unreadable video" in err
    assert "intended_1.dat: line 5: expected 3 columns" in err
    assert "noaudio/video.mp4: video has no audio stream" in err
    assert "5 problem(s)" not in err and "4 problem(s)" in err
    assert "shortann: annotation ends at 4.96 s" in err and "reuse the last annotation row" in err
    assert "vfr: variable frame rate" in err
    df = pd.read_csv(out / "samples.csv")
    assert sorted(df.movie.unique()) == ["good", "shortann", "vfr"]
    short = df[df.movie == "shortann"]
    assert (
        short.emotion.tolist() == ["positive"] + ["negative"] * 3
        and short.past_end.tolist()[1:] == [True] * 3
    )
    assert len(df[df.movie == "vfr"]) == n_splices(7.3, 3)
    meta = json.loads((out / "dataset.json").read_text())
    assert len(meta["problems"]) == 4 and any("variable frame rate" in n for n in meta["notes"])
    assert not list((out / "shards").glob(".*tmp"))  # failed movies leave no temp shards
    # the stricter policies for a short annotation
    assert (
        run_main(
            cli,
            [
                "data",
                "prepare",
                str(src),
                "--out",
                str(tmp_path / "o2"),
                "--quiet",
                "--movies",
                "shortann",
                "--short-annotations",
                "truncate",
            ],
        )
        == 0
    )
    assert len(pd.read_csv(tmp_path / "o2" / "samples.csv")) == 1
    assert (
        run_main(
            cli,
            [
                "data",
                "prepare",
                str(src),
                "--out",
                str(tmp_path / "o3"),
                "--quiet",
                "--movies",
                "shortann",
                "--short-annotations",
                "error",
            ],
        )
        == 1
    )
    # usage errors: exit 2, no traceback
    assert run_main(cli, ["data", "prepare", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o4")]) == 2
    assert (
        run_main(cli, ["data", "prepare", str(src), "--out", str(tmp_path / "o4"), "--movies", "gooood"]) == 2
    )
    assert "did you mean 'good'" in capsys.readouterr().err


def test_clips_csv_source(tmp_path):
    make_movie(tmp_path / "clips" / "a", seconds=8.0)
    (tmp_path / "clips" / "clips.csv").write_text(
        "file,start,end,valence\na/video.mp4,0,7,0.3\na/video.mp4,1,2,-0.5\nmissing.mp4,0,6,-0.2\n"
    )
    res = prepare(tmp_path / "clips", tmp_path / "out", progress=False)
    assert len(res.problems) == 1 and "missing.mp4" in res.problems[0].path
    ds = SpliceDataset(tmp_path / "out", None)
    assert len(ds) == 2 and ds.samples.start_s.tolist() == [0.0, 3.0]
    assert ds.samples.emotion.tolist() == ["positive", "positive"]


def test_import_npz(tmp_path):
    rng = np.random.default_rng(0)
    hsv = rng.random((5, 30, 3, 20, 20))
    audio = rng.integers(-30000, 30000, (5, 48000)).astype(np.float64)  # float64 holding int16 values
    emotion = np.array([0, 1, 1, 0, 1])
    p = tmp_path / "video_feats_HSL_10fps_3secs_intAudio_pad_train.npz"
    np.savez_compressed(
        p, HSL_data=hsv, audio=audio, emotion=emotion, text=np.array(["a", "", "c", "d", "e"])
    )
    bad = tmp_path / "x_test.npz"
    np.savez_compressed(bad, HSL_data=hsv, emotion=emotion)
    rows, problems = import_npz([p, bad], tmp_path / "ds", progress=False)
    assert len(problems) == 1 and "lacks the key 'audio'" in problems[0].message
    assert (
        run_main(cli, ["data", "import-npz", str(p), str(bad), "--out", str(tmp_path / "ds"), "--quiet"]) == 1
    )
    assert run_main(cli, ["data", "synth", "--out", str(tmp_path / "s"), "--minutes", "0"]) == 2
    ds = SpliceDataset(tmp_path / "ds", None)
    assert len(ds) == 5 and ds.samples.split.tolist() == ["train"] * 4 + ["val"]
    for i in range(5):
        item = ds[i]
        np.testing.assert_allclose(item["frames"].numpy(), hsv[i], atol=0.5 / 255 + 1e-7)
        np.testing.assert_array_equal(item["audio"].numpy() * 32768, audio[i])
        assert item["emotion"].item() == emotion[i]
    assert ds.meta["frames_per_clip"] == 30 and ds.meta["audio_len"] == 48000
