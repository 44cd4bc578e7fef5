"""Hostile audio headers and samples: refused before decoding/resampling, named, and never cost the run."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from s2w_eval.errors import DataError
from s2w_eval.io import audio
from s2w_eval.io.audio import load_audio, probe_audio, write_wav

from .conftest import REPO, tone


def _one_hz(path):
    x = (0.5 * np.sin(np.arange(3000) / 5)).astype(np.float32)
    sf.write(path, x, 1)  # a header claiming 1 Hz: 50 min of "audio" in 6 kB
    return path


def _huge_floats(path, sr=16000):
    x = tone(440, 0.5, sr)
    x[100] = 3e38
    x[200] = -3e38
    sf.write(path, x, sr, subtype="FLOAT")
    return path


@pytest.mark.parametrize("rate", [1, 50, 999, 1_000_000])
def test_absurd_sample_rates_are_named_before_decoding(tmp_path, rate):
    path = tmp_path / f"r{rate}.wav"
    sf.write(path, tone(440, 0.1, 16000), rate)
    for call in (lambda: probe_audio(path), lambda: load_audio(path), lambda: load_audio(path, sr=22050)):
        with pytest.raises(DataError, match="implausible sample rate") as err:
            call()
        assert err.value.path == str(path) and err.value.fix


def test_one_hz_resample_does_not_crash_the_process(tmp_path):
    """soxr segfaults on a 1 Hz input: the check must come first (run in a child so a crash cannot kill pytest)."""
    path = _one_hz(tmp_path / "one.wav")
    code = (
        "import sys\nfrom s2w_eval.io.audio import load_audio\nfrom s2w_eval.errors import DataError\n"
        f"try:\n    load_audio({str(path)!r}, sr=22050)\nexcept DataError as e:\n    print(e); sys.exit(7)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 7, (p.returncode, p.stderr[-2000:])
    assert "implausible sample rate 1 Hz" in p.stdout


def test_finite_but_absurd_float_samples(tmp_path):
    path = _huge_floats(tmp_path / "big.wav")
    with pytest.raises(DataError, match=r"samples reach 3e\+38") as err:
        load_audio(path)
    assert "[-1, 1]" in err.value.fix
    # slightly over full scale is still audio
    x = tone(440, 0.2)
    x[5] = 1.5
    sf.write(tmp_path / "hot.wav", x, 16000, subtype="FLOAT")
    assert load_audio(tmp_path / "hot.wav")[1] == 16000


def test_too_long_is_refused_from_the_header(tmp_path, monkeypatch):
    monkeypatch.setattr(audio, "MAX_SECONDS", 1.0)
    sf.write(tmp_path / "long.wav", tone(440, 2.0), 16000)
    with pytest.raises(DataError, match="header claims"):
        probe_audio(tmp_path / "long.wav")
    with pytest.raises(DataError, match="header claims"):
        load_audio(tmp_path / "long.wav", sr=8000)


def test_paper2020_loader_refuses_the_same_clips(tmp_path):
    from s2w_eval.features.dpam import load_paper2020

    with pytest.raises(DataError, match="implausible sample rate"):
        load_paper2020(_one_hz(tmp_path / "one.wav"))
    with pytest.raises(DataError, match="samples reach"):
        load_paper2020(_huge_floats(tmp_path / "big.wav"))
    # integer WAVs keep the paper's unscaled values
    write_wav(tmp_path / "ok.wav", tone(440, 0.2), 16000)
    assert np.max(np.abs(load_paper2020(tmp_path / "ok.wav"))) > 1000


def _run_with_bad_clips(root):
    from .conftest import make_run

    make_run(root, {"a": "positive", "b": "negative", "c": "positive"}, seconds=0.5)
    _one_hz(root / "scene2wav" / "b.wav")
    _huge_floats(root / "baseline" / "c.wav")
    return root


def test_pam_dpam_names_bad_clips_and_scores_the_rest(tmp_path, capsys):
    from s2w_eval.cli import cli
    from s2w_eval.clikit import run_main

    run = _run_with_bad_clips(tmp_path / "runs" / "r")
    out = tmp_path / "rep"
    args = ["pam", str(run), "--metric", "dpam", "--out", str(out), "--quiet"]
    code = run_main(cli, [*args, "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 1
    assert "scene2wav/b.wav: implausible sample rate 1 Hz" in err
    assert "baseline/c.wav: samples reach" in err
    rows = list(csv.DictReader(open(out / "r" / "pam.csv")))
    pairs = {(r["sample"], r["condition"]) for r in rows}
    assert ("a", "scene2wav") in pairs and ("b", "baseline") in pairs and ("c", "scene2wav") in pairs
    assert ("b", "scene2wav") not in pairs and ("c", "baseline") not in pairs


def test_chords_names_bad_clips_and_labels_the_rest(tmp_path, capsys):
    from s2w_eval.cli import cli
    from s2w_eval.clikit import run_main

    run = _run_with_bad_clips(tmp_path / "r")
    code = run_main(cli, ["chords", str(run), "--out", str(tmp_path / "rep"), "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert "b.wav: implausible sample rate 1 Hz" in err and "c.wav: samples reach" in err
    rows = list(csv.DictReader(open(tmp_path / "rep" / "r" / "chords.csv")))
    assert ("a", "scene2wav") in {(r["sample"], r["condition"]) for r in rows}


@pytest.mark.parametrize("loudness", ["rms", "none"])
def test_survey_build_keeps_bad_clips_from_raters(tmp_path, loudness):
    from s2w_eval.survey.build import build_survey

    from .test_survey_build import SAFE, make_run, small_design

    run = make_run(tmp_path / "run", ids=SAFE)
    _one_hz(run / "scene2wav" / f"{SAFE[0]}.wav")
    _huge_floats(run / "baseline" / f"{SAFE[1]}.wav", sr=8000)
    res = build_survey(run, small_design(), seed=1, out=tmp_path / "s", media="audio", loudness=loudness)
    text = " ".join(p.format() for p in res.problems)
    assert "implausible sample rate 1 Hz" in text and "samples reach" in text
    for f in (tmp_path / "s" / "media").iterdir():
        info = sf.info(str(f))
        assert info.samplerate == 8000 and info.duration < 1.0, f
