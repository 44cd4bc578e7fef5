"""Reports: render a run's result files as HTML (one self-contained file), Markdown and LaTeX.

A report is built from RESULT FILES ONLY (`s2w-eval pam`, `chords`, `survey aggregate` outputs in
`reports/<run>/`): it never re-scores anything. The few derived numbers (an accuracy and its Wilson CI when
`chords.json` does not hold them) are computed from the per-item rows and say so. Audio is read only for the
waveform/spectrogram figures, from the run folder the result files record (or one given by the caller).

Sections (each stated as absent when its result files are missing, never an error):
- PAM: the paper's Table 3 shape per metric (a row per sample, a column per condition, the closest marked),
  the mean/median with bootstrap CIs, wins and paired Wilcoxon tests per pair of conditions;
- Chords and emotion: the paper's Tables 4-5 shape (detected pitch classes and +/-/0 label per condition),
  per-model agreement with the intended emotion with Wilson CIs;
- Survey: preference shares per sample and pair (Figs. 9-10 shape), binomial tests, Wilson CIs;
- Figures: waveform + spectrogram per sample for the reference and each model (Figs. 7-8 shape);
- Provenance: for every result file, its hash, the command, version, date, protocol and seeds.

`build_report(results) -> Report` makes the document model; `render_html/markdown/latex` write it.
`build_comparison([...])` makes the side-by-side report of several runs.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DataError, Problem
from .results import atomic_write_bytes, atomic_write_json, atomic_write_text, provenance, sha256_file

FORMATS = ("html", "md", "tex")
RESULT_FILES = (
    "pam.json",
    "pam.csv",
    "chords.json",
    "chords.csv",
    "survey/preferences.csv",
    "survey/survey.json",
)


def _intended_sign(emotion: Any) -> str | None:
    """The circle label an intended class should get (+, -, 0 for neutral; a quadrant by its valence)."""
    from .metrics.circle import emotion_label

    try:
        return emotion_label(str(emotion))
    except ValueError:
        return None


# ------------------------------------------------------------------------------------------ document model


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    bold: set[tuple[int, int]] = field(default_factory=set)  # (row, column) cells to emphasise
    source: str = ""  # where the numbers come from
    note: str = ""


@dataclass
class Figure:
    name: str  # file name (PNG)
    title: str
    png: bytes
    caption: str = ""


@dataclass
class Section:
    title: str
    blocks: list[Table | Figure | str] = field(default_factory=list)


@dataclass
class Report:
    title: str
    slug: str
    sections: list[Section]
    problems: list[Problem] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ reading results


@dataclass
class SourceFile:
    path: Path
    sha256: str
    provenance: dict[str, Any] | None = None


@dataclass
class RunResults:
    """The result files of one run, as read from disk (sections absent stay None)."""

    name: str
    result_dir: Path
    run_dir: Path | None = None
    pam: dict[str, Any] | None = None
    pam_rows: list[dict[str, str]] | None = None
    chords: dict[str, Any] | None = None
    chords_rows: list[dict[str, str]] | None = None
    survey: dict[str, Any] | None = None
    survey_rows: list[dict[str, str]] | None = None
    sources: dict[str, SourceFile] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(
            (self.pam, self.pam_rows, self.chords, self.chords_rows, self.survey, self.survey_rows)
        )

    def protocol(self) -> dict[str, Any] | None:
        for src in self.sources.values():
            proto = (src.provenance or {}).get("protocol")
            if proto:
                return proto
        return None


def _uncsv(value: str | None) -> str:
    """Undo results.csv_safe: a cell written as "'+" (formula guard) reads back as "+"."""
    if value is None:
        return ""
    if len(value) >= 2 and value[0] == "'" and value[1] in "=+-@\t\r":
        return value[1:]
    return value


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return [{(k or "").strip(): _uncsv(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def load_results(result_dir: str | Path, run_dir: str | Path | None = None) -> RunResults:
    """Read the result files in `result_dir` (reports/<run>/); a malformed file is a Problem, not a crash."""
    result_dir = Path(result_dir)
    res = RunResults(name=result_dir.name, result_dir=result_dir)

    def read(rel: str, kind: str, *alternatives: str) -> Any:
        path = result_dir / rel
        for alt in alternatives:
            if not path.is_file():
                path = result_dir / alt
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8")) if kind == "json" else _read_csv(path)
            if kind == "json" and not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError, csv.Error, UnicodeDecodeError) as exc:
            res.problems.append(
                Problem(str(path), f"unreadable result file ({exc}); its section is left out")
            )
            return None
        prov = data.get("provenance") if kind == "json" else None
        res.sources[rel] = SourceFile(path, sha256_file(path), prov if isinstance(prov, dict) else None)
        return data

    res.pam = read("pam.json", "json")
    res.pam_rows = read("pam.csv", "csv")
    res.chords = read("chords.json", "json")
    res.chords_rows = read("chords.csv", "csv")
    res.survey_rows = read("survey/preferences.csv", "csv", "survey/aggregate/preferences.csv")
    res.survey = read("survey/survey.json", "json", "survey/aggregate/survey.json")
    # csv files carry no provenance of their own: they share their JSON's
    for csv_rel, json_rel in (
        ("pam.csv", "pam.json"),
        ("chords.csv", "chords.json"),
        ("survey/preferences.csv", "survey/survey.json"),
    ):
        if csv_rel in res.sources and json_rel in res.sources:
            res.sources[csv_rel].provenance = res.sources[json_rel].provenance
    for data in (res.pam, res.chords):
        if data and isinstance(data.get("run"), str) and data["run"]:
            res.name = data["run"]
            break
    if run_dir is not None:
        res.run_dir = Path(run_dir)
    else:
        for data in (res.pam, res.chords, res.survey):
            cand = (data or {}).get("run_path") or (data or {}).get("run_dir")
            if isinstance(cand, str) and (Path(cand) / "samples.csv").is_file():
                res.run_dir = Path(cand)
                break
    return res


def resolve_inputs(paths: Sequence[str | Path], results_root: str | Path = "reports") -> list[RunResults]:
    """Each path is a result folder (reports/<run>/) or a run folder (holding samples.csv: its results are
    looked up in results_root/<run name>/, its audio is used for the figures)."""
    from .errors import UsageError

    out = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise UsageError("path not found", p, "give a result folder (reports/<run>/) or a run folder")
        if (p / "samples.csv").is_file():
            res = load_results(Path(results_root) / p.name, run_dir=p)
            if not (Path(results_root) / p.name).is_dir():
                res.problems.append(
                    Problem(
                        str(Path(results_root) / p.name),
                        f"no results for run {p.name!r}",
                        "run `s2w-eval pam` / `s2w-eval chords` first, or pass --results",
                    )
                )
        else:
            res = load_results(p)
        if res.empty:
            res.problems.append(
                Problem(
                    str(res.result_dir),
                    "no result files (pam.json/csv, chords.json/csv, survey/preferences.csv)",
                    "run `s2w-eval pam` or `s2w-eval chords` first",
                )
            )
        out.append(res)
    names = [r.name for r in out]
    for r in out:  # the same run name twice (e.g. two quickstart folders): qualify with the folder above
        if names.count(r.name) > 1:
            above = r.result_dir.resolve().parent
            if above.name == "reports":
                above = above.parent
            r.name = f"{above.name}-{r.name}"
    return out


# ------------------------------------------------------------------------------------------ formatting helpers


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _f(v: Any, digits: int = 4) -> str:
    f = _num(v)
    return "n/a" if f is None else f"{f:.{digits}f}"


def _p(v: Any) -> str:
    f = _num(v)
    if f is None:
        return "n/a"
    return "<0.0001" if f < 1e-4 else f"{f:.4f}"


def _ci(lo: Any, hi: Any, digits: int = 4) -> str:
    if _num(lo) is None or _num(hi) is None:
        return "n/a"
    return f"[{_f(lo, digits)}, {_f(hi, digits)}]"


def _pct(v: Any) -> str:
    f = _num(v)
    return "n/a" if f is None else f"{100 * f:.1f}%"


def _source_note(res: RunResults, *rels: str) -> str:
    parts = []
    for rel in rels:
        src = res.sources.get(rel)
        if src is None:
            continue
        prov = src.provenance or {}
        proto = prov.get("protocol") or {}
        bits = [f"{rel} (sha256 {src.sha256[:12]}"]
        if prov.get("command"):
            bits.append(f"{prov['command']}")
        if proto:
            bits.append(f"protocol {proto.get('name')} v{proto.get('version')}")
        parts.append(", ".join(bits) + ")")
    return "Source: " + "; ".join(parts) if parts else ""


def normalise_label(value: Any) -> str:
    """A chord/emotion label as '+', '-' or '0' ('' when unknown)."""
    v = _uncsv(str(value or "")).strip().lower()
    if v in ("+", "positive", "pos", "1", "+1"):
        return "+"
    if v in ("-", "negative", "neg", "-1"):
        return "-"
    if v in ("0", "neutral", "tie", "none"):
        return "0"
    return ""


# ------------------------------------------------------------------------------------------ sections


def _pam_section(res: RunResults) -> Section:
    sec = Section("Perceptual distance to the reference (PAM)")
    if res.pam is None and not res.pam_rows:
        sec.blocks.append("Not available: no pam.json / pam.csv in this result folder (run `s2w-eval pam`).")
        return sec
    rows = res.pam_rows or []
    summary = (res.pam or {}).get("summary")
    derived = False
    if not summary and rows:
        from .metrics.pam import summarize

        summary = summarize(
            [dict(r, distance=float(r["distance"])) for r in rows if _num(r.get("distance")) is not None],
            reference=rows[0].get("reference", "target"),
        )
        derived = True
    src = _source_note(res, "pam.json", "pam.csv")
    if derived:
        src += " (aggregates recomputed from pam.csv: pam.json absent)"
    describe = (res.pam or {}).get("metrics") or {}
    for metric, ms in (summary or {}).items():
        conds = list(ms.get("conditions", {}))
        ref = ms.get("reference", "target")
        mrows = [r for r in rows if r.get("metric") == metric]
        if mrows:
            samples = list(dict.fromkeys(r["sample"] for r in mrows))
            val = {(r["sample"], r["condition"]): _num(r.get("distance")) for r in mrows}
            emo = {r["sample"]: r.get("emotion", "") for r in mrows}
            best = ms.get("best_per_sample") or {}
            t = Table(
                f"{metric}: distance to {ref!r} per sample (lower is closer; paper Table 3 shape)",
                ["sample", "emotion"] + conds,
                [],
                source=src,
            )
            for i, s in enumerate(samples):
                t.rows.append([s, emo.get(s, "")] + [_f(val.get((s, c))) for c in conds])
                for j, c in enumerate(conds):
                    if len(conds) > 1 and c in best.get(s, []):
                        t.bold.add((i, j + 2))
            sec.blocks.append(t)
        boot = ms.get("bootstrap") or {}
        level = boot.get("level", 0.95)
        t = Table(
            f"{metric}: summary per condition",
            ["condition", "n", "mean", "median", "std", f"bootstrap {int(round(100 * level))}% CI of mean"],
            [],
            source=src,
            note=(
                f"Percentile bootstrap, {boot.get('resamples', '?')} resamples, seed {boot.get('seed', '?')}."
                if boot
                else ""
            ),
        )
        means = {c: _num(d.get("mean")) for c, d in ms.get("conditions", {}).items()}
        finite = [m for m in means.values() if m is not None]
        for i, (c, d) in enumerate(ms.get("conditions", {}).items()):
            t.rows.append(
                [
                    c,
                    str(d.get("n", "")),
                    _f(d.get("mean")),
                    _f(d.get("median")),
                    _f(d.get("std")),
                    _ci(d.get("ci95_low"), d.get("ci95_high")),
                ]
            )
            if len(finite) > 1 and means[c] == min(finite):
                t.bold.add((i, 2))
        sec.blocks.append(t)
        if ms.get("pairs"):
            t = Table(
                f"{metric}: paired comparisons (per sample, lower distance wins)",
                ["a", "b", "n", "a closer", "b closer", "ties", "Wilcoxon statistic", "p (two-sided)"],
                [],
                source=src,
            )
            for pr in ms["pairs"]:
                t.rows.append(
                    [
                        pr.get("a", ""),
                        pr.get("b", ""),
                        str(pr.get("n", "")),
                        str(pr.get("a_wins", "")),
                        str(pr.get("b_wins", "")),
                        str(pr.get("ties", "")),
                        _f(pr.get("wilcoxon_statistic"), 2),
                        _p(pr.get("p_value")),
                    ]
                )
            sec.blocks.append(t)
        d = describe.get(metric)
        if isinstance(d, dict) and d:
            sec.blocks.append(
                f"Metric {metric}: "
                + ", ".join(f"{k} = {v}" for k, v in d.items() if not isinstance(v, dict | list))
            )
    return sec


def _chord_accuracy(rows: list[dict[str, str]], cond: str, method: str | None) -> dict[str, Any]:
    from .stats import binomial_test, wilson_ci

    sel = [r for r in rows if r.get("condition") == cond and (method is None or r.get("method") == method)]
    counts = {"+": 0, "-": 0, "0": 0}
    matches = n = 0
    for r in sel:
        lab = normalise_label(r.get("label"))
        if lab in counts:
            counts[lab] += 1
        want = _intended_sign(r.get("emotion", ""))
        if want is None or not lab:
            continue
        n += 1
        matches += int(lab == want)
    ci = wilson_ci(matches, n)
    return {
        "n": n,
        "matches": matches,
        "accuracy": matches / n if n else math.nan,
        "ci_low": ci.low,
        "ci_high": ci.high,
        "p_value_vs_half": binomial_test(matches, n),
        "counts": counts,
    }


def _chords_section(res: RunResults) -> Section:
    sec = Section("Chords and emotion (Emotional Circle of Fifths)")
    rows = res.chords_rows or []
    if not rows and res.chords is None:
        sec.blocks.append(
            "Not available: no chords.json / chords.csv in this result folder (run `s2w-eval chords`)."
        )
        return sec
    src = _source_note(res, "chords.json", "chords.csv")
    methods = list(dict.fromkeys(r.get("method", "") for r in rows)) or [""]
    conds = list(dict.fromkeys(r.get("condition", "") for r in rows))
    for method in methods:
        mrows = [r for r in rows if r.get("method", "") == method]
        mname = f" [{method}]" if method else ""
        samples = list(dict.fromkeys(r["sample"] for r in mrows))
        emo = {r["sample"]: r.get("emotion", "") for r in mrows}
        cell = {(r["sample"], r.get("condition", "")): r for r in mrows}
        headers = ["sample", "intended"]
        for c in conds:
            headers += [f"{c} pitch classes", f"{c} label"]
        t = Table(
            f"Detected pitch classes and labels{mname} (paper Tables 4-5 shape)",
            headers,
            [],
            source=src,
            note="Label: + if positive pitch classes outnumber negative ones, - if fewer, 0 on a tie; "
            "bold = agrees with the intended emotion.",
        )
        for i, s in enumerate(samples):
            want = _intended_sign(emo.get(s, "")) or ""
            line = [s, want or emo.get(s, "")]
            for j, c in enumerate(conds):
                r = cell.get((s, c))
                lab = normalise_label(r.get("label")) if r else ""
                line += [((r.get("pitch_classes") or "(none)") if r else "missing"), lab]
                if lab and lab == want:
                    t.bold.add((i, 3 + 2 * j))
            t.rows.append(line)
        sec.blocks.append(t)
        acc = Table(
            f"Agreement with the intended emotion per condition{mname}",
            ["condition", "n", "agree", "accuracy", "Wilson 95% CI", "binomial p (vs 50%)", "+", "0", "-"],
            [],
            source=src + " (accuracy and CIs computed by the report from the per-clip labels)",
            note="A 0 (tie) label agrees only with a neutral intended class (valence3 scheme); the paper's "
            "intended emotions are + or -.",
        )
        for c in conds:
            a = _chord_accuracy(rows, c, method)
            acc.rows.append(
                [
                    c,
                    str(a["n"]),
                    str(a["matches"]),
                    _pct(a["accuracy"]),
                    _ci(a["ci_low"], a["ci_high"], 3),
                    _p(a["p_value_vs_half"]),
                    str(a["counts"]["+"]),
                    str(a["counts"]["0"]),
                    str(a["counts"]["-"]),
                ]
            )
        _bold_best(acc, 3)
        sec.blocks.append(acc)
        # chords.json's own agreement figures, for every labelling rule it applied
        match = [
            m
            for m in ((res.chords or {}).get("match") or [])
            if isinstance(m, dict) and (not method or m.get("method") == method)
        ]
        if match:
            rules = (res.chords or {}).get("label_rules") or {}
            t = Table(
                f"Agreement per labelling rule{mname}",
                ["rule", "condition", "n", "agree", "share", "Wilson CI"],
                [],
                source=_source_note(res, "chords.json"),
                note=" ".join(f"{k}: {v}." for k, v in rules.items() if isinstance(v, str)),
            )
            for m in match:
                t.rows.append(
                    [
                        str(m.get("label_column", "")),
                        str(m.get("condition", "")),
                        str(m.get("n", "")),
                        str(m.get("matches", "")),
                        _pct(m.get("share")),
                        _ci(m.get("ci_low"), m.get("ci_high"), 3),
                    ]
                )
            sec.blocks.append(t)
        sec.blocks += _class_tables(res, method, mname)
    return sec


def _class_tables(res: RunResults, method: str, mname: str) -> list[Table]:
    """chords.json's per-class agreement and confusion matrix (its label scheme, the primary label)."""
    doc = res.chords or {}
    es = (doc.get("emotion_classes") or {}).get(doc.get("primary_label") or "label")
    if not isinstance(es, dict) or not es.get("per_class"):
        return []
    src = _source_note(res, "chords.json")
    mine = [r for r in es["per_class"] if not method or r.get("method") == method]
    per = Table(
        f"Agreement per intended class, {es.get('scheme')} scheme{mname}",
        ["condition", "intended", "expects", "n", "agree", "share", "Wilson CI"],
        [
            [
                str(r.get("condition", "")),
                str(r.get("class", "")),
                str(r.get("expected_label", "")),
                str(r.get("n", "")),
                str(r.get("matches", "")),
                _pct(r.get("share")),
                _ci(r.get("ci_low"), r.get("ci_high"), 3),
            ]
            for r in mine
        ],
        source=src,
    )
    conf = Table(
        f"Confusion matrix, intended class x circle label{mname}",
        ["condition", "intended", "-", "0", "+"],
        [
            [str(r.get("condition", "")), str(r.get("intended", ""))] + [str(r.get(k, "")) for k in "-0+"]
            for r in es.get("confusion") or []
            if not method or r.get("method") == method
        ],
        source=src,
    )
    return [per, conf]


def _bold_best(t: Table, col: int) -> None:
    """Bold the highest percentage in column `col` (ties: all of them)."""
    vals = {}
    for i, row in enumerate(t.rows):
        try:
            vals[i] = float(str(row[col]).rstrip("%"))
        except ValueError:
            continue
    if len(vals) > 1 and len(set(vals.values())) > 1:
        best = max(vals.values())
        for i, v in vals.items():
            if v == best:
                t.bold.add((i, col))


def _pref_table(
    title: str, first: str, second: str, rows: list[dict[str, str]], src: str, level: str
) -> Table:
    t = Table(
        title,
        [
            "sample",
            "emotion",
            "n",
            f"prefer {first}",
            "no preference",
            f"prefer {second}",
            "binomial p",
            f"Wilson {level} CI ({first})",
        ],
        [],
        source=src,
    )
    for r in rows:
        _add_preference_row(t, r.get("sample", ""), r)
    return t


def _add_preference_row(t: Table, label: str, r: dict[str, str]) -> None:
    """One preferences.csv row as a table row (label, emotion, n, shares, p, CI), the preferred share in bold."""
    t.rows.append(
        [
            label,
            r.get("emotion", ""),
            r.get("n", ""),
            _pct(r.get("first_share")),
            _pct(r.get("none_share")),
            _pct(r.get("second_share")),
            _p(r.get("p_value")),
            _ci(r.get("ci_low"), r.get("ci_high"), 3),
        ]
    )
    fs, ss = _num(r.get("first_share")), _num(r.get("second_share"))
    if fs is not None and ss is not None and fs != ss:
        t.bold.add((len(t.rows) - 1, 3 if fs > ss else 5))


def _survey_section(res: RunResults) -> tuple[Section, list[Figure]]:
    sec = Section("Listening survey (AB preferences)")
    rows = res.survey_rows or []
    if not rows:
        sec.blocks.append(
            "Not available: no survey/preferences.csv in this result folder "
            "(build with `s2w-eval survey build`, then `s2w-eval survey aggregate --out "
            "reports/<run>/survey`)."
        )
        if (res.result_dir / "survey" / "batch.csv").is_file():
            sec.blocks.append(
                f"A survey batch is built ({res.result_dir / 'survey' / 'batch.csv'}) and awaits answers: "
                "collect them, run `s2w-eval survey aggregate`, then render this report again."
            )
        return sec, []
    data = res.survey or {}
    lvl = _num((data.get("settings") or {}).get("level")) or 0.95
    level = f"{round(100 * lvl):g}%"
    src = _source_note(res, "survey/survey.json", "survey/preferences.csv")
    figures = []
    pairs = list(dict.fromkeys((r.get("first", ""), r.get("second", "")) for r in rows))
    pooled_rows: list[dict[str, str]] = []
    for first, second in pairs:
        prow = [r for r in rows if r.get("first") == first and r.get("second") == second]
        per_sample = [r for r in prow if r.get("sample") != "all"]
        pooled_rows += [r for r in prow if r.get("sample") == "all"]
        sec.blocks.append(
            _pref_table(
                f"{first} vs {second}: preference per sample (paper Figs. 9-10 shape)",
                first,
                second,
                per_sample,
                src,
                level,
            )
        )
        png = _survey_figure(first, second, per_sample + [r for r in prow if r.get("sample") == "all"])
        if png:
            fig = Figure(
                f"survey-{_slug(first)}-vs-{_slug(second)}.png",
                f"{first} vs {second}",
                png,
                f"Share of raters preferring {first} (left), no preference (grey), {second} (right), "
                "per sample and pooled (all).",
            )
            figures.append(fig)
            sec.blocks.append(fig)
    if pooled_rows:
        t = Table(
            "Pooled over samples, per pair and emotion",
            [
                "pair",
                "emotion",
                "n",
                "prefer first",
                "no preference",
                "prefer second",
                "binomial p",
                f"Wilson {level} CI (first)",
            ],
            [],
            source=src,
        )
        for r in pooled_rows:
            _add_preference_row(t, f"{r.get('first')} vs {r.get('second')}", r)
        sec.blocks.append(t)
    sec.blocks.extend(_survey_json_blocks(data, src))
    return sec, figures


def _survey_json_blocks(data: dict[str, Any], src: str) -> list[Table | str]:
    """Bradley-Terry ranking, inter-rater agreement, raters and notes from survey.json."""
    out: list[Table | str] = []
    bt = data.get("bradley_terry")
    if isinstance(bt, dict) and isinstance(bt.get("table"), list) and bt["table"]:
        t = Table(
            "Bradley-Terry ranking of the conditions",
            [
                "rank",
                "condition",
                "score",
                f"{round(100 * (_num(bt.get('level')) or 0.95)):g}% CI",
                "strength share",
            ],
            [],
            source=src,
            note=str(bt.get("method", "")),
        )
        for r in bt["table"]:
            t.rows.append(
                [
                    str(r.get("rank", "")),
                    str(r.get("condition", "")),
                    _f(r.get("score"), 3),
                    _ci(r.get("ci_low"), r.get("ci_high"), 3),
                    _pct(r.get("strength_share")),
                ]
            )
        t.bold.add((0, 1))
        out.append(t)
    kappa = data.get("fleiss_kappa")
    if isinstance(kappa, dict):
        t = Table(
            "Inter-rater agreement (Fleiss' kappa)",
            ["pairs", "kappa", "subjects"],
            [],
            source=src,
            note=str(kappa.get("method", "")),
        )
        if isinstance(kappa.get("all"), dict):
            t.rows.append(["all", _f(kappa["all"].get("kappa"), 3), str(kappa["all"].get("subjects", ""))])
        for name, k in (kappa.get("per_pair") or {}).items():
            if isinstance(k, dict):
                t.rows.append([name, _f(k.get("kappa"), 3), str(k.get("subjects", ""))])
        if t.rows:
            out.append(t)
    raters = data.get("raters")
    if isinstance(raters, dict):
        excluded = raters.get("excluded") or []
        out.append(
            f"Raters: {raters.get('total', '?')}, excluded after failed attention checks: {len(excluded)}"
            + (f" ({', '.join(map(str, excluded))})" if excluded else "")
            + "."
        )
    elif raters is not None and not isinstance(raters, list):
        out.append(f"Raters: {raters}.")
    for note in data.get("notes") or []:
        if isinstance(note, str):
            out.append(note)
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "x"


def _survey_figure(first: str, second: str, rows: list[dict[str, str]]) -> bytes | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = [r.get("sample", "") for r in rows]
    a = [(_num(r.get("first_share")) or 0.0) for r in rows]
    none = [(_num(r.get("none_share")) or 0.0) for r in rows]
    b = [(_num(r.get("second_share")) or 0.0) for r in rows]
    if not samples:
        return None
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(samples) + 1.2), dpi=80)
    y = range(len(samples))
    ax.barh(y, a, color="#3b75af", label=f"prefer {first}")
    ax.barh(y, none, left=a, color="#bbbbbb", label="no preference")
    ax.barh(y, b, left=[x + n for x, n in zip(a, none)], color="#ef8636", label=f"prefer {second}")
    ax.set_yticks(list(y), samples)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.axvline(0.5, color="k", lw=0.6, ls=":")
    ax.set_xlabel("share of raters")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
    fig.tight_layout()
    return _png(fig)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _audio_figures(res: RunResults, max_samples: int) -> tuple[Section, list[Figure]]:
    sec = Section("Waveforms and spectrograms (paper Figs. 7-8 shape)")
    if max_samples <= 0:
        sec.blocks.append("Figures not drawn (--max-figures 0).")
        return sec, []
    if res.run_dir is None:
        sec.blocks.append(
            "Not available: the run folder with the audio was not found (the result files record "
            "none that exists here); pass the run folder to `s2w-eval report` to draw them."
        )
        return sec, []
    from .io.runs import load_run

    try:
        run = load_run(res.run_dir)
    except DataError as exc:
        res.problems.append(Problem.from_error(exc))
        sec.blocks.append(f"Not available: {exc.format()}")
        return sec, []
    reference = (res.pam or {}).get("reference") or (res.protocol() or {}).get("reference") or "target"
    conds = sorted(run.conditions, key=lambda c: (c != reference, c))
    if not conds:
        sec.blocks.append(f"Not available: no condition folders in {run.root}.")
        return sec, []
    samples = run.samples[:max_samples]
    sec.blocks.append(
        f"Audio read from {run.root} (conditions: {', '.join(conds)}; "
        f"{len(samples)} of {len(run.samples)} samples drawn)."
    )
    figures = []
    for s in samples:
        clips = [(c, run.clip(c, s.id)) for c in conds]
        png = _sample_figure(s.id, s.emotion, clips, res.problems)
        if png is None:
            continue
        fig = Figure(
            f"sample-{_slug(s.id)}.png",
            f"{s.id} ({s.emotion})",
            png,
            "Top: waveform; bottom: spectrogram (dB, 0-8 kHz); one column per condition.",
        )
        figures.append(fig)
        sec.blocks.append(fig)
    return sec, figures


def _sample_figure(
    sample: str, emotion: str, clips: list[tuple[str, Path | None]], problems: list[Problem]
) -> bytes | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from scipy import signal

    from .io.audio import load_audio

    loaded = []
    for cond, path in clips:
        if path is None:
            loaded.append((cond, None, None))
            continue
        try:
            x, sr = load_audio(path)
        except DataError as exc:
            problems.append(Problem.from_error(exc))
            loaded.append((cond, None, None))
            continue
        loaded.append((cond, x, sr))
    if all(x is None for _, x, _ in loaded):
        return None
    n = len(loaded)
    fig, axes = plt.subplots(2, n, figsize=(3.2 * n, 4.2), dpi=72, squeeze=False)
    for j, (cond, x, sr) in enumerate(loaded):
        ax_w, ax_s = axes[0][j], axes[1][j]
        ax_w.set_title(cond, fontsize=10)
        if x is None:
            for ax in (ax_w, ax_s):
                ax.text(0.5, 0.5, "missing", ha="center", va="center", transform=ax.transAxes)
                ax.set_axis_off()
            continue
        t = np.arange(x.size) / sr
        step = max(1, x.size // 4000)
        ax_w.plot(t[::step], x[::step], lw=0.5, color="#3b75af")
        ax_w.set_xlim(0, t[-1] if t.size else 1)
        ax_w.set_ylim(-1.05, 1.05)
        ax_w.tick_params(labelsize=7)
        nper = 512 if sr > 20000 else 256
        f, tt, z = signal.stft(x, fs=sr, nperseg=min(nper, x.size), noverlap=None)
        db = 20 * np.log10(np.abs(z) + 1e-6)
        keep = f <= min(8000.0, sr / 2)
        vmax = float(db[keep].max()) if db[keep].size else 0.0
        ax_s.pcolormesh(
            tt,
            f[keep] / 1000.0,
            db[keep],
            shading="auto",
            vmin=vmax - 80,
            vmax=vmax,
            cmap="magma",
            rasterized=True,
        )
        ax_s.set_xlabel("time (s)", fontsize=8)
        ax_s.tick_params(labelsize=7)
        if j == 0:
            ax_w.set_ylabel("amplitude", fontsize=8)
            ax_s.set_ylabel("kHz", fontsize=8)
    fig.suptitle(f"{sample} ({emotion})", fontsize=11)
    fig.tight_layout()
    return _png(fig)


def _provenance_section(results: Sequence[RunResults]) -> Section:
    sec = Section("Provenance")
    t = Table(
        "Result files behind every number above",
        ["run", "file", "sha256", "command", "s2w", "created (UTC)", "protocol", "seeds"],
        [],
    )
    pk: dict[str, Any] = {}
    for res in results:
        for src in res.sources.values():
            prov = src.provenance or {}
            proto = prov.get("protocol") or {}
            t.rows.append(
                [
                    res.name,
                    str(src.path),
                    src.sha256[:16],
                    str(prov.get("command", "")),
                    str(prov.get("s2w_version", "")),
                    str(prov.get("created_utc", "")),
                    f"{proto.get('name')} v{proto.get('version')}" if proto else "none",
                    ", ".join(f"{k}={v}" for k, v in (prov.get("seeds") or {}).items()),
                ]
            )
            if not pk and prov.get("packages"):
                pk = prov
    sec.blocks.append(t)
    if pk:
        sec.blocks.append(
            "Environment of the results: Python "
            + str(pk.get("python", "?"))
            + " on "
            + str(pk.get("platform", "?"))
            + "; "
            + ", ".join(f"{k} {v}" for k, v in (pk.get("packages") or {}).items() if v)
        )
    for res in results:
        for rel, src in res.sources.items():
            argv = (src.provenance or {}).get("argv")
            if argv:
                sec.blocks.append(f"{res.name}/{rel} was written by: " + " ".join(str(a) for a in argv))
    return sec


def build_report(res: RunResults, max_figures: int = 20) -> tuple[Report, list[Figure]]:
    """The report of one run: sections in the paper's order, then figures and provenance."""
    proto = res.protocol()
    intro = [f"Run: {res.name}. Results: {res.result_dir}."]
    if res.run_dir:
        intro.append(f"Run folder (audio): {res.run_dir}.")
    if proto:
        intro.append(
            f"Protocol: {proto.get('name')} version {proto.get('version')}"
            + (f" (sha256 {str(proto.get('sha256'))[:12]})" if proto.get("sha256") else "")
            + "."
        )
    else:
        intro.append("Protocol: none recorded in the result files.")
    present = [rel for rel in RESULT_FILES if rel in res.sources]
    intro.append("Result files: " + (", ".join(present) if present else "none") + ".")
    overview = Section("Overview", [" ".join(intro)])
    pam = _pam_section(res)
    chords = _chords_section(res)
    survey, sfigs = _survey_section(res)
    audio, afigs = _audio_figures(res, max_figures)
    sections = [overview, pam, chords, survey, audio, _provenance_section([res])]
    if res.problems:
        sections.insert(1, Section("Problems", [p.format() for p in res.problems]))
    return Report(f"s2w report: {res.name}", _slug(res.name), sections, list(res.problems)), sfigs + afigs


def build_comparison(results: Sequence[RunResults]) -> Report:
    """Side by side: per metric the mean distance [CI] per condition and run, chord agreement, survey shares."""
    names = [r.name for r in results]
    secs = [
        Section(
            "Overview",
            [
                f"Side-by-side comparison of {len(results)} runs: {', '.join(names)}. "
                "Each cell comes from that run's result files (see Provenance)."
            ],
        )
    ]
    pam = Section("Perceptual distance (mean [bootstrap 95% CI], lower is closer)")
    metrics = list(dict.fromkeys(m for r in results for m in ((r.pam or {}).get("summary") or {})))
    for metric in metrics:
        conds = list(
            dict.fromkeys(
                c
                for r in results
                for c in (((r.pam or {}).get("summary") or {}).get(metric, {}).get("conditions") or {})
            )
        )
        t = Table(f"{metric}", ["condition"] + names, [])
        for c in conds:
            line = [c]
            for r in results:
                d = (((r.pam or {}).get("summary") or {}).get(metric, {}).get("conditions") or {}).get(c)
                line.append(
                    f"{_f(d.get('mean'))} {_ci(d.get('ci95_low'), d.get('ci95_high'))} (n={d.get('n')})"
                    if d
                    else ""
                )
            t.rows.append(line)
        for j, r in enumerate(results):
            ms = ((r.pam or {}).get("summary") or {}).get(metric, {}).get("conditions") or {}
            vals = {c: _num(d.get("mean")) for c, d in ms.items() if _num(d.get("mean")) is not None}
            if len(vals) > 1:
                best = min(vals, key=vals.get)
                t.bold.add((conds.index(best), j + 1))
        pam.blocks.append(t)
    if not metrics:
        pam.blocks.append("Not available: none of the runs has pam.json.")
    secs.append(pam)
    ch = Section("Agreement with the intended emotion (chords)")
    conds = list(dict.fromkeys(x.get("condition", "") for r in results for x in (r.chords_rows or [])))
    if conds:
        t = Table("accuracy [Wilson 95% CI] (n)", ["condition"] + names, [])
        for c in conds:
            line = [c]
            for r in results:
                rows = r.chords_rows or []
                methods = list(dict.fromkeys(x.get("method", "") for x in rows))
                if not any(x.get("condition") == c for x in rows):
                    line.append("")
                    continue
                a = _chord_accuracy(rows, c, methods[0] if len(methods) == 1 else None)
                line.append(f"{_pct(a['accuracy'])} {_ci(a['ci_low'], a['ci_high'], 3)} (n={a['n']})")
            t.rows.append(line)
        ch.blocks.append(t)
    else:
        ch.blocks.append("Not available: none of the runs has chords.csv.")
    secs.append(ch)
    sv = Section("Survey preferences (share preferring the first of each pair)")
    pairs = list(
        dict.fromkeys(
            (x.get("first", ""), x.get("second", "")) for r in results for x in (r.survey_rows or [])
        )
    )
    if pairs:
        t = Table(
            "share of answers preferring the first of the pair [Wilson CI] (n answers)",
            ["pair"] + names,
            [],
            note="Pooled over samples (the 'all' rows of preferences.csv); when a run has none, the mean "
            "of its per-sample shares.",
        )
        for first, second in pairs:
            line = [f"{first} vs {second}"]
            for r in results:
                mine = [
                    x for x in (r.survey_rows or []) if x.get("first") == first and x.get("second") == second
                ]
                pooled = [x for x in mine if x.get("sample") == "all" and x.get("emotion") == "all"]
                if pooled:
                    x = pooled[0]
                    line.append(
                        f"{_pct(x.get('first_share'))} {_ci(x.get('ci_low'), x.get('ci_high'), 3)} "
                        f"(n={x.get('n', '')})"
                    )
                    continue
                vals = [_num(x.get("first_share")) for x in mine if x.get("sample") != "all"]
                vals = [v for v in vals if v is not None]
                line.append(f"{_pct(sum(vals) / len(vals))} (mean of {len(vals)} samples)" if vals else "")
            t.rows.append(line)
        sv.blocks.append(t)
    else:
        sv.blocks.append("Not available: none of the runs has survey/preferences.csv.")
    secs.append(sv)
    secs.append(_provenance_section(results))
    slug = "compare-" + "-vs-".join(_slug(n) for n in names)
    if len(slug) > 100:
        import hashlib

        slug = slug[:80] + "-" + hashlib.sha256(slug.encode()).hexdigest()[:8]
    return Report("s2w side-by-side report: " + " vs ".join(names), slug, secs)


# ------------------------------------------------------------------------------------------ rendering

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;
padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#f3f3f3}caption{text-align:left;font-weight:600;padding:.3em 0;white-space:nowrap}
.src{color:#666;font-size:.8em;margin:.1em 0 1.2em}.note{color:#444;font-size:.85em}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}.problem{color:#a00}
"""


def render_html(report: Report, figures_inline: bool = True) -> str:
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{e(report.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        f"<h1>{e(report.title)}</h1>",
    ]
    for sec in report.sections:
        out.append(f"<section><h2>{e(sec.title)}</h2>")
        for b in sec.blocks:
            if isinstance(b, Table):
                out.append(
                    f"<table><caption>{e(b.title)}</caption><thead><tr>"
                    + "".join(f"<th>{e(h)}</th>" for h in b.headers)
                    + "</tr></thead><tbody>"
                )
                for i, row in enumerate(b.rows):
                    cells = []
                    for j, c in enumerate(row):
                        txt = e(str(c))
                        cells.append(
                            f"<td><strong>{txt}</strong></td>" if (i, j) in b.bold else f"<td>{txt}</td>"
                        )
                    out.append("<tr>" + "".join(cells) + "</tr>")
                out.append("</tbody></table>")
                if b.note:
                    out.append(f'<p class="note">{e(b.note)}</p>')
                if b.source:
                    out.append(f'<p class="src">{e(b.source)}</p>')
            elif isinstance(b, Figure):
                data = base64.b64encode(b.png).decode("ascii")
                out.append(
                    f'<figure><img alt="{e(b.title)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{e(b.title)}. {e(b.caption)}</figcaption></figure>"
                )
            else:
                cls = ' class="problem"' if sec.title == "Problems" else ""
                out.append(f"<p{cls}>{e(str(b))}</p>")
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: Report, figure_dir: str = "figures") -> str:
    from tabulate import tabulate

    out = [f"# {report.title}", ""]
    for sec in report.sections:
        out += [f"## {sec.title}", ""]
        for b in sec.blocks:
            if isinstance(b, Table):
                rows = [
                    [
                        (f"**{_md_cell(c)}**" if (i, j) in b.bold and c != "" else _md_cell(c))
                        for j, c in enumerate(row)
                    ]
                    for i, row in enumerate(b.rows)
                ]
                out += [
                    f"**{b.title}**",
                    "",
                    tabulate(
                        rows,
                        headers=[_md_cell(h) for h in b.headers],
                        tablefmt="github",
                        disable_numparse=True,
                    ),
                    "",
                ]
                if b.note:
                    out += [b.note, ""]
                if b.source:
                    out += [f"_{b.source}_", ""]
            elif isinstance(b, Figure):
                out += [f"![{b.title}]({figure_dir}/{b.name})", "", f"_{b.title}. {b.caption}_", ""]
            else:
                out += [("- " if sec.title == "Problems" else "") + str(b), ""]
    return "\n".join(out).rstrip() + "\n"


_TEX_ESCAPE = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def tex_escape(text: Any) -> str:
    return "".join(_TEX_ESCAPE.get(ch, ch) for ch in str(text))


def render_latex(report: Report, figure_dir: str = "figures") -> str:
    """A standalone LaTeX document (booktabs tables, figures by file); copy the tables into a paper."""
    out = [
        r"\documentclass{article}",
        r"\usepackage[margin=2cm,landscape]{geometry}",
        r"\usepackage{booktabs}",
        r"\usepackage{graphicx}",
        r"\usepackage[T1]{fontenc}",
        r"\begin{document}",
        rf"\section*{{{tex_escape(report.title)}}}",
    ]
    for sec in report.sections:
        out.append(rf"\subsection*{{{tex_escape(sec.title)}}}")
        for b in sec.blocks:
            if isinstance(b, Table):
                out += [
                    r"\begin{table}[htbp]",
                    r"\centering\small",
                    rf"\textbf{{{tex_escape(b.title)}}}\\[0.3em]",
                    r"\begin{tabular}{" + "l" * len(b.headers) + "}",
                    r"\toprule",
                    " & ".join(tex_escape(h) for h in b.headers) + r" \\",
                    r"\midrule",
                ]
                for i, row in enumerate(b.rows):
                    cells = [
                        rf"\textbf{{{tex_escape(c)}}}" if (i, j) in b.bold and c != "" else tex_escape(c)
                        for j, c in enumerate(row)
                    ]
                    out.append(" & ".join(cells) + r" \\")
                out += [r"\bottomrule", r"\end{tabular}"]
                for extra in (b.note, b.source):
                    if extra:
                        out.append(rf"\\[0.2em]{{\footnotesize {tex_escape(extra)}}}")
                out.append(r"\end{table}")
            elif isinstance(b, Figure):
                out += [
                    r"\begin{figure}[htbp]",
                    r"\centering",
                    rf"\includegraphics[width=0.9\linewidth]{{{figure_dir}/{b.name}}}",
                    rf"\\{{\footnotesize {tex_escape(b.title + '. ' + b.caption)}}}",
                    r"\end{figure}",
                ]
            else:
                out += [tex_escape(str(b)), ""]
        out.append(r"\clearpage" if sec.title.startswith("Waveforms") else "")
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


def write_report(
    report: Report, figures: Sequence[Figure], out_dir: str | Path, formats: Sequence[str] = FORMATS
) -> dict[str, Path]:
    """Write report.<ext> for each format (and figures/ for md/tex) into out_dir; return the paths."""
    out_dir = Path(out_dir)
    written: dict[str, Path] = {}
    if figures and any(f in ("md", "tex") for f in formats):
        for fig in figures:
            atomic_write_bytes(out_dir / "figures" / fig.name, fig.png)
    for fmt in formats:
        if fmt == "html":
            text = render_html(report)
        elif fmt == "md":
            text = render_markdown(report)
        elif fmt == "tex":
            text = render_latex(report)
        else:
            raise ValueError(fmt)
        written[fmt] = atomic_write_text(out_dir / f"report.{fmt}", text)
    meta = {
        "title": report.title,
        "formats": sorted(written),
        "figures": [f.name for f in figures],
        "problems": [p.format() for p in report.problems],
        "provenance": provenance(command="s2w-eval report"),
    }
    atomic_write_json(out_dir / "report.json", meta)
    return written
