"""Reports that cannot mislead: hostile ids, malformed result files, validity boxes and cautions, measures
that disagree, file names that are unique and fit; and the one table renderer's formats."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from s2w_eval.cli import cli
from s2w_eval.clikit import run_main
from s2w_eval.io.audio import write_wav
from s2w_eval.names import safe_stem
from s2w_eval.report import Table, build_report, load_results, render_table
from s2w_eval.results import atomic_write_csv, atomic_write_json, provenance

from .test_report import make_run, write_pam


def _report(out: Path, *extra: str, code: int = 0) -> str:
    assert run_main(cli, ["report", str(out), "--format", "md", "--max-figures", "0", *extra]) == code
    return (out / "report.md").read_text()


def _pam_rows(samples, values: dict[tuple[str, str, str], object]) -> list[dict]:
    return [
        {
            "sample": s,
            "emotion": "positive",
            "condition": c,
            "metric": m,
            "reference": "target",
            "distance": d,
        }
        for (s, c, m), d in values.items()
        if s in samples
    ]


# ------------------------------------------------------------------------------------------ names


def test_safe_stem_unique_and_fitting():
    assert safe_stem("N1") == "N1" and safe_stem("dpam-scratch.v2") == "dpam-scratch.v2"
    odd = ["a:b", "a?b", "a b", "a*b", "a_b", "a|b"]
    stems = [safe_stem(x) for x in odd]
    assert len(set(stems)) == len(odd) and all(re.fullmatch(r"[A-Za-z0-9_.-]+", s) for s in stems)
    assert safe_stem("a_b") == "a_b"  # already safe: kept as it is
    long = ["x" * 300, "x" * 299 + "y"]
    assert len({safe_stem(x, 60) for x in long}) == 2 and all(len(safe_stem(x, 60)) <= 60 for x in long)
    for hidden in ("..", ".", ".profile", "", "///"):
        s = safe_stem(hidden)
        assert s and not s.startswith(".")
    assert safe_stem("é") != safe_stem("è")


def test_ids_that_a_file_name_cannot_tell_apart_get_their_own_figures(tmp_path):
    ids = ["a:b", "a?b", "L" * 240]
    run = tmp_path / "runs" / "odd"
    run.mkdir(parents=True)
    (run / "samples.csv").write_text("sample,emotion\n" + "".join(f"{s},positive\n" for s in ids))
    sr = 8000
    t = np.arange(sr // 4) / sr
    for ci, cond in enumerate(("target", "baseline")):
        for si, s in enumerate(ids):
            write_wav(run / cond / f"{s}.wav", (0.5 * np.sin(2 * np.pi * (200 + 150 * si + 30 * ci) * t)), sr)
    out = tmp_path / "reports" / "odd"
    atomic_write_json(
        out / "pam.json",
        {"run": "odd", "run_path": str(run), "summary": {}, "provenance": provenance(command="s2w-eval pam")},
    )
    assert run_main(cli, ["report", str(out), "--format", "md,html", "--max-figures", "10"]) == 0
    figs = sorted(p.name for p in (out / "figures").glob("sample-*.png"))
    assert len(figs) == 3 and all(len(n.encode()) <= 100 for n in figs), figs
    md = (out / "report.md").read_text()
    for s in ids:  # each id's own figure, linked once
        assert md.count(f"figures/sample-{safe_stem(s, 60)}.png") == 1
    html = (out / "report.html").read_text()
    assert html.count("<audio ") == 6  # a player per clip


# ------------------------------------------------------------------------------------------ hostile inputs


def test_raw_html_in_a_sample_id_is_escaped_in_markdown(tmp_path):
    out = tmp_path / "reports" / "x"
    evil = '<img src=x onerror="alert(1)">'
    rows = _pam_rows(
        [evil, "ok"],
        {(evil, "baseline", "cdpam"): 0.2, (evil, "s2w", "cdpam"): 0.4, ("ok", "baseline", "cdpam"): 0.3},
    )
    atomic_write_csv(out / "pam.csv", rows)
    md = _report(out)
    assert "<img" not in md and "&lt;img src=x onerror=" in md


def test_pam_json_of_the_wrong_shape_is_a_named_problem(tmp_path, capsys):
    run = make_run(tmp_path / "runs" / "r")
    out = tmp_path / "reports" / "r"
    write_pam(out, run)
    doc = json.loads((out / "pam.json").read_text())
    doc["summary"] = [1, 2, 3]
    (out / "pam.json").write_text(json.dumps(doc))
    md = _report(out, code=1)
    err = capsys.readouterr().err
    assert "pam.json" in err and '"summary" is a list' in err and "recomputed from pam.csv" in err
    assert "cdpam: summary per condition" in md  # recomputed, not silently empty
    # a summary whose conditions are not objects
    doc["summary"] = {"cdpam": {"conditions": {"baseline": 0.3}}}
    (out / "pam.json").write_text(json.dumps(doc))
    _report(out, code=1)
    assert '"summary"/\'cdpam\'/"conditions"' in capsys.readouterr().err


def test_pam_csv_missing_columns_is_named_not_an_empty_section(tmp_path, capsys):
    out = tmp_path / "reports" / "r"
    out.mkdir(parents=True)
    (out / "pam.csv").write_text("sample,condition,metric\nN1,baseline,cdpam\n")
    md = _report(out, code=1)
    err = capsys.readouterr().err
    assert "pam.csv" in err and "missing column distance" in err
    assert "pam.csv could not be used (see Problems)" in md and "no pam.json / pam.csv" not in md


def test_non_numeric_distance_is_named_and_never_bolded(tmp_path, capsys):
    run = make_run(tmp_path / "runs" / "r")
    out = tmp_path / "reports" / "r"
    rows = write_pam(out, run)
    # N1's baseline cdpam distance becomes text; pam.json still names baseline as N1's closest condition
    for r in rows:
        if (r["sample"], r["condition"], r["metric"]) == ("N1", "baseline", "cdpam"):
            r["distance"] = "abc"
    doc = json.loads((out / "pam.json").read_text())
    doc["summary"]["cdpam"]["best_per_sample"]["N1"] = ["baseline"]
    atomic_write_json(out / "pam.json", doc)
    atomic_write_csv(out / "pam.csv", rows)
    md = _report(out, code=1)
    err = capsys.readouterr().err
    assert "1 row without a finite numeric distance (N1/baseline/cdpam: 'abc')" in err
    n1 = next(x for x in md.splitlines() if x.startswith("| N1 ") and "n/a" in x)
    assert "**n/a**" not in n1
    # without pam.json the summary is recomputed from the numeric rows only
    (out / "pam.json").unlink()
    md = _report(out, code=1)
    line = next(x for x in md.splitlines() if x.startswith("| baseline ") and "[" in x)
    assert re.search(r"\|\s*3\s*\|", line)  # n = 3 of 4 for cdpam's baseline


# ------------------------------------------------------------------------------------------ validity, rankings

VALIDITY = {
    "thresholds": {"near_silent_dbfs": -50},
    "clips": [
        {"condition": "baseline", "sample": s, "warnings": ["near_silent"]} for s in ("N1", "N2", "P1", "P2")
    ],
    "conditions": {
        "baseline": {
            "n": 4,
            "warnings": [
                {
                    "check": "near_silent",
                    "count": 4,
                    "message": "4 of 4 clips are near-silent (RMS below -50 dBFS)",
                }
            ],
        },
        "scene2wav": {"n": 4, "warnings": []},
    },
}


def test_validity_box_per_condition_and_cautions(tmp_path):
    run = make_run(tmp_path / "runs" / "r")
    out = tmp_path / "reports" / "r"
    write_pam(out, run, shift=5.0)  # scene2wav far: baseline "wins" every cdpam table
    doc = json.loads((out / "pam.json").read_text())
    doc["validity"] = VALIDITY
    atomic_write_json(out / "pam.json", doc)
    md = _report(out)
    head = md.split("## Perceptual distance")[0]
    assert "## Validity checks" in head
    assert "> **baseline (4 clips)** (Warning): 4 of 4 clips are near-silent (RMS below -50 dBFS)" in head
    assert "> **scene2wav (4 clips)** (OK): no warnings" in head
    cautions = [x for x in md.splitlines() if x.startswith("> **Caution:**")]
    assert len(cautions) >= 4 and all(
        "baseline has validity warnings (baseline: near silent)" in c for c in cautions
    )
    html = out / "report.html"
    assert run_main(cli, ["report", str(out), "--format", "html", "--max-figures", "0"]) == 0
    page = html.read_text()
    assert page.count('<div class="box warn">') == 1 and page.count('<div class="box ok">') == 1
    assert page.count('<p class="caution">') == len(cautions)


def test_no_validity_key_is_stated(tmp_path):
    run = make_run(tmp_path / "runs" / "r")
    out = tmp_path / "reports" / "r"
    write_pam(out, run)
    md = _report(out)
    assert "No validity checks are recorded in the result files" in md and "Caution" not in md


def test_malformed_validity_is_a_problem(tmp_path, capsys):
    run = make_run(tmp_path / "runs" / "r")
    out = tmp_path / "reports" / "r"
    write_pam(out, run)
    doc = json.loads((out / "pam.json").read_text())
    doc["validity"] = {"conditions": {"baseline": {"warnings": "loud"}}}
    atomic_write_json(out / "pam.json", doc)
    _report(out, code=1)
    assert "validity checks are left out" in capsys.readouterr().err


def test_measures_that_rank_differently_are_said_in_words(tmp_path):
    from s2w_eval.metrics.pam import summarize

    out = tmp_path / "reports" / "r"
    values = {}
    for s in ("N1", "N2", "P1"):
        values[(s, "baseline", "cdpam")] = 0.2
        values[(s, "scene2wav", "cdpam")] = 0.5
        values[(s, "baseline", "dpam")] = 0.9
        values[(s, "scene2wav", "dpam")] = 0.1
    rows = _pam_rows(["N1", "N2", "P1"], values)
    atomic_write_csv(out / "pam.csv", rows)
    atomic_write_json(
        out / "pam.json",
        {
            "run": "r",
            "reference": "target",
            "summary": summarize(rows),
            "provenance": provenance(command="pam"),
        },
    )
    md = _report(out)
    sec = md.split("## Rankings: do the measures agree?")[1].split("\n## ")[0]
    assert "PAM cdpam (mean distance, lower is closer): baseline > scene2wav (best first)." in sec
    assert (
        "The measures disagree: PAM cdpam (mean distance, lower is closer) ranks baseline > scene2wav, "
        in sec
    )
    assert "but PAM dpam (mean distance, lower is closer) ranks scene2wav > baseline" in sec
    # the same order under both: said too
    for s in ("N1", "N2", "P1"):
        values[(s, "baseline", "dpam")] = 0.05
    rows = _pam_rows(["N1", "N2", "P1"], values)
    atomic_write_csv(out / "pam.csv", rows)
    (out / "pam.json").unlink()
    md = _report(out)
    assert "All 2 measures order the conditions they share the same way" in md and "disagree:" not in md


def test_a_set_distance_that_ranks_otherwise_than_pam_is_said_in_words(tmp_path):
    """dist.json's distances are lower-is-better, like PAM's: an opposite order is a disagreement."""
    from s2w_eval.metrics.pam import summarize

    out = tmp_path / "reports" / "r"
    values = {
        (s, c, "cdpam"): v for s in ("N1", "N2", "P1") for c, v in (("baseline", 0.2), ("scene2wav", 0.5))
    }
    rows = _pam_rows(["N1", "N2", "P1"], values)
    atomic_write_csv(out / "pam.csv", rows)
    prov = provenance(command="pam")
    atomic_write_json(out / "pam.json", {"run": "r", "summary": summarize(rows), "provenance": prov})

    def dist(base: float, s2w: float) -> None:
        conds = {
            c: {"value": v, "ci95_low": v - 0.1, "ci95_high": v + 0.1, "n": 3, "n_ref": 3}
            for c, v in (("baseline", base), ("scene2wav", s2w))
        }
        summary = {
            "kad/dpam": {"metric": "kad", "embedding": "dpam", "conditions": conds, "lower_is_better": True}
        }
        atomic_write_json(
            out / "dist.json", {"run": "r", "reference": "target", "summary": summary, "provenance": prov}
        )

    dist(0.9, 0.1)  # scene2wav's set is closer, while CDPAM finds baseline's clips closer
    sec = _report(out).split("## Rankings: do the measures agree?")[1].split("\n## ")[0]
    assert "kad/dpam (set distance, lower is closer): scene2wav > baseline (best first)." in sec
    assert "but kad/dpam (set distance, lower is closer) ranks scene2wav > baseline" in sec
    dist(0.1, 0.9)  # the same order as CDPAM's
    md = _report(out)
    assert "All 2 measures order the conditions they share the same way" in md and "disagree:" not in md
    assert "## Distribution distances to the reference set" in md


# ------------------------------------------------------------------------------------------ tables


def test_one_table_renderer_every_format():
    t = Table(
        "x & <y>",
        ["condition", "n", "mean", "CI"],
        [["a|b", "12", "0.1234", "[0.1, 0.2]"], ["c", "3", "n/a", "[0.3, 0.4]"]],
        {(0, 2)},
        source="Source: here",
        note="a note",
    )
    assert t.column_align() == ["l", "d", "d", "l"]
    from tabulate import tabulate

    for fmt, best in (("github", "**0.1234**"), ("plain", "0.1234*"), ("simple", "0.1234*")):
        # text left, numbers right; the bold cell is marked in plain text
        rows = [["a|b", "12", best, "[0.1, 0.2]"], t.rows[1]]
        want = tabulate(
            rows, t.headers, fmt, disable_numparse=True, colalign=("left", "right", "right", "left")
        )
        assert render_table(t, fmt) == want
    assert render_table(t, "csv").splitlines() == [
        "condition,n,mean,CI",
        'a|b,12,0.1234,"[0.1, 0.2]"',
        'c,3,n/a,"[0.3, 0.4]"',
    ]
    doc = json.loads(render_table(t, "json"))
    assert doc["rows"][0] == {"condition": "a|b", "n": "12", "mean": "0.1234", "CI": "[0.1, 0.2]"}
    assert doc["source"] == "Source: here"
    assert "a|b" in render_table(t, "plain") and "----" in render_table(t, "simple")
    md = render_table(t, "md")
    assert "**x &amp; &lt;y>**" in md and "a\\|b" in md and "**0.1234**" in md and "_Source: here_" in md
    html = render_table(t, "html")
    assert '<td class="num"><strong>0.1234</strong></td>' in html and "x &amp; &lt;y&gt;" in html
    tex = render_table(t, "tex", label="demo")
    assert r"\begin{tabular}{lr@{}lr@{}ll}" in tex and r"\label{tab:demo}" in tex
    assert r"\textbf{0} & \textbf{.1234}" in tex and r"\multicolumn{2}{c}{n/a}" in tex
    assert r"\caption{x \& \textless{}y\textgreater{}}" in tex
    with pytest.raises(ValueError, match="unknown table format"):
        render_table(t, "xlsx")


def test_report_figures_and_players_from_result_files(tmp_path):
    """PAM box plots per metric, one player per clip, linked relative to the report or embedded."""
    run = make_run(tmp_path / "runs" / "r")
    out = tmp_path / "reports" / "r"
    write_pam(out, run)
    rep, figs = build_report(load_results(out), max_figures=1)
    names = [f.name for f in figs]
    assert names[0] == "pam-cdpam.png" and names[1].startswith("pam-dpam-scratch_paper2020-")
    assert names[2:] == ["sample-N1.png"]
    assert run_main(cli, ["report", str(out), "--format", "html", "--max-figures", "0", "--embed-audio"]) == 0
    page = (out / "report.html").read_text()
    assert page.count('src="data:audio/wav;base64,') == 12 and not re.search(r'src="(?!data:)', page)
    assert json.loads((out / "report.json").read_text())["embed_audio"] is True
    rows = list(csv.DictReader(open(out / "pam.csv")))
    assert rows  # the result files were not touched by the report


def test_results_of_different_protocols_are_named(tmp_path):
    """pam.json under one protocol, chords.json under another: the report's overview says so."""
    import json

    from s2w_eval.report import build_report, resolve_inputs

    out = tmp_path / "reports" / "mixed"
    out.mkdir(parents=True)
    for name, proto in (("pam.json", "cognimuse-3s"), ("chords.json", "cognimuse-10s")):
        doc = {
            "schema_version": 1,
            "run": "mixed",
            "provenance": {"protocol": {"name": proto, "version": "1.1"}},
        }
        (out / name).write_text(json.dumps(doc))
    (res,) = resolve_inputs([out])
    report, _ = build_report(res, max_figures=0)
    text = " ".join(str(b) for s in report.sections if s.title == "Overview" for b in s.blocks)
    assert "different protocols" in text and "cognimuse-3s 1.1" in text and "cognimuse-10s 1.1" in text


def test_report_carries_the_runs_conditioning_diagnostics(tmp_path):
    import json

    from s2w_eval.report import build_report, load_results

    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "samples.csv").write_text("sample,emotion\na,positive\n")
    diag = {
        "model": "scene2wav",
        "preset": "tiny",
        "clips": 8,
        "split": "val",
        "nll_true_bits": 5.1,
        "nll_shuffled_bits": 5.1001,
        "nll_gap_bits": 0.0001,
        "verdict": "the condition is NOT used",
        "notes": ["a tiny model cannot continue a chord"],
    }
    (run / "diagnostics.json").write_text(json.dumps(diag))
    res = load_results(tmp_path / "reports" / "r", run_dir=run)
    report, _ = build_report(res, max_figures=0)
    (sec,) = [s for s in report.sections if s.title == "Conditioning diagnostics"]
    text = " ".join(str(b) for b in sec.blocks)
    assert "NOT used" in text and "cannot continue a chord" in text
    table = next(b for b in sec.blocks if hasattr(b, "rows"))
    assert ["shuffled - true: what the scene is worth (bits/sample)", "0.0001"] in table.rows
