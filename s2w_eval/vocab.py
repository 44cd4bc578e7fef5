"""The one vocabulary every layer shares: pitch classes, emotions and their spellings, media extensions.

This module sits at the bottom of the package (it imports nothing from s2w): io, features, metrics, tasks and
s2w_models all read these names from here, so that one spelling is accepted everywhere.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: the twelve pitch classes spelled with sharps, index = pitch class number (C = 0)
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"#": 1, "♯": 1, "b": -1, "♭": -1, "-": -1, "x": 2, "𝄪": 2, "𝄫": -2}


def pitch_class(value: str | int) -> str:
    """One pitch class, any enharmonic spelling (`Db`, music21's `D-`, `E#`, 0-11), spelled with sharps."""
    if isinstance(value, bool):
        raise ValueError(f"not a pitch class: {value!r}")
    if isinstance(value, int):
        return PITCH_CLASSES[value % 12]
    text = str(value).strip()
    if not text:
        raise ValueError("empty pitch class")
    letter = text[0].upper()
    if letter not in _LETTERS:
        raise ValueError(f"not a pitch class: {value!r} (use C, C#, Db, ... B)")
    semis = _LETTERS[letter]
    rest = text[1:]
    word = rest.strip().lower()
    if word in ("sharp", "-sharp", " sharp"):
        rest = "#"
    elif word in ("flat", "-flat"):
        rest = "b"
    for ch in rest:
        if ch not in _ACCIDENTALS:
            raise ValueError(f"not a pitch class: {value!r} (use C, C#, Db, ... B)")
        semis += _ACCIDENTALS[ch]
    return PITCH_CLASSES[semis % 12]


#: the intended emotions of the paper's binary valence scheme
EMOTIONS = ("positive", "negative")
#: every spelling samples.csv may use for an emotion (case-insensitive), and what it means
EMOTION_ALIASES = {
    "positive": "positive",
    "pos": "positive",
    "+": "positive",
    "1": "positive",
    "negative": "negative",
    "neg": "negative",
    "-": "negative",
    "0": "negative",
}
#: Label schemes: which emotion classes a data set's splices carry, in index order (the index is the integer
#: class the models train on); a samples.csv may name any of them. valence2 (the paper's): negative, positive;
#: positive iff valence >= 0. valence3: negative, neutral, positive; neutral iff |valence| < the neutral band.
#: quadrant (valence x arousal, the authors' "2D" order): negative-high, negative-low, positive-low,
#: positive-high; high iff arousal >= 0. Valence and arousal on [-1, 1] (DEAP's 1-9 ratings map by (r - 5) / 4).
DEFAULT_NEUTRAL_BAND = 0.1


@dataclass(frozen=True)
class LabelScheme:
    name: str
    #: class names; the index is the integer class the models train on
    classes: tuple[str, ...]
    description: str
    uses_arousal: bool = False

    @property
    def neutral(self) -> str | None:
        return "neutral" if "neutral" in self.classes else None

    def index(self, cls: str) -> int:
        try:
            return self.classes.index(cls)
        except ValueError:
            raise ValueError(
                f"{cls!r} is not a class of the {self.name} scheme ({', '.join(self.classes)})"
            ) from None


SCHEMES: dict[str, LabelScheme] = {
    "valence2": LabelScheme(
        "valence2", ("negative", "positive"), "the paper's binary valence: positive iff valence >= 0"
    ),
    "valence3": LabelScheme(
        "valence3",
        ("negative", "neutral", "positive"),
        "negative / neutral / positive: neutral iff |valence| < the neutral band",
    ),
    "quadrant": LabelScheme(
        "quadrant",
        ("negative-high", "negative-low", "positive-low", "positive-high"),
        "valence x arousal (the authors' 4-class order): positive iff valence >= 0, high iff arousal >= 0",
        uses_arousal=True,
    ),
}
DEFAULT_SCHEME = "valence2"
#: every class name of every scheme (what a samples.csv `emotion` column may hold)
ALL_CLASSES = tuple(dict.fromkeys(c for s in SCHEMES.values() for c in s.classes))


def get_scheme(name: str | LabelScheme) -> LabelScheme:
    if isinstance(name, LabelScheme):
        return name
    try:
        return SCHEMES[str(name)]
    except KeyError:
        raise ValueError(f"unknown label scheme {name!r}; choose from {', '.join(SCHEMES)}") from None


def scheme_of_classes(classes: Iterable[str]) -> LabelScheme | None:
    """The smallest scheme holding every given class name (None when no scheme does)."""
    wanted = set(classes)
    for s in sorted(SCHEMES.values(), key=lambda s: len(s.classes)):
        if wanted <= set(s.classes):
            return s
    return None


def classify(
    valence: float,
    arousal: float | None,
    scheme: str | LabelScheme,
    neutral_band: float = DEFAULT_NEUTRAL_BAND,
) -> str:
    """The class of one splice from its valence (and arousal) on [-1, 1]."""
    s = get_scheme(scheme)
    v = float(valence)
    if not math.isfinite(v):
        raise ValueError(f"valence must be a finite number, got {valence!r}")
    if s.name == "valence2":
        return "positive" if v >= 0 else "negative"
    if s.name == "valence3":
        if not neutral_band >= 0:
            raise ValueError(f"the neutral band must be >= 0, got {neutral_band!r}")
        if abs(v) < neutral_band:
            return "neutral"
        return "positive" if v >= 0 else "negative"
    a = float("nan") if arousal is None else float(arousal)
    if not math.isfinite(a):
        raise ValueError("the quadrant scheme needs an arousal value; none was given")
    return f"{'positive' if v >= 0 else 'negative'}-{'high' if a >= 0 else 'low'}"


def valence_of(cls: str) -> str:
    """The valence part of any scheme's class: 'positive', 'negative' or 'neutral'."""
    c = str(cls).strip().lower()
    head = c.split("-", 1)[0]
    out = {"positive": "positive", "negative": "negative", "neutral": "neutral"}.get(head)
    if out is None or c not in ALL_CLASSES:
        raise ValueError(f"unknown emotion class {cls!r} (known: {', '.join(ALL_CLASSES)})")
    return out


EMOTION_ALIASES.update({c: c for c in ALL_CLASSES})
#: an emotion's sign on the Emotional Circle of Fifths
EMOTION_SIGN = {"positive": "+", "negative": "-"}


def normalise_emotion(value: object) -> str | None:
    """'POS', '+', '1' -> 'positive'; None for anything that is not an emotion."""
    return EMOTION_ALIASES.get(str(value).strip().lower())


#: audio files a run may hold (soundfile reads the first five natively, PyAV the rest)
AUDIO_EXTENSIONS = (
    ".wav",
    ".flac",
    ".ogg",
    ".aiff",
    ".aif",
    ".mp3",
    ".m4a",
    ".aac",
    ".opus",
    ".mp4",
    ".mkv",
    ".webm",
)
SOUNDFILE_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif")
#: video files (scenes, movies)
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ogv", ".flv", ".wmv")


def did_you_mean(name: str, options: Sequence[str]) -> str:
    """' (did you mean 'x'?)' for the closest option, or ''."""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""
