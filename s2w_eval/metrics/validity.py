"""Validity checks on what is scored: warnings beside the numbers, never a change to a number.

A distance or a chord label can look like a result when the audio behind it is silence, clipping, noise, a
copy of the reference, or the same clip for every scene. These pure functions over numpy arrays (no IO) give
per-clip statistics and warnings and per-condition warnings, in one JSON-ready block:

    {"thresholds": {...},
     "clips": [{"condition", "sample", "warnings", "rms_dbfs", "peak", "clipped_fraction",
                "spectral_flatness", "duration_s", "ref_duration_s", "copy_similarity"}, ...],
     "conditions": {name: {"n", "warnings": [{"check", "count", "message"}, ...]}}}

Pass each file's own samples (mono, float in [-1, 1], at the file's rate, before any resampling: resampling
rounds off the flat tops that mark clipping). Every threshold is in `THRESHOLDS`, with its unit and reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np

from ..errors import DataError, UsageError

# --- thresholds --------------------------------------------------------------------------------------------

#: Every threshold, named with its unit. Reasons:
#: - silent_rms_dbfs: -90 dBFS is below the noise floor of 16-bit audio (about -98 dBFS for dither); nothing
#:   there is signal.
#: - near_silent_rms_dbfs: mastered music sits at about -20..-10 dBFS RMS and quiet speech or ambience at
#:   about -40..-30; below -45 dBFS a clip is barely audible at a normal listening gain (a clip at RMS
#:   0.003 is -50.5 dBFS: the threshold keeps 5 dB of margin above it).
#:   (dBFS here: 20 log10 of the RMS, full scale = 1.0, so a full-scale sine is -3 dBFS.)
#: - clipped: a sample counts as clipped when it lies within 1% of the clip's peak and in a run of at least
#:   `clip_run_samples` consecutive equal samples (a flat top: a sine quantised to 16 bits, even at 50 Hz and
#:   44.1 kHz, never holds one value for 3 samples). Warn above 0.1% of samples (3 ms in 3 s): isolated flat
#:   tops are inaudible, a thousandth of the clip in flat tops is audible distortion.
#: - noise_like_flatness: spectral flatness (geometric / arithmetic mean of the power spectrum, Hann frames of
#:   2048 samples, median over frames that hold signal) is about 0.56 for white noise (e^-0.577, the expected
#:   flatness of a periodogram of noise) and below 0.1 for tonal music; 0.35 sits between with margin both
#:   ways, and flags white-ish noise, not pink noise or noisy music.
#: - duration tolerance: a clip's duration differs from its reference's by more than max(0.1 s, 3%): more
#:   than a resampler's or encoder's padding (a few ms), less than a frame-rate mix-up (1 s in 10 s).
#: - copy_similarity: the maximum over lags of the normalised cross-correlation of the two waveforms (mean
#:   removed, absolute value, normalised by the whole clips' energies). A copy with noise as loud as itself
#:   (SNR 0 dB) scores 0.71, a half-wave rectified copy 0.8, a copy shifted by a sixth of its length 0.83;
#:   different tunes, even on the same pitch classes, score below 0.3 (tests/test_validity.py measures both
#:   on synthetic clips). Warn at 0.5.
#: - clips_alike: the median pairwise distance between the clips' spectral shapes (time-averaged power in
#:   third-octave bands, dB, each clip's mean over bands removed; RMS difference over bands) is below 1 dB:
#:   two stretches of one stationary noise differ by well under 1 dB, different pieces of music by several.
#: - same_label: every clip of a condition gets one label while the reference's clips get more than one (or
#:   the reference has no labels), with at least `min_clips_per_condition` clips.
THRESHOLDS: dict[str, Any] = {
    "silent_rms_dbfs": -90.0,
    "near_silent_rms_dbfs": -45.0,
    "rms_dbfs_floor": -200.0,
    "clip_level_of_peak": 0.99,
    "clip_run_samples": 3,
    "clipped_fraction": 0.001,
    "noise_like_flatness": 0.35,
    "flatness_frame_samples": 2048,
    "duration_tolerance_s": 0.1,
    "duration_tolerance_fraction": 0.03,
    "copy_similarity": 0.5,
    "clips_alike_db": 1.0,
    "min_clips_per_condition": 3,
}
UNITS = {
    "silent_rms_dbfs": "dBFS (RMS, full scale 1.0)",
    "near_silent_rms_dbfs": "dBFS (RMS, full scale 1.0)",
    "rms_dbfs_floor": "dBFS, reported for digital silence",
    "clip_level_of_peak": "fraction of the clip's peak",
    "clip_run_samples": "consecutive equal samples",
    "clipped_fraction": "fraction of samples",
    "noise_like_flatness": "spectral flatness (0 tonal .. 1 white)",
    "flatness_frame_samples": "samples per frame",
    "duration_tolerance_s": "seconds",
    "duration_tolerance_fraction": "fraction of the reference's duration",
    "copy_similarity": "normalised cross-correlation (0..1)",
    "clips_alike_db": "dB (RMS over third-octave bands)",
    "min_clips_per_condition": "clips",
}

CLIP_CHECKS = ("silent", "near_silent", "clipping", "noise_like", "duration_mismatch", "copy_of_reference")
CONDITION_CHECKS = ("clips_alike", "same_label")


def thresholds_block(thresholds: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The thresholds as recorded in the JSON: {name: {"value", "unit"}}."""
    th = _thresholds(thresholds)
    return {k: {"value": v, "unit": UNITS[k]} for k, v in th.items()}


def _thresholds(thresholds: Mapping[str, Any] | None) -> dict[str, Any]:
    th = dict(THRESHOLDS)
    for k, v in (thresholds or {}).items():
        if k not in THRESHOLDS:
            raise UsageError(f"unknown validity threshold {k!r}; known: {', '.join(THRESHOLDS)}")
        th[k] = v
    return th


def _check_clip(x: np.ndarray, sr: int, what: str = "clip") -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.floating):
        raise DataError(f"{what}: expected a 1-D float array (mono), got {a.dtype} of shape {a.shape}")
    if not (isinstance(sr, (int, np.integer)) and sr > 0):
        raise DataError(f"{what}: sample rate must be a positive integer, got {sr!r}")
    if not np.all(np.isfinite(a)):
        raise DataError(f"{what}: holds NaN or infinite samples")
    return a.astype(np.float64, copy=False)


# --- per clip ----------------------------------------------------------------------------------------------


def _clipped_fraction(x: np.ndarray, peak: float, th: Mapping[str, Any]) -> float:
    if peak == 0.0 or x.size == 0:
        return 0.0
    hot = np.abs(x) >= th["clip_level_of_peak"] * peak
    # runs of equal consecutive samples: a flat top (hand-written: no library offers run-length masks)
    eq = np.concatenate(([False], np.abs(np.diff(x)) <= 1e-7 * peak))
    starts = np.flatnonzero(~eq)  # index where each run of equal values begins
    lengths = np.diff(np.append(starts, x.size))
    in_long_run = np.repeat(lengths >= th["clip_run_samples"], lengths)
    return float(np.count_nonzero(hot & in_long_run) / x.size)


def _frames(x: np.ndarray, n: int) -> np.ndarray:
    """Non-overlapping frames of n samples (the last partial frame zero-padded); one frame if shorter."""
    n_frames = max(1, math.ceil(x.size / n))
    pad = np.zeros(n_frames * n)
    pad[: x.size] = x
    return pad.reshape(n_frames, n)


def _spectral_flatness(x: np.ndarray, th: Mapping[str, Any]) -> float | None:
    n = int(th["flatness_frame_samples"])
    frames = _frames(x - x.mean(), n)
    power = np.abs(np.fft.rfft(frames * np.hanning(n), axis=1)) ** 2
    power = power[:, 1:]  # the DC bin says nothing about tone vs noise
    energy = power.mean(axis=1)
    floor = 10 ** (th["silent_rms_dbfs"] / 10) * n  # frames at digital silence have no flatness
    keep = energy > floor
    if not np.any(keep):
        return None
    p = power[keep] + 1e-20
    flat = np.exp(np.mean(np.log(p), axis=1)) / np.mean(p, axis=1)
    return float(np.median(flat))


def clip_stats(x: np.ndarray, sr: int, thresholds: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """RMS (dBFS), peak, clipped fraction, spectral flatness (None for digital silence) and duration."""
    th = _thresholds(thresholds)
    a = _check_clip(x, sr)
    rms = float(np.sqrt(np.mean(a**2))) if a.size else 0.0
    peak = float(np.max(np.abs(a))) if a.size else 0.0
    return {
        "rms_dbfs": max(20 * math.log10(rms), th["rms_dbfs_floor"]) if rms > 0 else th["rms_dbfs_floor"],
        "peak": peak,
        "clipped_fraction": _clipped_fraction(a, peak, th),
        "spectral_flatness": _spectral_flatness(a, th) if a.size else None,
        "duration_s": a.size / sr,
    }


def copy_similarity(
    reference: np.ndarray, estimated: np.ndarray, sr: int, sr_estimated: int | None = None
) -> float:
    """Max over lags of |normalised cross-correlation| of the two waveforms (means removed), in [0, 1].

    1 for a copy (any gain, polarity or shift within the clips), near 0 for unrelated audio; normalised by
    the whole clips' energies, so a shift that leaves little overlap scores low. Clips at different rates are
    compared at the lower rate. 0 when either clip is silent.
    """
    ref = _check_clip(reference, sr, "reference")
    est = _check_clip(estimated, sr if sr_estimated is None else sr_estimated, "estimated")
    if sr_estimated is not None and sr_estimated != sr:
        from scipy.signal import resample_poly  # imported only here: scipy.signal is slow to import

        lo = min(sr, sr_estimated)
        g = math.gcd(sr, sr_estimated)
        if sr > lo:
            ref = resample_poly(ref, lo // g, sr // g)
        else:
            est = resample_poly(est, lo // g, sr_estimated // g)
    ref = ref - ref.mean() if ref.size else ref
    est = est - est.mean() if est.size else est
    norm = math.sqrt(float(np.dot(ref, ref)) * float(np.dot(est, est)))
    if norm == 0.0:
        return 0.0
    # every lag at once through the FFT (what scipy.signal.correlate(method="fft") does, without its import)
    from scipy import fft

    n = fft.next_fast_len(ref.size + est.size - 1, real=True)
    xc = fft.irfft(fft.rfft(est, n) * np.conj(fft.rfft(ref, n)), n)
    return float(min(1.0, np.max(np.abs(xc)) / norm))


def clip_warnings(
    stats: Mapping[str, Any],
    ref_stats: Mapping[str, Any] | None = None,
    thresholds: Mapping[str, Any] | None = None,
    copy_sim: float | None = None,
) -> list[str]:
    """Names of the checks a clip fails (see CLIP_CHECKS); ref_stats None for a reference clip."""
    th = _thresholds(thresholds)
    out = []
    if stats["rms_dbfs"] < th["silent_rms_dbfs"]:
        out.append("silent")
    elif stats["rms_dbfs"] < th["near_silent_rms_dbfs"]:
        out.append("near_silent")
    if stats["clipped_fraction"] > th["clipped_fraction"]:
        out.append("clipping")
    flat = stats.get("spectral_flatness")
    if flat is not None and flat > th["noise_like_flatness"]:
        out.append("noise_like")
    if ref_stats is not None:
        tol = max(th["duration_tolerance_s"], th["duration_tolerance_fraction"] * ref_stats["duration_s"])
        if abs(stats["duration_s"] - ref_stats["duration_s"]) > tol:
            out.append("duration_mismatch")
    if copy_sim is not None and copy_sim >= th["copy_similarity"]:
        out.append("copy_of_reference")
    return out


# --- per condition -----------------------------------------------------------------------------------------


def spectral_shape(x: np.ndarray, sr: int) -> np.ndarray | None:
    """Time-averaged power in third-octave bands from 63 Hz up to the Nyquist rate (at most 16 kHz), dB, with
    the clip's mean over bands removed (a level-free spectral shape). None for digital silence."""
    a = _check_clip(x, sr)
    n = 4096
    frames = _frames(a - a.mean(), n)
    power = (np.abs(np.fft.rfft(frames * np.hanning(n), axis=1)) ** 2).mean(axis=0)
    if not np.any(power > 0):
        return None
    freqs = np.fft.rfftfreq(n, 1 / sr)
    centres = 1000 * 2.0 ** (np.arange(-12, 13) / 3)  # 63 Hz .. 16 kHz, the standard third-octave centres
    centres = centres[centres * 2 ** (1 / 6) <= sr / 2]
    bands = []
    for c in centres:
        sel = (freqs >= c * 2 ** (-1 / 6)) & (freqs < c * 2 ** (1 / 6))
        if np.any(sel):
            bands.append(power[sel].mean())
    db = 10 * np.log10(np.asarray(bands) + 1e-20)
    return db - db.mean()


def _shape_distance(a: np.ndarray, b: np.ndarray) -> float:
    n = min(a.size, b.size)  # clips at different rates share the lower bands
    d = (a[:n] - a[:n].mean()) - (b[:n] - b[:n].mean())
    return float(np.sqrt(np.mean(d**2)))


_MESSAGES = {
    "silent": "{k} of {n} clips are silent (RMS below {silent_rms_dbfs:g} dBFS)",
    "near_silent": "{k} of {n} clips are near-silent (RMS below {near_silent_rms_dbfs:g} dBFS)",
    "clipping": "{k} of {n} clips are clipped (over {clipped_pct:g}% of samples in flat tops)",
    "noise_like": "{k} of {n} clips are noise-like (spectral flatness above {noise_like_flatness:g})",
    "duration_mismatch": "{k} of {n} clips differ in duration from their reference "
    "(by more than {duration_tolerance_s:g} s or {duration_pct:g}%)",
    "copy_of_reference": "{k} of {n} clips copy or nearly copy their reference "
    "(waveform cross-correlation {copy_similarity:g} or more)",
    "clips_alike": "the {n} clips are all alike (median spectral-shape distance {value:.2f} dB, "
    "below {clips_alike_db:g} dB)",
    "same_label": "all {n} clips get the same label ({value!r})",
}


def _message(check: str, k: int, n: int, th: Mapping[str, Any], value: Any = None) -> str:
    return _MESSAGES[check].format(
        k=k,
        n=n,
        value=value,
        clipped_pct=100 * th["clipped_fraction"],
        duration_pct=100 * th["duration_tolerance_fraction"],
        **th,
    )


def condition_warnings(
    clip_rows: Sequence[Mapping[str, Any]],
    shapes: Sequence[np.ndarray | None] = (),
    labels: Sequence[Any] | None = None,
    reference_labels: Sequence[Any] | None = None,
    thresholds: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """A condition's warnings: each clip check failed by any clip (with its count), then clips_alike (from
    the clips' `spectral_shape`s) and same_label (from `labels`, against the reference's labels)."""
    th = _thresholds(thresholds)
    n = len(clip_rows)
    out = []
    for check in CLIP_CHECKS:
        k = sum(check in r["warnings"] for r in clip_rows)
        if k:
            out.append({"check": check, "count": k, "message": _message(check, k, n, th)})
    vecs = [s for s in shapes if s is not None]
    if len(vecs) >= th["min_clips_per_condition"]:
        med = float(np.median([_shape_distance(a, b) for a, b in combinations(vecs, 2)]))
        if med < th["clips_alike_db"]:
            out.append(
                {"check": "clips_alike", "count": n, "message": _message("clips_alike", n, n, th, med)}
            )
    if labels is not None and len(labels) >= th["min_clips_per_condition"] and len(set(labels)) == 1:
        if reference_labels is None or len(set(reference_labels)) > 1:
            only = next(iter(labels))
            out.append({"check": "same_label", "count": n, "message": _message("same_label", n, n, th, only)})
    return out


def validity_block(
    clips_by_condition: Mapping[str, Mapping[str, tuple[np.ndarray, int]]],
    references: Mapping[str, tuple[np.ndarray, int]],
    labels: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    reference_name: str = "target",
    thresholds: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The validity block of a run.

    clips_by_condition: {condition: {sample: (samples, sr)}} for the scored conditions; references:
    {sample: (samples, sr)}, checked too, as condition `reference_name`; labels: optional
    {condition: {sample: label}} (e.g. detected emotions), the reference's under `reference_name`.
    """
    th = _thresholds(thresholds)
    labels = labels or {}
    ref_stats = {s: clip_stats(x, sr, th) for s, (x, sr) in references.items()}
    clips: list[dict[str, Any]] = []
    conditions: dict[str, Any] = {}
    groups = {
        reference_name: references,
        **{c: v for c, v in clips_by_condition.items() if c != reference_name},
    }
    for cond, items in groups.items():
        is_ref = cond == reference_name
        rows, shapes = [], []
        for sample in sorted(items):
            x, sr = items[sample]
            st = ref_stats[sample] if is_ref else clip_stats(x, sr, th)
            rs = None if is_ref else ref_stats.get(sample)
            sim = None
            if not is_ref and sample in references:
                rx, rsr = references[sample]
                sim = copy_similarity(rx, x, rsr, sr)
            row = {
                "condition": cond,
                "sample": sample,
                "warnings": clip_warnings(st, rs, th, sim),
                **st,
                "ref_duration_s": None if rs is None else rs["duration_s"],
                "copy_similarity": sim,
            }
            rows.append(row)
            shapes.append(spectral_shape(x, sr))
        cond_labels = labels.get(cond)
        ref_labels = labels.get(reference_name)
        conditions[cond] = {
            "n": len(rows),
            "warnings": condition_warnings(
                rows,
                shapes,
                None if cond_labels is None else [cond_labels[s] for s in sorted(cond_labels)],
                None if is_ref or ref_labels is None else list(ref_labels.values()),
                th,
            ),
        }
        clips.extend(rows)
    return {"thresholds": thresholds_block(th), "clips": clips, "conditions": conditions}
