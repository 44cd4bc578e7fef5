"""Write the golden outputs: pam.csv and chords.csv of the published Scene2Wav samples (3 s and 10 s runs).

Run from the repository root, with the published samples laid out as runs in DIR:
    python tests/golden/generate.py DIR
The files land in tests/golden/<run>/ and are committed; tests/test_golden.py scores the same runs with today's
code and compares every column but the provenance. Regenerate only when a change of numbers is intended, and
say why in the commit. (The model for this is mir_eval's tests/generate_data.py.)
"""

from __future__ import annotations

import csv
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: what the golden files hold: every PAM metric with the paper's loader, and two chord methods
PAM_ARGS = ["--metric", "cdpam,dpam,dpam-finetune,dpam-linear", "--dpam-loader", "paper2020"]
CHORD_ARGS = ["--method", "nnls-hmm,chroma-hmm"]
RUNS = ("cognimuse-3s", "cognimuse-10s")


def normalise_file(value: str) -> str:
    """A file column as condition/sample.ext, whatever machine path the writer recorded."""
    return "/".join(Path(value).parts[-2:]) if value else value


def write_normalised(src: Path, dst: Path) -> None:
    with open(src, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    for r in rows:
        for col in ("file", "ref_file"):
            if r.get(col):
                r[col] = normalise_file(r[col])
    with open(dst, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def generate(samples: Path) -> None:
    from s2w_eval.cli import cli
    from s2w_eval.clikit import run_main

    with tempfile.TemporaryDirectory() as tmp:
        for run in RUNS:
            out = Path(tmp) / "out"
            common = ["--out", str(out), "--quiet"]
            for args, name in (
                (["pam", str(samples / run), *PAM_ARGS, "--no-cache"], "pam.csv"),
                (["chords", str(samples / run), *CHORD_ARGS], "chords.csv"),
            ):
                code = run_main(cli, [*args, *common])
                if code != 0:
                    raise SystemExit(f"{args[0]} on {run} exited {code}")
                (HERE / run).mkdir(parents=True, exist_ok=True)
                write_normalised(out / run / name, HERE / run / name)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    generate(Path(sys.argv[1]))
