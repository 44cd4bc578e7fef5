"""Headphone screening: the anti-phase test of Woods, Siegel, Traer & McDermott (2017).

Woods, K. J. P., Siegel, M. H., Traer, J., & McDermott, J. H. (2017). Headphone screening to facilitate
web-based auditory experiments. Attention, Perception, & Psychophysics, 79(7), 2064-2072.
https://doi.org/10.3758/s13414-017-1361-2

Each trial plays three 200 Hz tones; the rater says which is the quietest. One tone is 6 dB quieter than
the others (the right answer); one is presented with the two channels in anti-phase. Over headphones the
anti-phase tone sounds as loud as the reference; over loudspeakers the channels partly cancel in the air
and it sounds quietest, so a rater without headphones tends to pick it. Woods et al. pass a rater who gets
at least 5 of 6 trials right; chance is 1/3 per trial. Every tone has 100 ms raised-cosine ramps (shorter
tones: a quarter of the tone), 0.5 s of silence separates them (half a tone for tones under 1 s); each trial is one
stereo WAV played once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FREQ_HZ = 200.0
QUIET_DB = -6.0
GAP_S = 0.5
LEVEL_RMS = 0.1  # the reference tones at -20 dBFS RMS, the level of the music clips


@dataclass(frozen=True)
class Trial:
    quiet: int  # 1-based position of the -6 dB tone: the right answer
    antiphase: int  # 1-based position of the anti-phase tone: the loudspeaker listener's likely answer
    audio: np.ndarray  # (samples, 2) float32


def _tone(seconds: float, sr: int) -> np.ndarray:
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    x = np.sin(2 * np.pi * FREQ_HZ * t)
    ramp = min(int(0.1 * sr), n // 4)
    if ramp > 0:
        r = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        x[:ramp] *= r
        x[n - ramp :] *= r[::-1]
    return x * (LEVEL_RMS * np.sqrt(2.0))  # a sine's RMS is amplitude / sqrt(2)


def make_trial(rng: np.random.Generator, tone_seconds: float = 1.0, sr: int = 16000) -> Trial:
    """One trial; the silence between tones is GAP_S, or half a tone when tones are shorter than 1 s."""
    quiet, antiphase = (int(v) + 1 for v in rng.permutation(3)[:2])
    gap = min(GAP_S, tone_seconds / 2)
    tone = _tone(tone_seconds, sr)
    silence = np.zeros((int(round(gap * sr)), 2))
    parts = []
    for pos in (1, 2, 3):
        left = tone * (10 ** (QUIET_DB / 20) if pos == quiet else 1.0)
        right = -left if pos == antiphase else left
        parts.append(np.stack([left, right], axis=1))
        if pos < 3:
            parts.append(silence)
    return Trial(quiet, antiphase, np.concatenate(parts).astype(np.float32))


def score(answers: dict[int, str], trials: list[dict]) -> tuple[int, int]:
    """(right, answered) of a rater's answers {trial: "1"|"2"|"3"} against the manifest's trials."""
    right = sum(1 for k, t in enumerate(trials, start=1) if answers.get(k) == str(t["quiet"]))
    return right, sum(1 for k in range(1, len(trials) + 1) if answers.get(k))
