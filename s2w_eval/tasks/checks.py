"""Validity checks of a run's clips (metrics.validity), shared by every task that scores audio.

The checks never change a number: they add a `validity` block to the task's JSON and a warning per condition
check that fails (printed with the problems, listed under `warnings`), so that a table whose winner is
near-silence, noise or a copy of the reference says so beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import DataError, Problem
from ..io.audio import load_audio
from ..metrics import validity
from .base import Context


def run_validity(
    ctx: Context,
    conditions: Sequence[str],
    reference: str | None,
    labels: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """The validity block of the clips of `conditions` (and of the reference), each file read once.

    Clips that cannot be read are left out (the task has already named them as problems)."""
    run = ctx.run
    loaded: dict[str, dict[str, tuple[Any, int]]] = {}
    wanted = list(dict.fromkeys([*([reference] if reference in run.conditions else []), *conditions]))
    for cond in wanted:
        loaded[cond] = {}
        for s in run.samples:
            path = run.clip(cond, s.id)
            if path is None:
                continue
            try:
                loaded[cond][s.id] = load_audio(path)
            except DataError:
                continue
    if reference in loaded:
        refs = loaded.pop(reference)
        ref_name = reference
    else:
        refs, ref_name = {}, reference or "reference"
    block = validity.validity_block(loaded, refs, labels, reference_name=ref_name)
    for cond, info in block["conditions"].items():
        for w in info["warnings"]:
            ctx.problems.append(Problem(str(run.root / cond), f"validity: {w['message']}", warning=True))
    return block
