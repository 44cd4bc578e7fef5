"""The one vocabulary every layer shares: pitch classes, emotions and their spellings, media extensions.

This module sits at the bottom of the package (it imports nothing from s2w): io, features, metrics, tasks and
s2w_models all read these names from here, so that one spelling is accepted everywhere.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

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
