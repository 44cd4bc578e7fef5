"""CSV cells a spreadsheet would run as a formula: guarded on write, the guard undone exactly on read.

`csv_safe` puts a quote in front of a text cell that starts with = + - @, a tab or a carriage return, and in
front of one that starts with the quote itself, so `csv_unguard` (drop exactly one leading quote) is its
inverse: every CSV s2w writes goes through `csv_safe` (results.rows_to_csv), every s2w reader of such a CSV
calls `csv_unguard`, and identifiers (a movie folder named `=HYPERLINK(...)`) read back unchanged.
"""

from __future__ import annotations

from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
GUARD = "'"


def csv_safe(value: Any) -> Any:
    """Neutralise a cell a spreadsheet would run as a formula (prefix with a quote), reversibly.

    A lone sign ("+", "-", as in the circle's labels) cannot form a formula and is left as it is. A value
    that itself starts with the quote is quoted too, so `csv_unguard` undoes the guard exactly: every s2w
    reader of a CSV it wrote calls it, and ids such as a movie named `=HYPERLINK(...)` read back unchanged.
    """
    if isinstance(value, str) and (
        value.startswith(GUARD) or (len(value) > 1 and value.startswith(FORMULA_PREFIXES))
    ):
        return GUARD + value
    return value


def csv_unguard(value: Any) -> Any:
    """The inverse of `csv_safe`: drop exactly one leading quote (a cell s2w wrote never starts with one else)."""
    if isinstance(value, str) and value.startswith(GUARD):
        return value[1:]
    return value
