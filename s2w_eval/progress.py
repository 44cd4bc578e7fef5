"""The one progress display of both console scripts: a tqdm bar on a terminal, a line every 10% elsewhere.

A bar redrawn with carriage returns floods a log file or a CI console, so when the stream is not a terminal
the same progress is printed as one plain line per tenth of the work (tqdm has no such mode; its `mininterval`
still redraws by time, not by share of the work).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class Progress:
    """Count work done; show it as a bar on a terminal, one line every 10% elsewhere (a log, CI).

    enabled: True shows progress (bar or lines), False shows nothing, None shows a bar on a terminal only.
    initial: work already done (a resumed epoch). Call the object with the amount done; close() at the end.
    """

    def __init__(
        self,
        total: int,
        desc: str,
        unit: str = "item",
        enabled: bool | None = None,
        stream=None,
        initial: int = 0,
    ):
        self.stream = stream or sys.stderr
        self.total, self.desc, self.unit, self.done = int(total), desc, unit, int(initial)
        interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.enabled = (interactive if enabled is None else enabled) and self.total > 0
        self._bar = None
        self._postfix: dict[str, str] = {}
        self._next_line = (int(self.done / self.total * 10) + 1) / 10 if self.total > 0 else 1.0
        self._t0 = time.monotonic()
        if self.enabled and interactive:
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.total, initial=self.done, desc=desc, unit=unit, leave=False, file=self.stream
            )

    def __call__(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.enabled and self.done / self.total >= self._next_line - 1e-9:
            while self._next_line <= self.done / self.total + 1e-9:
                self._next_line += 0.1
            elapsed = time.monotonic() - self._t0
            extra = "".join(f", {k} {v}" for k, v in self._postfix.items())
            print(
                f"{self.desc}: {self.done}/{self.total} {self.unit}s ({elapsed:.0f} s{extra})",
                file=self.stream,
                flush=True,
            )

    update = __call__

    def set_postfix(self, **values) -> None:
        """Figures shown next to the count (a loss): on the bar, or at the end of each progress line."""
        self._postfix = {k: str(v) for k, v in values.items()}
        if self._bar is not None:
            self._bar.set_postfix(self._postfix)

    def write(self, message: str) -> None:
        """A message line that does not break the bar."""
        if self._bar is not None:
            self._bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def track(
    items: Iterable[T],
    desc: str,
    unit: str = "item",
    enabled: bool | None = None,
    total: int | None = None,
    stream=None,
) -> Iterator[T]:
    """Iterate over `items`, showing progress (see Progress); total defaults to len(items)."""
    if total is None:
        items = list(items) if not hasattr(items, "__len__") else items
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, desc, unit, enabled=enabled, stream=stream) as bar:
        for item in items:
            yield item
            bar()


def echo(message: str, stream=None) -> None:
    """A message line that does not break any bar being drawn (tqdm clears and redraws its bars around it)."""
    from tqdm import tqdm

    tqdm.write(message, file=stream or sys.stderr)
