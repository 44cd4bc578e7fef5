"""Anchor conditions of known severity made from a reference clip (the practice of MUSHRA's hidden reference and
low-pass anchors), for `s2w-eval calibrate`. Pure functions: mono float clip in [-1, 1] and its rate in, a
clip of the same length out; every random procedure takes a seed.

Ladders (severity 0 = the hidden reference itself, higher = worse):
- `noise`: white noise at 30, 20, 10 and 0 dB SNR (relative to the clip's own power);
- `lowpass`: 8th-order Butterworth low-pass (zero phase) at 7 and 3.5 kHz;
- `requant`: requantisation to 8 and 4 bits (mid-tread, clipped to [-1, 1]);
and single anchors: `shift` (delayed by 0.1 s, zero-padded, same length), `silence`, and `wrong-scene`
(another sample's reference of the opposite emotion, made by the caller: `wrong_scene_partner`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


def _clip(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"anchors take a non-empty mono clip, got shape {x.shape}")
    return x


def identity(x: np.ndarray, sr: int) -> np.ndarray:
    return _clip(x).astype(np.float32)


def white_noise(x: np.ndarray, sr: int, snr_db: float, seed: int = 0) -> np.ndarray:
    """x + white Gaussian noise whose power is the clip's (AC) power / 10^(snr/10). A silent clip stays silent."""
    x = _clip(x)
    power = float(np.var(x))
    noise = np.random.default_rng(seed).standard_normal(x.size) * np.sqrt(power / 10 ** (snr_db / 10))
    return np.clip(x + noise, -1.0, 1.0).astype(np.float32)


def lowpass(x: np.ndarray, sr: int, cutoff_hz: float, order: int = 8) -> np.ndarray:
    """Zero-phase Butterworth low-pass. A cutoff at or above Nyquist leaves the clip as it is."""
    from scipy.signal import butter, sosfiltfilt

    x = _clip(x)
    if cutoff_hz >= sr / 2:
        return x.astype(np.float32)
    sos = butter(order, cutoff_hz, btype="low", fs=sr, output="sos")
    return np.clip(sosfiltfilt(sos, x), -1.0, 1.0).astype(np.float32)


def requantise(x: np.ndarray, sr: int, bits: int) -> np.ndarray:
    """Mid-tread requantisation to `bits` bits: round(x * 2^(bits-1)) / 2^(bits-1), clipped."""
    if bits < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    q = 2.0 ** (bits - 1)
    return np.clip(np.round(_clip(x) * q) / q, -1.0, 1.0).astype(np.float32)


def time_shift(x: np.ndarray, sr: int, seconds: float = 0.1) -> np.ndarray:
    """Delayed by `seconds` (zeros in front), cut to the same length."""
    x = _clip(x)
    k = min(x.size, int(round(seconds * sr)))
    return np.concatenate([np.zeros(k), x[: x.size - k]]).astype(np.float32)


def silence(x: np.ndarray, sr: int) -> np.ndarray:
    return np.zeros(_clip(x).size, dtype=np.float32)


@dataclass(frozen=True)
class Anchor:
    name: str
    #: the ladder it belongs to ("noise", "lowpass", "requant") or "" for a single anchor
    ladder: str
    #: 0 = the hidden reference; higher = worse within the ladder
    severity: int
    make: Callable[[np.ndarray, int, int], np.ndarray] | None  # (x, sr, seed) -> clip; None: wrong scene
    definition: str


def _a(name, ladder, severity, fn, definition) -> Anchor:
    return Anchor(name, ladder, severity, fn, definition)


ANCHORS: tuple[Anchor, ...] = (
    _a("reference", "", 0, lambda x, sr, s: identity(x, sr), "the reference itself (hidden reference)"),
    _a("noise-30db", "noise", 1, lambda x, sr, s: white_noise(x, sr, 30, s), "white noise at 30 dB SNR"),
    _a("noise-20db", "noise", 2, lambda x, sr, s: white_noise(x, sr, 20, s), "white noise at 20 dB SNR"),
    _a("noise-10db", "noise", 3, lambda x, sr, s: white_noise(x, sr, 10, s), "white noise at 10 dB SNR"),
    _a("noise-0db", "noise", 4, lambda x, sr, s: white_noise(x, sr, 0, s), "white noise at 0 dB SNR"),
    _a(
        "lowpass-7k", "lowpass", 1, lambda x, sr, s: lowpass(x, sr, 7000), "low-pass at 7 kHz (Butterworth 8)"
    ),
    _a("lowpass-3.5k", "lowpass", 2, lambda x, sr, s: lowpass(x, sr, 3500), "low-pass at 3.5 kHz"),
    _a("requant-8bit", "requant", 1, lambda x, sr, s: requantise(x, sr, 8), "requantised to 8 bits"),
    _a("requant-4bit", "requant", 2, lambda x, sr, s: requantise(x, sr, 4), "requantised to 4 bits"),
    _a("shift-0.1s", "", 1, lambda x, sr, s: time_shift(x, sr, 0.1), "delayed by 0.1 s (same length)"),
    _a("silence", "", 5, lambda x, sr, s: silence(x, sr), "digital silence"),
    _a("wrong-scene", "", 5, None, "another sample's reference of the opposite emotion"),
)
ANCHOR_NAMES = tuple(a.name for a in ANCHORS)
LADDERS = ("noise", "lowpass", "requant")
#: the metrics `s2w-eval calibrate` can score the anchors with
CALIBRATED_METRICS = ("cdpam", "dpam", "chords", "kad")
#: the anchors whose scene is right and whose damage is mild: what wrong-scene must separate from
MILD = ("noise-30db", "lowpass-7k", "requant-8bit", "shift-0.1s")


def anchor(name: str) -> Anchor:
    for a in ANCHORS:
        if a.name == name:
            return a
    raise KeyError(name)


def ladder_levels(ladder: str) -> list[Anchor]:
    """The hidden reference followed by the ladder's anchors, by severity."""
    return [
        anchor("reference"),
        *sorted((a for a in ANCHORS if a.ladder == ladder), key=lambda a: a.severity),
    ]


def wrong_scene_partner(samples: Sequence[tuple[str, str]], sample_id: str) -> str | None:
    """The sample whose reference serves as `sample_id`'s wrong scene: the next sample (in order, wrapping
    around) of the opposite emotion; None when there is none. `samples` = [(id, emotion)]."""
    ids = [s for s, _ in samples]
    emo = dict(samples)
    if sample_id not in emo:
        raise KeyError(sample_id)
    i = ids.index(sample_id)
    for k in range(1, len(ids)):
        other = ids[(i + k) % len(ids)]
        if emo[other] != emo[sample_id]:
            return other
    return None
