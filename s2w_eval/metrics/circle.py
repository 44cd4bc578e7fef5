"""The Emotional Circle of Fifths (the Scene2Wav paper): pure functions.

Positive pitch classes {C, D, G, A, A#}, negative {C#, D#, E, F, G#, B}, F# on both sides. A clip's label is
decided over the SET of its detected pitch classes ("chords" in the paper): `+` if positives outnumber
negatives, `-` if fewer, `0` on a tie (F# counts on both sides, so it cancels). This rule reproduces all 60
labels of the paper's Tables 4 and 5.

Input spellings: sharps or flats (`Db`, `D-` as music21 writes flats, `Bb`, `E#` = F, `Cb` = B, double
accidentals), any case, or integers 0-11 (C = 0). Output spelling is the paper's: sharps, ordered negatives,
F#, positives (`C# D# E F G# B F# C D G A A#`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..vocab import EMOTION_SIGN, PITCH_CLASSES, pitch_class  # noqa: F401 - re-exported

POSITIVE = frozenset({"C", "D", "G", "A", "A#"})
NEGATIVE = frozenset({"C#", "D#", "E", "F", "G#", "B"})
BOTH = frozenset({"F#"})
#: the paper's order of a set: negatives, then F#, then positives (as in its Tables 4 and 5)
PAPER_ORDER = ("C#", "D#", "E", "F", "G#", "B", "F#", "C", "D", "G", "A", "A#")


def parse_pitch_classes(value: str | Iterable[str | int] | None) -> frozenset[str]:
    """A set of pitch classes from 'C# F B', 'Db,F,B', or an iterable; the empty string is the empty set."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        items = value.replace(",", " ").split()
    else:
        items = list(value)
    return frozenset(pitch_class(v) for v in items)


def order_pitch_classes(pcs: Iterable[str | int]) -> list[str]:
    """Pitch classes in the paper's order (negatives, F#, positives), duplicates removed."""
    s = parse_pitch_classes(pcs)
    return [p for p in PAPER_ORDER if p in s]


def format_pitch_classes(pcs: Iterable[str | int]) -> str:
    """'C# F B C D': the paper's spelling and order, space-separated ('' for the empty set)."""
    return " ".join(order_pitch_classes(pcs))


def votes(pcs: str | Iterable[str | int]) -> tuple[int, int]:
    """(positive, negative) counts over the set; F# counts on both sides."""
    s = parse_pitch_classes(pcs)
    pos = sum(1 for p in s if p in POSITIVE or p in BOTH)
    neg = sum(1 for p in s if p in NEGATIVE or p in BOTH)
    return pos, neg


def label(pcs: str | Iterable[str | int]) -> str:
    """The paper's label of a pitch-class set: '+', '-' or '0' (a tie, or the empty set)."""
    pos, neg = votes(pcs)
    return "+" if pos > neg else "-" if neg > pos else "0"


def weighted_label(weights: Mapping[str | int, float], tie_tolerance: float = 0.05) -> str:
    """Duration-weighted label (beyond the paper): each pitch class votes with its weight (e.g. seconds sounding).

    F# adds to both sides (it cancels, as in the paper's rule). A difference within `tie_tolerance` of the
    total weight is a tie, '0'; no weight at all is '0'.
    """
    pos = neg = 0.0
    for key, w in weights.items():
        w = float(w)
        if not w > 0:
            continue
        p = pitch_class(key)
        if p in POSITIVE or p in BOTH:
            pos += w
        if p in NEGATIVE or p in BOTH:
            neg += w
    total = pos + neg
    if total <= 0 or abs(pos - neg) <= tie_tolerance * total:
        return "0"
    return "+" if pos > neg else "-"


def emotion_label(emotion: str) -> str:
    """The label an intended emotion should get: 'positive' -> '+', 'negative' -> '-'."""
    e = str(emotion).strip().lower()
    if e in ("positive", "pos", "+"):
        return "+"
    if e in ("negative", "neg", "-"):
        return "-"
    if e in ("neutral", "0"):
        return "0"
    raise ValueError(f"unknown emotion {emotion!r}")
