"""Piano-like test music with known answers, for the chord/pitch-class detectors (tests and benchmark only).

Each note: additive partials with piano-like inharmonicity, per-note random spectral slope and partial
jitter, a fast attack and a decay that is faster for higher partials; slight random detuning (up to
+-15 cents per clip). The mix gets a synthetic room reverb (exponentially decaying noise impulse response)
and white noise at a random SNR. The detectors' own note templates are NOT used here: the synthesizer is
independent of what it tests.

Kinds of clip: "chords" (a progression of maj/min/dominant-7 chords, root in the bass), "melody" (a
monophonic line in a random major or minor key) and "mixed" (a progression with a melody on top).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

QUALITIES = {"maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10)}
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
PCS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass
class Clip:
    audio: np.ndarray
    sr: int
    kind: str
    duration: float
    #: (start, end, midi) of every sounded note
    notes: list[tuple[float, float, int]] = field(default_factory=list)
    #: (start, end, root pitch class 0-11, quality) of each chord ("chords" and "mixed" clips)
    chords: list[tuple[float, float, int, str]] = field(default_factory=list)
    #: the instrument's tuning offset in semitones
    detune: float = 0.0

    @property
    def pitch_classes(self) -> set[str]:
        return {PCS[m % 12] for _, _, m in self.notes}

    def root_at(self, t: float) -> int | None:
        for s, e, root, _ in self.chords:
            if s <= t < e:
                return root
        return None


def piano_note(
    midi: float, dur: float, sr: int, rng: np.random.Generator, velocity: float = 1.0
) -> np.ndarray:
    n = int(round(dur * sr))
    t = np.arange(n) / sr
    f0 = 440.0 * 2.0 ** ((midi - 69) / 12)
    inharm = 10 ** rng.uniform(-4.5, -3.5) * (f0 / 261.6) ** 0.5
    slope = rng.uniform(0.7, 1.5)
    y = np.zeros(n)
    base_decay = rng.uniform(0.6, 1.4) * (f0 / 261.6) ** 0.3  # T60 of about 5-11 s at middle C
    for k in range(1, 30):
        fk = k * f0 * np.sqrt(1 + inharm * k * k)
        if fk > 0.45 * sr:
            break
        amp = (1.0 / k**slope) * (rng.uniform(0.8, 1.2) if k == 1 else rng.uniform(0.5, 1.3))
        decay = base_decay * (1 + 0.35 * (k - 1))
        y += amp * np.exp(-decay * t) * np.sin(2 * np.pi * fk * t + rng.uniform(0, 2 * np.pi))
    attack = np.minimum(1.0, t / 0.005)
    release = np.minimum(1.0, (dur - t) / 0.03).clip(0, 1)
    return velocity * y * attack * release


def _reverb(x: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    rt60 = rng.uniform(0.3, 0.9)
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    ir /= np.sqrt(np.sum(ir**2))
    from scipy.signal import fftconvolve

    wet = fftconvolve(x, ir)[: len(x)]
    mix = rng.uniform(0.15, 0.35)
    return (1 - mix) * x + mix * wet * (np.std(x) / (np.std(wet) + 1e-12))


def _render(events, duration: float, sr: int, rng: np.random.Generator, detune: float) -> np.ndarray:
    out = np.zeros(int(round(duration * sr)))
    for start, end, midi, vel in events:
        i0 = int(round(start * sr))
        y = piano_note(midi + detune, end - start, sr, rng, vel)
        out[i0 : i0 + len(y)] += y[: len(out) - i0]
    return out


def make_clip(kind: str, duration: float, sr: int, rng: np.random.Generator) -> Clip:
    detune = rng.uniform(-0.15, 0.15)  # semitones: a slightly out-of-tune instrument
    events: list[tuple[float, float, int, float]] = []
    chords: list[tuple[float, float, int, str]] = []
    if kind in ("chords", "mixed"):
        n_chords = int(rng.integers(1, 3)) if duration <= 4 else int(rng.integers(3, 6))
        bounds = np.linspace(0, duration, n_chords + 1)
        prev = None
        for i in range(n_chords):
            root = int(rng.integers(12))
            while root == prev:
                root = int(rng.integers(12))
            prev = root
            quality = str(rng.choice(list(QUALITIES)))
            s, e = float(bounds[i]), float(bounds[i + 1])
            chords.append((s, e, root, quality))
            bass = 36 + root + (12 if rng.random() < 0.4 else 0)  # C2..B3
            base = 48 + root if root >= 5 else 60 + root  # chord tones from F3 up
            events.append((s, e, bass, rng.uniform(0.5, 0.8)))
            for iv in QUALITIES[quality]:
                events.append((s, e, base + iv, rng.uniform(0.45, 0.75)))
    if kind in ("melody", "mixed"):
        tonic = int(rng.integers(12))
        scale = MAJOR_SCALE if rng.random() < 0.5 else MINOR_SCALE
        t = 0.0
        while t < duration - 0.2:
            d = float(min(rng.uniform(0.25, 0.7), duration - t))
            if d < 0.2:
                break
            if chords and rng.random() < 0.6:  # over chords: mostly chord tones
                _, _, root, quality = next(c for c in chords if c[0] <= t < c[1])
                pc = (root + int(rng.choice(QUALITIES[quality]))) % 12
            else:
                pc = (tonic + int(rng.choice(scale))) % 12
            midi = 72 + pc if pc < 7 else 60 + pc  # G4..F#5
            vel = rng.uniform(0.8, 1.0) if kind == "mixed" else rng.uniform(0.6, 1.0)
            events.append((t, t + d, midi, vel))
            t += d
    y = _render(events, duration, sr, rng, detune)
    y = _reverb(y, sr, rng)
    snr_db = rng.uniform(25, 40)
    y = y + rng.standard_normal(len(y)) * np.std(y) * 10 ** (-snr_db / 20)
    y = 0.8 * y / np.max(np.abs(y))
    notes = [(s, e, m) for s, e, m, _ in events]
    return Clip(y.astype(np.float32), sr, kind, duration, notes, chords, detune)


def make_set(
    seed: int = 0,
    n_per_cell: int = 2,
    kinds=("chords", "melody", "mixed"),
    durations=(3.0, 10.0),
    rates=(16000, 44100),
) -> list[Clip]:
    """A fixed-seed set: n_per_cell clips for every kind x duration x sample rate."""
    rng = np.random.default_rng(seed)
    return [
        make_clip(k, d, sr, rng) for k in kinds for d in durations for sr in rates for _ in range(n_per_cell)
    ]


def score(clips, detections, step: float = 0.05) -> dict[str, float]:
    """Micro-averaged pitch-class precision/recall over clips, and time-weighted chord-root accuracy."""
    tp = fp = fn = 0
    hit = total = 0
    for clip, det in zip(clips, detections, strict=True):
        est, tru = det.pitch_classes, clip.pitch_classes
        tp += len(est & tru)
        fp += len(est - tru)
        fn += len(tru - est)
        if clip.chords:
            for t in np.arange(step / 2, clip.duration, step):
                root = clip.root_at(t)
                if root is None:
                    continue
                total += 1
                seg = next((s for s in det.chords if s.start <= t < s.end), None)
                if seg is not None and seg.label != "N" and PCS.index(seg.label.split(":")[0]) == root:
                    hit += 1
    return {
        "pc_precision": tp / (tp + fp) if tp + fp else float("nan"),
        "pc_recall": tp / (tp + fn) if tp + fn else float("nan"),
        "root_accuracy": hit / total if total else float("nan"),
        "clips": len(clips),
    }
