"""Result files carry a schema_version and validate against the package's JSON Schemas; the LaTeX report
compiles (pdflatex) with booktabs, decimal-aligned numbers, captions and labels, and no machine paths."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from s2w_eval.cli import cli
from s2w_eval.clikit import run_main
from s2w_eval.errors import DataError
from s2w_eval.results import RESULT_KINDS, SCHEMA_VERSION, result_schema, validate_result

from .test_report import make_run, write_survey


@pytest.fixture(scope="module")
def written(tmp_path_factory, cache_dir) -> Path:
    """Every result file written by the real commands: pam (CDPAM), chords, dist, calibrate, survey, report."""
    base = tmp_path_factory.mktemp("results")
    run = make_run(base / "runs" / "demo", seconds=1.0)  # the quickstart protocol's clip length
    out = base / "reports"
    common = ["--protocol", "quickstart", "--out", str(out), "-q"]
    assert run_main(cli, ["pam", str(run), "--metric", "cdpam", "--cache-dir", str(cache_dir), *common]) == 0
    assert run_main(cli, ["chords", str(run), *common]) in (0, 1)
    dist = ["dist", str(run), "--embedding", "dpam", "--metric", "kad,fad", "--resamples", "50"]
    assert run_main(cli, [*dist, *common]) == 0
    assert run_main(cli, ["calibrate", str(run), "--metric", "dpam,chords", *common]) == 0
    write_survey(out / "demo", run)
    assert run_main(cli, ["report", str(out / "demo"), "--max-figures", "1"]) == 0
    return out / "demo"


def test_every_written_result_file_validates(written):
    files = {
        "pam": written / "pam.json",
        "chords": written / "chords.json",
        "dist": written / "dist.json",
        "calibrate": written / "calibrate.json",
        "survey": written / "survey" / "aggregate" / "survey.json",
        "report": written / "report.json",
    }
    assert sorted(files) == sorted(RESULT_KINDS)
    for kind, path in files.items():
        doc = json.loads(path.read_text())
        assert next(iter(doc)) == "schema_version" and doc["schema_version"] == SCHEMA_VERSION, path
        validate_result(doc, kind, path)
    # every other JSON s2w wrote with a provenance carries the version too (manifest, simulator truth)
    for path in written.rglob("*.json"):
        doc = json.loads(path.read_text())
        if "provenance" in doc:
            assert doc.get("schema_version") == SCHEMA_VERSION, path


def test_validation_names_the_wrong_key(written):
    doc = json.loads((written / "pam.json").read_text())
    doc["summary"]["cdpam"]["conditions"]["baseline"]["n"] = "four"
    with pytest.raises(DataError, match=r"summary/cdpam/conditions/baseline/n"):
        validate_result(doc, "pam", "pam.json")
    del doc["schema_version"]
    with pytest.raises(DataError, match="schema_version"):
        validate_result(doc, "pam")
    with pytest.raises(ValueError, match="unknown result kind"):
        result_schema("nope")


def test_schemas_are_valid_json_schemas():
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed (the [test] extra)")
    for kind in RESULT_KINDS:
        jsonschema.Draft202012Validator.check_schema(result_schema(kind))


def _machine_paths(text: str, *roots: Path) -> list[str]:
    hits = [str(r) for r in roots if str(r) in text]
    hits += re.findall(r"(?:/home/|/tmp/|/root/|\.venv|site-packages)\S*", text)
    return hits


def test_latex_tables_booktabs_aligned_captioned(written):
    tex = (written / "report.tex").read_text()
    n_tables = tex.count(r"\begin{table}")
    assert n_tables > 8 and tex.count(r"\caption{") >= n_tables and tex.count(r"\toprule") == n_tables
    labels = re.findall(r"\\label\{(tab:[^}]+)\}", tex)
    assert len(labels) == n_tables and len(set(labels)) == n_tables  # unique
    # numbers split at the decimal point in r@{}l column pairs: "0.1234" -> "0 & .1234"
    assert "r@{}l" in tex and re.search(r"\b\d+ & \.\d{4} ", tex)
    assert not _machine_paths(tex, written, Path.home(), Path.cwd())


def test_latex_compiles(written, tmp_path):
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        pytest.skip(
            "pdflatex is not installed (apt-get install texlive-latex-base texlive-latex-recommended lmodern; "
            ".ci/run does)"
        )
    work = tmp_path / "tex"
    shutil.copytree(written, work, ignore=shutil.ignore_patterns("survey"))
    proc = subprocess.run(
        [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "report.tex"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "openout_any": "p"},
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert (work / "report.pdf").stat().st_size > 10_000
    overfull = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert all(w < 10 for w in overfull), overfull  # no table or note runs off the page


def test_report_shows_distribution_distances_and_calibration(written):
    md = (written / "report.md").read_text()
    assert "## Distribution distances to the reference set" in md
    assert "kad on dpam embeddings" in md and "fad on dpam embeddings" in md and "small n" in md
    assert "## Metric calibration on anchors of known severity" in md
    assert "noise ladder" in md and "wrong-scene AUC" in md and "hidden reference best" in md
    assert (written / "figures" / "calibrate.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "kad/dpam (set distance, lower is closer)" in md  # the rankings compare it with PAM's order
    tex = (written / "report.tex").read_text()
    assert r"\caption{kad on dpam embeddings" in tex
