"""`s2w-eval report`: reports built from result files only, every section, missing sections, side by side."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pytest

from s2w_eval.cli import cli
from s2w_eval.clikit import run_main
from s2w_eval.io.audio import write_wav
from s2w_eval.report import build_report, load_results, normalise_label, render_latex
from s2w_eval.results import atomic_write_csv, atomic_write_json, provenance, sha256_file
from s2w_eval.stats import wilson_ci

SAMPLES = [("N1", "negative"), ("N2", "negative"), ("P1", "positive"), ("P2", "positive")]
CONDS = ["target", "baseline", "scene2wav"]
PROTO = {"name": "quickstart", "version": "1.0", "sha256": "ab" * 32}


def make_run(root: Path, sr: int = 16000, seconds: float = 1.0) -> Path:  # the quickstart protocol's 1 s
    root.mkdir(parents=True)
    (root / "samples.csv").write_text("sample,emotion\n" + "".join(f"{s},{e}\n" for s, e in SAMPLES))
    t = np.arange(int(sr * seconds)) / sr
    for ci, cond in enumerate(CONDS):
        for si, (s, _) in enumerate(SAMPLES):
            x = 0.5 * np.sin(2 * np.pi * (220 + 55 * si + 20 * ci) * t) * np.exp(-2 * t)
            write_wav(root / cond / f"{s}.wav", x.astype(np.float32), sr)
    return root


def write_pam(out: Path, run: Path, seed: int = 0, shift: float = 0.0) -> list[dict]:
    from s2w_eval.metrics.pam import summarize

    rng = np.random.default_rng(seed)
    rows = []
    for metric in ("cdpam", "dpam-scratch/paper2020"):
        for s, e in SAMPLES:
            for c in CONDS[1:]:
                rows.append(
                    {
                        "sample": s,
                        "emotion": e,
                        "condition": c,
                        "metric": metric,
                        "reference": "target",
                        "distance": float(rng.uniform(0.1, 1.0) + (shift if c == "scene2wav" else 0.0)),
                    }
                )
    summary = summarize(rows, reference="target", seed=0)
    atomic_write_csv(out / "pam.csv", rows)
    atomic_write_json(
        out / "pam.json",
        {
            "run": run.name,
            "run_path": str(run),
            "reference": "target",
            "summary": summary,
            "metrics": {},
            "provenance": provenance(command="s2w-eval pam", protocol=PROTO, seeds={"bootstrap": 0}),
        },
    )
    return rows


CHORD_LABELS = {  # (sample, condition) -> (pitch classes, label)
    ("N1", "target"): ("C# F B", "-"),
    ("N1", "baseline"): ("C D", "+"),
    ("N1", "scene2wav"): ("F F#", "-"),
    ("N2", "target"): ("D# E", "-"),
    ("N2", "baseline"): ("G# A#", "0"),
    ("N2", "scene2wav"): ("B E", "-"),
    ("P1", "target"): ("G A", "+"),
    ("P1", "baseline"): ("C# F", "-"),
    ("P1", "scene2wav"): ("G A", "+"),
    ("P2", "target"): ("D", "+"),
    ("P2", "baseline"): ("D#", "-"),
    ("P2", "scene2wav"): ("E B D", "-"),
}


def write_chords(out: Path, run: Path) -> None:
    emo = dict(SAMPLES)
    rows = [
        {"sample": s, "emotion": emo[s], "condition": c, "method": "pyin", "pitch_classes": pcs, "label": lab}
        for (s, c), (pcs, lab) in CHORD_LABELS.items()
    ]
    atomic_write_csv(out / "chords.csv", rows)  # '+'/'-' are written formula-guarded as "'+" / "'-"
    atomic_write_json(
        out / "chords.json",
        {
            "run": run.name,
            "run_path": str(run),
            "provenance": provenance(command="s2w-eval chords", protocol=PROTO),
        },
    )


def write_survey(out: Path, run: Path) -> None:
    """The real survey pipeline: build (quickstart protocol), simulate a crowd, aggregate."""
    sv = out / "survey"
    assert (
        run_main(
            cli,
            ["survey", "build", str(run), "--protocol", "quickstart", "--out", str(sv), "--media", "audio"],
        )
        == 0
    )
    assert (
        run_main(cli, ["survey", "simulate", str(sv), "--prefer", "scene2wav>baseline:0.9", "--seed", "1"])
        == 0
    )
    assert (
        run_main(
            cli,
            [
                "survey",
                "aggregate",
                str(sv / "simulated_results.csv"),
                "--key",
                str(sv / "answer_key.csv"),
                "--resamples",
                "200",
                "--no-plots",
            ],
        )
        == 0
    )


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("report")
    run = make_run(base / "runs" / "demo")
    out = base / "reports" / "demo"
    write_pam(out, run)
    write_chords(out, run)
    write_survey(out, run)
    return run, out


def test_full_report_all_formats(full, capsys):
    run, out = full
    assert run_main(cli, ["report", str(out), "--max-figures", "2"]) == 0
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    tex = (out / "report.tex").read_text()
    # PAM: every per-item distance of the result file appears (4 decimals), with the summary and tests
    import csv

    rows = list(csv.DictReader(open(out / "pam.csv")))
    for r in rows:
        assert f"{float(r['distance']):.4f}" in md
    assert "paper Table 3 shape" in md and "bootstrap 95% CI of mean" in md and "Wilcoxon" in md
    # chords: labels read back from the guarded csv; accuracy + Wilson CI per condition
    assert normalise_label("'+") == "+" and normalise_label("'-") == "-"
    line = next(x for x in md.splitlines() if x.startswith("| scene2wav") and "%" in x)
    # scene2wav agrees on N1, N2, P1 (3 of 4)
    ci = wilson_ci(3, 4)
    assert "75.0%" in line and f"[{ci.low:.3f}, {ci.high:.3f}]" in line
    base_line = next(x for x in md.splitlines() if x.startswith("| baseline") and "%" in x)
    assert re.search(r"\|\s*4\s*\|\s*0\s*\|\s*0\.0%", base_line), base_line  # baseline agrees on none
    # survey: one table + one figure per pair, survey.json's pairs list rendered
    assert md.count("preference per sample") == 3 and "figures/survey-scene2wav-vs-baseline.png" in md
    assert "Bradley-Terry ranking" in md and "Fleiss' kappa" in md and "Pooled over samples" in md
    prefs = list(csv.DictReader(open(out / "survey" / "aggregate" / "preferences.csv")))
    pooled = next(
        r for r in prefs if r["sample"] == "all" and r["emotion"] == "all" and r["second"] == "baseline"
    )
    assert f"{100 * float(pooled['first_share']):.1f}%" in md
    # figures: 2 samples drawn, files exist; html embeds them
    for name in ("sample-N1.png", "sample-N2.png", "survey-scene2wav-vs-target.png"):
        assert (out / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "figures" / "sample-P1.png").exists()
    # provenance: each result file's hash is named
    for rel in ("pam.json", "chords.csv", "survey/aggregate/preferences.csv"):
        assert sha256_file(out / rel)[:16] in md
    assert "quickstart v1.0" in md
    # html: images inline (PNG); the only other references are the audio players, relative to the report
    others = re.findall(r'(?:src|href)="((?!data:)[^"]*)"', html)
    audio = re.findall(r'<audio controls preload="metadata" src="([^"]+)"', html)
    assert len(audio) == len(SAMPLES) * len(CONDS) and sorted(others) == sorted(audio)
    from urllib.parse import unquote

    assert all(not a.startswith("/") and (out / unquote(a)).resolve().is_file() for a in audio), audio
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    # 2 samples + 3 survey pairs + 2 PAM box plots (one per metric)
    assert len(imgs) == 7 and all(base64.b64decode(i)[:4] == b"\x89PNG" for i in imgs)
    assert (out / "figures" / "pam-cdpam.png").is_file()
    assert len(list((out / "figures").glob("pam-dpam-scratch_paper2020-*.png"))) == 1
    assert "<strong>" in html
    # tex: balanced environments, escaped underscores, bold best
    assert tex.count(r"\begin{table}") == tex.count(r"\end{table}") > 5
    assert r"\textbf{" in tex and "figures/sample-N1.png" in tex
    assert "Tables 4-5" in tex
    assert "html -> " in capsys.readouterr().out


def test_missing_sections_are_stated_not_errors(tmp_path):
    run = make_run(tmp_path / "runs" / "only-pam")
    out = tmp_path / "reports" / "only-pam"
    write_pam(out, run)
    assert run_main(cli, ["report", str(out), "--format", "md", "--max-figures", "0"]) == 0
    md = (out / "report.md").read_text()
    assert "Not available: no chords.json" in md and "Not available: no survey/preferences.csv" in md
    assert not (out / "report.html").exists()


def test_run_folder_input_and_moved_audio(tmp_path):
    run = make_run(tmp_path / "runs" / "r1")
    results = tmp_path / "res"
    write_pam(results / "r1", run)
    # a run folder as input: results looked up in --results, audio drawn from the run
    assert (
        run_main(
            cli,
            [
                "report",
                str(run),
                "--results",
                str(results),
                "--format",
                "md",
                "--max-figures",
                "1",
                "--out",
                str(tmp_path / "out"),
            ],
        )
        == 0
    )
    md = (tmp_path / "out" / "r1" / "report.md").read_text()
    assert "figures/sample-N1.png" in md
    # the run folder gone: the report still renders, figures stated as unavailable
    import shutil

    shutil.rmtree(run)
    res = load_results(results / "r1")
    rep, figs = build_report(res)
    assert [f.name for f in figs if f.name.startswith("sample-")] == []
    assert "run folder with the audio was not found" in str(rep.sections)


def test_empty_or_bad_results_exit_1(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run_main(cli, ["report", str(tmp_path / "empty"), "--format", "md"]) == 1
    assert "no result files" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "pam.json").write_text("{not json")
    assert run_main(cli, ["report", str(bad), "--format", "md"]) == 1
    err = capsys.readouterr().err
    assert "pam.json" in err and "unreadable result file" in err and "Traceback" not in err
    assert run_main(cli, ["report", str(tmp_path / "nope")]) == 2
    assert run_main(cli, ["report", str(bad), "--format", "pdf"]) == 2


def test_side_by_side(tmp_path):
    runs = [make_run(tmp_path / "runs" / n) for n in ("a", "b")]
    for i, r in enumerate(runs):
        write_pam(tmp_path / "reports" / r.name, r, seed=i, shift=5.0 * i)
    write_chords(tmp_path / "reports" / "a", runs[0])
    out = tmp_path / "out"
    assert (
        run_main(
            cli,
            [
                "report",
                str(tmp_path / "reports" / "a"),
                str(tmp_path / "reports" / "b"),
                "--out",
                str(out),
                "--format",
                "md,html",
                "--max-figures",
                "0",
            ],
        )
        == 0
    )
    md = (out / "compare-a-vs-b" / "report.md").read_text()
    assert "| condition   | a" in md and "cdpam" in md and "dpam-scratch/paper2020" in md
    # run b's scene2wav is shifted by +5: its mean is > 5, run a's below 1
    line = next(x for x in md.splitlines() if x.startswith("| scene2wav") and "[" in x)
    a_mean, b_mean = (float(v) for v in re.findall(r"\|\s*\**(\d+\.\d+)", line)[:2])
    assert a_mean < 1.0 < 5.0 < b_mean
    assert "75.0%" in md  # run a's chord agreement; run b has none (empty cell)
    assert (out / "compare-a-vs-b" / "report.html").is_file()


def test_latex_escaping():
    from s2w_eval.report import Report, Section, Table

    rep = Report("t_1 & 50%", "t", [Section("S#1", [Table("x_y", ["a_b", "c"], [["1_2", "$5"]], {(0, 0)})])])
    tex = render_latex(rep)
    assert r"t\_1 \& 50\%" in tex and r"\textbf{1\_2}" in tex and r"\$5" in tex and r"S\#1" in tex


def test_real_published_audio_figures(shared_data, tmp_path):
    """The published Scene2Wav clips (44.1 kHz stereo re-exports and 16 kHz float files) are drawn."""
    run = shared_data / "scene2wav-samples" / "cognimuse-10s"
    out = tmp_path / "reports" / "cognimuse-10s"
    atomic_write_json(
        out / "pam.json",
        {
            "run": "cognimuse-10s",
            "run_path": str(run),
            "summary": {},
            "provenance": provenance(command="s2w-eval pam"),
        },
    )
    res = load_results(out)
    assert res.run_dir == run
    rep, figs = build_report(res, max_figures=2)
    assert [f.name for f in figs] == ["sample-N1.png", "sample-P1.png"] and not rep.problems


def test_real_chords_output_is_reported(tmp_path):
    """`s2w-eval chords` on a run, then the report: its agreement figures are the ones chords.json holds."""
    run = make_run(tmp_path / "runs" / "tones")
    out = tmp_path / "reports"
    assert run_main(cli, ["chords", str(run), "--protocol", "quickstart", "--out", str(out), "-q"]) in (0, 1)
    assert run_main(cli, ["report", str(out / "tones"), "--format", "md", "--max-figures", "0"]) == 0
    md = (out / "tones" / "report.md").read_text()
    import json

    doc = json.loads((out / "tones" / "chords.json").read_text())
    assert "Agreement per labelling rule" in md and "paper Tables 4-5 shape" in md
    for m in doc["match"]:
        line = next(
            x
            for x in md.splitlines()
            if x.startswith(f"| {m['label_column']} ") and f"| {m['condition']} " in x
        )
        assert f"{100 * m['share']:.1f}%" in line, (m, line)


def test_same_run_name_twice_is_qualified(tmp_path):
    outs = []
    for parent in ("first", "second"):
        run = make_run(tmp_path / parent / "runs" / "demo")
        outs.append(tmp_path / parent / "reports" / "demo")
        write_pam(outs[-1], run)
    assert (
        run_main(
            cli,
            [
                "report",
                *map(str, outs),
                "--out",
                str(tmp_path / "out"),
                "--format",
                "md",
                "--max-figures",
                "0",
            ],
        )
        == 0
    )
    for name in ("first-demo", "second-demo", "compare-first-demo-vs-second-demo"):
        assert (tmp_path / "out" / name / "report.md").is_file(), name
