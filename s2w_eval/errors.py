"""Error types shared by every command.

Exit codes: 0 done, 1 some input was bad (named, the rest done), 2 usage error.
Every message names the file at fault and, where one exists, the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXIT_OK = 0
EXIT_DATA = 1
EXIT_USAGE = 2


class S2WError(Exception):
    """Base class: an error the user can act on (never shown with a traceback)."""

    exit_code = EXIT_DATA

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        fix: str | None = None,
        *,
        param: str | None = None,
    ):
        self.path = None if path is None else str(path)
        self.fix = fix
        self.message = message
        #: the parameter at fault (a keyword of the API, e.g. "temperature"); the CLI shows it as its option
        self.param = param
        super().__init__(self.format())

    def format(self, as_option: bool = False) -> str:
        """The message; with `as_option` the parameter is named as the command-line option (--temperature)."""
        text = self.message
        if self.param:
            name = f"--{self.param.replace('_', '-')}" if as_option else self.param
            text = f"{name}: {text}"
        if self.path:
            text = f"{self.path}: {text}"
        if self.fix:
            text += f" (fix: {self.fix})"
        return text


class UsageError(S2WError):
    """The command was called wrongly (bad option, unknown name, missing path)."""

    exit_code = EXIT_USAGE


class DataError(S2WError):
    """An input file is missing, unreadable or holds bad data."""

    exit_code = EXIT_DATA


class SilentAudioError(DataError):
    """An audio file holds only zeros: not scoreable by a distance, but a valid (silent) answer to label."""


class DeviceError(UsageError):
    """A compute device was asked for that this machine does not have."""


@dataclass(frozen=True)
class Problem:
    """A bad input found while the rest of the work goes on; reported at the end, exit code 1."""

    path: str
    message: str
    fix: str | None = None
    #: a warning is reported and recorded like a problem but does not make the exit code 1
    warning: bool = False

    def format(self) -> str:
        text = f"{self.path}: {self.message}"
        if self.fix:
            text += f" (fix: {self.fix})"
        return text

    @classmethod
    def from_error(cls, err: S2WError) -> Problem:
        return cls(err.path or "?", f"{err.param}: {err.message}" if err.param else err.message, err.fix)


def exit_code_of(problems) -> int:
    """1 when any problem is not a warning, else 0."""
    return EXIT_DATA if any(not p.warning for p in problems) else EXIT_OK
