"""Notes from pitch tracks and piano rolls, the paper's note rules, MIDI export, key estimation, .lab files.

The paper's melody pipeline (its chord-detection section): f0 -> MIDI number (69 + 12 log2(f/440),
rounded; unvoiced -> 0) -> median filter over 0.25 s -> notes = runs of equal non-zero pitch lasting at
least 0.1 s. `notes_from_pitch_track` is that rule; `notes_from_roll` applies the same smoothing and
minimum duration to each row of a polyphonic piano roll.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..vocab import PITCH_CLASSES, pitch_class


@dataclass(frozen=True)
class Note:
    start: float
    end: float
    midi: int
    #: mean activation / voicing confidence over the note (0-1 scale not guaranteed)
    strength: float = 1.0

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def pitch_class(self) -> str:
        return PITCH_CLASSES[self.midi % 12]

    @property
    def name(self) -> str:
        return f"{self.pitch_class}{self.midi // 12 - 1}"


def odd_kernel(seconds: float, frame_rate: float) -> int:
    """The paper's median kernel: int(seconds * frame_rate), forced odd (0.25 s at 44100/128 -> 87)."""
    k = max(1, int(seconds * frame_rate))
    return k if k % 2 else k + 1


def _runs(values: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, value) runs of equal values (end exclusive)."""
    out = []
    n = len(values)
    start = 0
    for t in range(1, n + 1):
        if t == n or values[t] != values[start]:
            out.append((start, t, int(values[start])))
            start = t
    return out


def notes_from_pitch_track(
    midi_track: np.ndarray,
    frame_rate: float,
    median_s: float = 0.25,
    min_s: float = 0.1,
    strength: np.ndarray | None = None,
    offset_s: float = 0.0,
) -> list[Note]:
    """The paper's rule: median-filter the rounded MIDI track (0 = unvoiced), keep runs >= min_s."""
    from scipy.signal import medfilt

    track = np.asarray(midi_track, dtype=np.float64)
    if track.size == 0:
        return []
    k = odd_kernel(median_s, frame_rate)
    smooth = medfilt(track, k) if k > 1 and track.size >= 1 else track
    smooth = np.rint(smooth).astype(int)
    notes = []
    for s, e, v in _runs(smooth):
        if v <= 0 or (e - s) / frame_rate < min_s:
            continue
        st = float(np.mean(strength[s:e])) if strength is not None else 1.0
        notes.append(Note(offset_s + s / frame_rate, offset_s + e / frame_rate, v, st))
    return notes


def notes_from_roll(
    roll: np.ndarray,
    midi_lo: int,
    frame_rate: float,
    median_s: float = 0.25,
    min_s: float = 0.1,
    strength: np.ndarray | None = None,
) -> list[Note]:
    """Each row of a boolean piano roll [notes, frames]: median-filtered (0.25 s), runs >= min_s become notes."""
    from scipy.ndimage import median_filter

    k = odd_kernel(median_s, frame_rate)
    notes: list[Note] = []
    for i in np.flatnonzero(roll.any(axis=1)):
        row = roll[i].astype(np.uint8)
        if k > 1:
            row = median_filter(row, size=k, mode="constant", cval=0)
        for s, e, v in _runs(row):
            if v and (e - s) / frame_rate >= min_s:
                st = float(np.mean(strength[i, s:e])) if strength is not None else 1.0
                notes.append(Note(s / frame_rate, e / frame_rate, midi_lo + int(i), st))
    notes.sort(key=lambda n: (n.start, n.midi))
    return notes


def hz_to_midi_track(f0: np.ndarray) -> np.ndarray:
    """69 + 12 log2(f/440), rounded; unvoiced (NaN or <= 0 Hz) -> 0 (the paper's conversion)."""
    f = np.asarray(f0, dtype=np.float64)
    out = np.zeros(f.shape, dtype=np.int64)
    ok = np.isfinite(f) & (f > 0)
    out[ok] = np.rint(69 + 12 * np.log2(f[ok] / 440.0)).astype(np.int64)
    return out


def pitch_class_durations(notes: Iterable[Note]) -> dict[str, float]:
    """Seconds each pitch class sounds (overlapping notes of one pitch class counted once)."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for n in notes:
        spans.setdefault(n.pitch_class, []).append((n.start, n.end))
    out = {}
    for pc, ss in spans.items():
        ss.sort()
        total, cur_s, cur_e = 0.0, ss[0][0], ss[0][1]
        for s, e in ss[1:]:
            if s > cur_e:
                total += cur_e - cur_s
                cur_s, cur_e = s, e
            else:
                cur_e = max(cur_e, e)
        total += cur_e - cur_s
        out[pc] = round(total, 4)
    return out


# ---- music21: MIDI export and key ---------------------------------------------------------------------


def _stream(notes: Sequence[Note], bpm: float = 60.0):
    """A music21 stream with each note at its time (quarter length = 1 beat = 60/bpm s)."""
    from music21 import note as m21note
    from music21 import stream, tempo

    s = stream.Stream()
    s.insert(0, tempo.MetronomeMark(number=bpm))
    per_s = bpm / 60.0
    for n in notes:
        m = m21note.Note(int(n.midi))
        m.quarterLength = max(1 / 64, round(n.duration * per_s, 4))
        m.volume.velocity = int(np.clip(round(40 + 87 * min(1.0, n.strength)), 1, 127))
        s.insert(round(n.start * per_s, 4), m)
    return s


def write_midi(notes: Sequence[Note], path: str | Path, bpm: float = 60.0) -> Path:
    """A MIDI file of the detected notes (music21), written atomically; at 60 bpm one beat is one second."""
    from ..io.files import atomic_write_bytes

    path = Path(path)
    s = _stream(notes, bpm)
    from music21 import midi as m21midi

    mf = m21midi.translate.streamToMidiFile(s)
    return atomic_write_bytes(path, mf.writestr())


@dataclass(frozen=True)
class KeyEstimate:
    name: str  # e.g. "A minor"
    tonic: str  # pitch class, sharps
    mode: str  # major | minor
    confidence: float  # music21's correlation coefficient
    alternatives: tuple[tuple[str, float], ...]


def estimate_key(notes: Sequence[Note], min_alternative: float = 0.5) -> KeyEstimate | None:
    """music21's Krumhansl-Schmuckler key (duration-weighted), its correlation and alternatives with r > 0.5."""
    if not notes:
        return None
    from music21 import analysis
    from music21.exceptions21 import Music21Exception

    s = _stream(notes)
    try:
        k = analysis.discrete.KrumhanslSchmuckler().getSolution(s)
    except (Music21Exception, ZeroDivisionError, ValueError):  # degenerate input, e.g. one very short note
        return None
    alts = tuple(
        (f"{pitch_class(a.tonic.name)} {a.mode}", round(float(a.correlationCoefficient), 4))
        for a in k.alternateInterpretations[:23]
        if a.correlationCoefficient > min_alternative
    )
    tonic = pitch_class(k.tonic.name)
    return KeyEstimate(f"{tonic} {k.mode}", tonic, k.mode, round(float(k.correlationCoefficient), 4), alts)


# ---- .lab files -----------------------------------------------------------------------------------------


def lab_text(rows: Iterable[tuple[float, float, str]]) -> str:
    """mir_eval-style label file: 'start end label' per line, seconds with 3 decimals."""
    return "".join(f"{s:.3f}\t{e:.3f}\t{label}\n" for s, e, label in rows)


def notes_lab(notes: Sequence[Note]) -> str:
    return lab_text((n.start, n.end, n.name) for n in notes)
