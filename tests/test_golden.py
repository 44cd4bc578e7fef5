"""Golden outputs: today's pam.csv and chords.csv of the published Scene2Wav samples equal the committed ones.

tests/golden/generate.py wrote them (see its docstring); a restructure must change no number. Compared: every
column of every row; text exactly, numbers to a relative 1e-5 (CDPAM's decimating layers now run as stride-2
convolutions, which sums the same products in another order: docs/pam.md gives the measured deviation, far
below 1e-5); file columns by their last two parts (condition/sample), since older versions recorded absolute
paths.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from s2w_eval.cli import cli
from s2w_eval.clikit import run_main
from tests.golden.generate import CHORD_ARGS, PAM_ARGS, normalise_file

GOLDEN = Path(__file__).resolve().parent / "golden"
FILE_COLUMNS = ("file", "ref_file")


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for col in FILE_COLUMNS:
            if r.get(col):
                r[col] = normalise_file(r[col])
    return rows


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return abs(x - y) <= 1e-5 * max(1.0, abs(y))


def _compare(got: Path, want: Path) -> None:
    a, b = _rows(got), _rows(want)
    assert len(a) == len(b), f"{got.name}: {len(a)} rows, golden {len(b)}"
    for i, (ra, rb) in enumerate(zip(a, b, strict=True)):
        assert list(ra) == list(rb), f"{got.name}: columns differ"
        diff = {k: (ra[k], rb[k]) for k in rb if not _same(ra[k], rb[k])}
        assert not diff, f"{got.name} row {i + 1} ({rb.get('sample')}, {rb.get('condition')}): {diff}"


@pytest.mark.parametrize("run", ["cognimuse-3s", "cognimuse-10s"])
def test_pam_equals_golden(shared_data, tmp_path, cache_dir, run):
    samples = shared_data / "scene2wav-samples" / run
    args = ["pam", str(samples), *PAM_ARGS, "--out", str(tmp_path), "--quiet", "--cache-dir", str(cache_dir)]
    assert run_main(cli, args) == 0
    _compare(tmp_path / run / "pam.csv", GOLDEN / run / "pam.csv")


@pytest.mark.parametrize("run", ["cognimuse-3s", "cognimuse-10s"])
def test_chords_equals_golden(shared_data, tmp_path, run):
    samples = shared_data / "scene2wav-samples" / run
    assert run_main(cli, ["chords", str(samples), *CHORD_ARGS, "--out", str(tmp_path), "--quiet"]) == 0
    _compare(tmp_path / run / "chords.csv", GOLDEN / run / "chords.csv")
