"""Constant-Q pitch features: a semitone spectrogram, approximate note transcription (NNLS), chroma, chords.

- `semitone_spectrogram`: CQT magnitude at 3 bins per semitone, tuned to the clip (librosa's tuning estimate),
  spectrally whitened (each frame divided by its running local mean over about an octave and a half), so that a
  stationary noise floor sits near 0 and tonal partials stand out.
- `nnls_transcribe`: each frame of the whitened spectrum is explained as a non-negative sum of note templates
  (harmonic partials with geometrically decaying amplitudes, placed on the log-frequency grid with their true,
  non-integer semitone offsets): an approximate transcription in the spirit of Mauch and Dixon's NNLS chroma.
  Partials of one note are thereby not mistaken for other notes (the 3rd partial is not a fifth).
- `chords_hmm` / `chords_template`: chord segments from a chroma sequence, over 24 major/minor triad templates
  and a no-chord state, by Viterbi decoding (sticky transitions) or per-frame template matching followed by a
  median filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..vocab import PITCH_CLASSES

BINS_PER_SEMITONE = 3
NO_CHORD = "N"


@dataclass(frozen=True)
class Segment:
    """A labelled time span (a chord, or a predominant pitch class), mir_eval .lab style."""

    start: float
    end: float
    label: str

    @property
    def duration(self) -> float:
        return self.end - self.start


def semitone_spectrogram(
    x: np.ndarray,
    sr: int,
    hop: int = 512,
    midi_lo: int = 33,
    n_semitones: int = 84,
    whiten_semitones: float = 18.0,
    whiten: str = "mean",
) -> tuple[np.ndarray, np.ndarray, float]:
    """(whitened CQT magnitude [n_semitones * 3, frames], raw CQT magnitude, tuning in semitones).

    Bin 3*i + 1 is centred on MIDI note midi_lo + i (after tuning).
    """
    import librosa

    bpo = 12 * BINS_PER_SEMITONE
    tuning = float(
        librosa.estimate_tuning(y=x, sr=sr, bins_per_octave=12)
    )  # semitone fraction in [-0.5, 0.5)
    if not np.isfinite(tuning):
        tuning = 0.0
    fmin = librosa.midi_to_hz(midi_lo) * 2.0 ** (
        -1.0 / bpo
    )  # so that the centre bin of each triple is the note
    n_bins = n_semitones * BINS_PER_SEMITONE
    nyq_bins = int(np.floor(bpo * np.log2((0.48 * sr) / fmin)))
    n_bins = min(n_bins, nyq_bins)
    C = np.abs(
        librosa.cqt(
            x,
            sr=sr,
            hop_length=hop,
            fmin=fmin,
            n_bins=n_bins,
            bins_per_octave=bpo,
            tuning=tuning * BINS_PER_SEMITONE,
        )
    )
    if n_bins < n_semitones * BINS_PER_SEMITONE:
        C = np.vstack([C, np.zeros((n_semitones * BINS_PER_SEMITONE - n_bins, C.shape[1]))])
    W = _whiten(C, int(round(whiten_semitones * BINS_PER_SEMITONE)), whiten)
    return W, C, tuning


def tonality(C: np.ndarray, width_semitones: int = 12, peak_factor: float = 2.0) -> np.ndarray:
    """Per frame: the share of CQT energy in bins standing more than `peak_factor` x above their local median
    (over `width_semitones`). White, pink or brown noise scores about 0.02-0.07; tonal music 0.5-0.9."""
    from scipy.ndimage import median_filter

    med = median_filter(C, size=(width_semitones * BINS_PER_SEMITONE + 1, 1), mode="nearest")
    total = C.sum(axis=0)
    peaks = np.maximum(C - peak_factor * med, 0.0).sum(axis=0)
    return np.divide(peaks, total, out=np.zeros_like(total), where=total > 0)


def _whiten(C: np.ndarray, width: int, how: str = "mean") -> np.ndarray:
    """Subtract the running local mean along frequency (and, for 'std', divide by the running local std)."""
    from scipy.ndimage import uniform_filter1d

    if how == "none":
        return C
    mean = uniform_filter1d(C, size=width, axis=0, mode="nearest")
    if how == "mean":
        return np.maximum(C - mean, 0.0)
    sq = uniform_filter1d(C * C, size=width, axis=0, mode="nearest")
    std = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    floor = 1e-6 * (np.max(C) + 1e-12)
    return np.maximum(C - mean, 0.0) / (std + floor)


@lru_cache(maxsize=8)
def note_dictionary(n_semitones: int = 84, n_partials: int = 20, decay: float = 0.6) -> np.ndarray:
    """[bins, notes] templates: note i has partials k at 12*log2(k) semitones, amplitude decay**(k-1)."""
    n_bins = n_semitones * BINS_PER_SEMITONE
    D = np.zeros((n_bins, n_semitones))
    for i in range(n_semitones):
        for k in range(1, n_partials + 1):
            pos = (i + 12 * np.log2(k)) * BINS_PER_SEMITONE + 1  # fractional bin of the partial
            if pos > n_bins - 1:
                break
            amp = decay ** (k - 1)
            lo = int(np.floor(pos))
            frac = pos - lo
            # spread over neighbouring bins (the CQT's main lobe is about two bins wide)
            for b, w in (
                (lo - 1, 0.5 * (1 - frac)),
                (lo, 1 - frac * 0.5),
                (lo + 1, 0.5 + frac * 0.5),
                (lo + 2, 0.5 * frac),
            ):
                if 0 <= b < n_bins:
                    D[b, i] += amp * w
    D /= np.linalg.norm(D, axis=0, keepdims=True)
    return D


def nnls_transcribe(W: np.ndarray, decay: float = 0.6) -> np.ndarray:
    """Note activations [notes, frames] explaining each whitened frame as a non-negative sum of templates."""
    from scipy.optimize import nnls

    n_semitones = W.shape[0] // BINS_PER_SEMITONE
    D = note_dictionary(n_semitones, decay=decay)
    A = np.zeros((n_semitones, W.shape[1]))
    for t in range(W.shape[1]):
        col = W[:, t]
        if not np.any(col > 0):
            continue
        A[:, t], _ = nnls(D, col, maxiter=50 * n_semitones)
    return A


def chroma_from_notes(A: np.ndarray, midi_lo: int) -> np.ndarray:
    """[12, frames] pitch-class energy from note activations (row i = MIDI midi_lo + i)."""
    chroma = np.zeros((12, A.shape[1]))
    for i in range(A.shape[0]):
        chroma[(midi_lo + i) % 12] += A[i]
    return chroma


def chroma_from_cqt(C: np.ndarray, midi_lo: int) -> np.ndarray:
    """[12, frames] pitch-class energy folded from a 3-bins-per-semitone CQT whose bin 3*i+1 is MIDI midi_lo+i."""
    n = C.shape[0] // BINS_PER_SEMITONE
    semis = C[: n * BINS_PER_SEMITONE].reshape(n, BINS_PER_SEMITONE, -1).sum(axis=1)
    return chroma_from_notes(semis, midi_lo)


# ---- chords ----------------------------------------------------------------------------------------------


def chord_labels() -> list[str]:
    """The 24 triads in mir_eval notation (C:maj ... B:min) followed by N (no chord)."""
    return [f"{p}:maj" for p in PITCH_CLASSES] + [f"{p}:min" for p in PITCH_CLASSES] + [NO_CHORD]


def chord_templates() -> np.ndarray:
    """[25, 12] unit-norm templates: 12 major, 12 minor triads, then a flat no-chord template."""
    T = np.zeros((25, 12))
    for r in range(12):
        for iv in (0, 4, 7):
            T[r, (r + iv) % 12] = 1
        for iv in (0, 3, 7):
            T[12 + r, (r + iv) % 12] = 1
    T[24] = 1
    return T / np.linalg.norm(T, axis=1, keepdims=True)


def _similarity(chroma: np.ndarray, silence: np.ndarray | None) -> np.ndarray:
    """Cosine similarity [25, frames] of each frame's chroma with each template; silent frames favour N."""
    norm = np.linalg.norm(chroma, axis=0, keepdims=True)
    C = np.divide(chroma, norm, out=np.zeros_like(chroma), where=norm > 0)
    S = chord_templates() @ C
    if silence is not None:
        S[:24, silence] = 0.0
        S[24, silence] = 1.0
    return S


def chords_hmm(
    chroma: np.ndarray, silence: np.ndarray | None = None, p_stay: float = 0.98, sharpness: float = 3.0
) -> list[str]:
    """Frame-wise chord labels by Viterbi decoding: emissions softmax(sharpness * cosine similarity)."""
    import librosa

    S = _similarity(chroma, silence)
    E = np.exp(sharpness * (S - S.max(axis=0, keepdims=True)))
    E /= E.sum(axis=0, keepdims=True)
    trans = librosa.sequence.transition_loop(25, p_stay)
    path = librosa.sequence.viterbi(E, trans)
    labels = chord_labels()
    return [labels[i] for i in path]


def chords_template(
    chroma: np.ndarray, silence: np.ndarray | None = None, median_frames: int = 9
) -> list[str]:
    """Frame-wise chord labels by the best template per frame, then a median filter over the label index."""
    S = _similarity(chroma, silence)
    idx = np.argmax(S, axis=0)
    if median_frames > 1 and idx.size:
        # a majority vote over the window (a median over unordered labels is not meaningful)
        half = median_frames // 2
        out = idx.copy()
        for t in range(idx.size):
            win = idx[max(0, t - half) : t + half + 1]
            out[t] = np.bincount(win, minlength=25).argmax()
        idx = out
    labels = chord_labels()
    return [labels[i] for i in idx]


def frames_to_segments(
    labels: list[str], hop_s: float, duration: float, min_s: float = 0.0, drop: tuple[str, ...] = ()
) -> list[Segment]:
    """Runs of equal frame labels -> segments; runs shorter than min_s merge into the previous segment."""
    segs: list[Segment] = []
    start = 0
    for t in range(1, len(labels) + 1):
        if t == len(labels) or labels[t] != labels[start]:
            s, e = start * hop_s, min(t * hop_s, duration)
            if e > s:
                if segs and (e - s) < min_s:
                    prev = segs[-1]
                    segs[-1] = Segment(prev.start, e, prev.label)
                elif segs and segs[-1].label == labels[start]:
                    segs[-1] = Segment(segs[-1].start, e, labels[start])
                else:
                    segs.append(Segment(s, e, labels[start]))
            start = t
    if segs and segs[-1].end < duration:
        segs[-1] = Segment(segs[-1].start, duration, segs[-1].label)
    return [s for s in segs if s.label not in drop]
