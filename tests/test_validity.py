"""Validity checks (s2w_eval.metrics.validity) on generated clips whose defects are known by construction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from s2w_eval.errors import DataError, UsageError
from s2w_eval.metrics.validity import (
    THRESHOLDS,
    clip_stats,
    clip_warnings,
    copy_similarity,
    validity_block,
)

SR = 22050


def tune(
    seed: int, secs: float = 3.0, sr: int = SR, pcs=(0, 4, 7), n_notes: int = 12, timbre=(1, 0.5, 0.3, 0.2)
):
    """Notes on the given pitch classes (C major triad by default) at seeded onsets, octaves and phases."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(secs * sr)) / sr
    x = np.zeros_like(t)
    for onset in np.sort(rng.uniform(0, secs - 0.2, n_notes)):
        f = 440 * 2 ** ((rng.choice(pcs) - 9) / 12 + rng.choice([3, 4, 5]) - 4)
        m = (t >= onset) & (t < onset + rng.uniform(0.2, 0.8))
        tt = t[m] - onset
        x[m] += sum(
            a * np.sin(2 * np.pi * f * (k + 1) * tt + rng.uniform(0, 2 * np.pi)) for k, a in enumerate(timbre)
        ) * np.exp(-3 * tt)
    return 0.7 * x / np.abs(x).max()


def sine(freq: float, rms: float, secs: float = 3.0, sr: int = SR) -> np.ndarray:
    return rms * np.sqrt(2) * np.sin(2 * np.pi * freq * np.arange(int(secs * sr)) / sr)


def warnings_of(x, ref=None, sr=SR):
    st = clip_stats(x, sr)
    if ref is None:
        return clip_warnings(st)
    return clip_warnings(st, clip_stats(ref, sr), copy_sim=copy_similarity(ref, x, sr))


def test_levels():
    st = clip_stats(np.zeros(SR), SR)
    assert st["rms_dbfs"] == THRESHOLDS["rms_dbfs_floor"] and st["peak"] == 0.0
    assert st["spectral_flatness"] is None and st["clipped_fraction"] == 0.0
    assert warnings_of(np.zeros(SR)) == ["silent"]
    quiet = sine(440, 0.003)
    assert clip_stats(quiet, SR)["rms_dbfs"] == pytest.approx(20 * np.log10(0.003), abs=0.01)
    assert warnings_of(quiet) == ["near_silent"]
    assert warnings_of(sine(440, 0.05)) == []  # -26 dBFS: quiet but ordinary
    assert warnings_of(sine(440, 0.0045)) == ["near_silent"]  # -47 dBFS
    assert clip_stats(sine(440, 1 / np.sqrt(2)), SR)["rms_dbfs"] == pytest.approx(-3.01, abs=0.01)


def test_clipping_and_its_control():
    clipped = np.clip(1.5 * np.sin(2 * np.pi * 440 * np.arange(3 * SR) / SR), -1, 1)
    assert clip_stats(clipped, SR)["clipped_fraction"] > 0.2
    assert "clipping" in warnings_of(clipped)
    # a full-scale low sine quantised to 16 bits at 44.1 kHz has no flat tops; nor a peak-normalised tune
    low = np.round(32767 * np.sin(2 * np.pi * 50 * np.arange(3 * 44100) / 44100)) / 32767
    assert clip_stats(low, 44100)["clipped_fraction"] <= THRESHOLDS["clipped_fraction"]
    assert warnings_of(tune(3) / 0.7) == []
    # clipped, then scaled down: still flat tops, relative to the clip's own peak
    assert "clipping" in warnings_of(0.5 * clipped)


def test_noise_like():
    rng = np.random.default_rng(0)
    noise = rng.uniform(-1, 1, 3 * SR)
    st = clip_stats(noise, SR)
    assert 0.5 < st["spectral_flatness"] < 0.62  # white noise: e^-0.577 = 0.56
    assert warnings_of(noise) == ["noise_like"]
    assert clip_stats(tune(0), SR)["spectral_flatness"] < 0.1
    # tonal music with some noise mixed in is not noise-like
    assert "noise_like" not in warnings_of(tune(0) + 0.05 * rng.standard_normal(3 * SR))


def test_copies_and_coincidences():
    """The copy threshold's calibration: copies score >= 0.7, different tunes on the same chord <= 0.4."""
    ref = tune(0)
    rng = np.random.default_rng(1)
    n = ref.size
    shift = int(0.5 * SR)
    copies = {
        "exact": ref,
        "small noise (30 dB SNR)": ref + ref.std() * 10 ** (-30 / 20) * rng.standard_normal(n),
        "noise as loud as the copy (0 dB SNR)": ref + ref.std() * rng.standard_normal(n),
        "inverted, quieter": -0.3 * ref,
        "delayed 0.5 s": np.concatenate([np.zeros(shift), ref[:-shift]]),
        "half-wave rectified": np.maximum(ref, 0),
        "16-bit": np.round(ref * 32767) / 32767,
    }
    for name, y in copies.items():
        sim = copy_similarity(ref, y, SR)
        assert sim >= 0.7, name
        assert "copy_of_reference" in warnings_of(y, ref), name
    assert copy_similarity(ref, ref, SR) == pytest.approx(1.0)
    coincidences = [copy_similarity(ref, tune(s), SR) for s in range(1, 21)]
    sparse = [
        copy_similarity(tune(s, n_notes=3, timbre=(1,)), tune(s + 100, n_notes=3, timbre=(1,)), SR)
        for s in range(10)
    ]
    assert max(coincidences + sparse) <= 0.4 < THRESHOLDS["copy_similarity"] < 0.7
    assert warnings_of(tune(5), ref) == []
    # clips at different rates are compared at the lower one
    ref16 = tune(0, sr=16000)
    assert copy_similarity(ref16, tune(0, sr=SR), 16000, SR) > 0.9
    assert copy_similarity(np.zeros(100), ref, SR) == 0.0


def test_duration():
    ref = tune(0, secs=3.0)
    assert "duration_mismatch" in warnings_of(tune(1, secs=2.5), ref)
    assert "duration_mismatch" not in warnings_of(tune(1, secs=3.05), ref)
    assert "duration_mismatch" in warnings_of(tune(1, secs=10.0), ref)


def test_bad_input_named():
    with pytest.raises(DataError, match="NaN"):
        clip_stats(np.array([0.0, np.nan]), SR)
    with pytest.raises(DataError, match="1-D"):
        clip_stats(np.zeros((10, 2)), SR)
    with pytest.raises(DataError, match="sample rate"):
        clip_stats(np.zeros(10), 0)
    with pytest.raises(UsageError, match="unknown validity threshold"):
        clip_stats(np.zeros(10), SR, {"loudness": 1})


def quickstart_like(n: int = 8):
    """The quickstart's shape: a near-silent baseline (rms 0.003, a 2 kHz line), full-scale noise as
    Scene2Wav, real-ish targets (different tunes)."""
    rng = np.random.default_rng(7)
    refs = {f"s{i}": (tune(10 + i), SR) for i in range(n)}
    conds = {
        "baseline": {f"s{i}": (sine(2000, 0.003), SR) for i in range(n)},
        "scene2wav": {f"s{i}": (rng.uniform(-1, 1, 3 * SR), SR) for i in range(n)},
        "good": {f"s{i}": (tune(100 + i), SR) for i in range(n)},
        "leak": {f"s{i}": (refs[f"s{i}"][0] + 0.01 * rng.standard_normal(3 * SR), SR) for i in range(n)},
    }
    return refs, conds


def test_quickstart_like_block():
    refs, conds = quickstart_like()
    block = validity_block(conds, refs)
    json.dumps(block, allow_nan=False)  # JSON-ready, no NaN or inf
    assert set(block) == {"thresholds", "clips", "conditions"}
    assert block["thresholds"]["near_silent_rms_dbfs"] == {
        "value": -45.0,
        "unit": "dBFS (RMS, full scale 1.0)",
    }
    assert list(block["conditions"]) == ["target", "baseline", "scene2wav", "good", "leak"]
    base = block["conditions"]["baseline"]
    assert base["n"] == 8
    assert base["warnings"][0] == {
        "check": "near_silent",
        "count": 8,
        "message": "8 of 8 clips are near-silent (RMS below -45 dBFS)",
    }
    checks = {c: {w["check"]: w["count"] for w in v["warnings"]} for c, v in block["conditions"].items()}
    assert checks["target"] == {} and checks["good"] == {}
    assert checks["baseline"] == {"near_silent": 8, "clips_alike": 8}
    assert checks["scene2wav"] == {"noise_like": 8, "clips_alike": 8}
    assert checks["leak"] == {"copy_of_reference": 8}
    row = next(r for r in block["clips"] if r["condition"] == "baseline" and r["sample"] == "s1")
    assert set(row) == {
        "condition",
        "sample",
        "warnings",
        "rms_dbfs",
        "peak",
        "clipped_fraction",
        "spectral_flatness",
        "duration_s",
        "ref_duration_s",
        "copy_similarity",
    }
    assert row["warnings"] == ["near_silent"] and row["ref_duration_s"] == pytest.approx(3.0)
    target_row = next(r for r in block["clips"] if r["condition"] == "target")
    assert target_row["copy_similarity"] is None and target_row["ref_duration_s"] is None


def test_reference_checked_too():
    refs = {f"s{i}": (np.zeros(SR), SR) for i in range(3)}
    block = validity_block({"a": {"s0": (tune(1), SR)}}, refs)
    assert block["conditions"]["target"]["warnings"][0]["check"] == "silent"
    assert block["conditions"]["a"]["n"] == 1


def test_same_label():
    refs = {f"s{i}": (tune(i), SR) for i in range(4)}
    conds = {"m": {f"s{i}": (tune(50 + i), SR) for i in range(4)}}
    mixed = {f"s{i}": ("positive" if i % 2 else "negative") for i in range(4)}
    same = {f"s{i}": "positive" for i in range(4)}

    def checks(labels):
        block = validity_block(conds, refs, labels)
        return [w["check"] for w in block["conditions"]["m"]["warnings"]]

    assert checks({"target": mixed, "m": same}) == ["same_label"]
    assert checks({"target": mixed, "m": mixed}) == []
    assert checks({"target": same, "m": same}) == []  # the reference itself is all one label
    assert checks({"m": same}) == ["same_label"]
