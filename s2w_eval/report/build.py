"""Assembling reports: `build_report(results)` for one run, `build_comparison([...])` for several side by side."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..names import safe_stem
from .loading import RESULT_FILES, RunResults, protocol_mismatch
from .model import Figure, Report, Section
from .sections import (
    _audio_section,
    _calibrate_section,
    _chord_accuracy,
    _chords_section,
    _dist_section,
    _pam_section,
    _provenance_section,
    _survey_section,
    pam_summary,
    public_path,
)
from .tables import Table
from .tables import fmt_ci as _ci
from .tables import fmt_float as _f
from .tables import fmt_pct as _pct
from .tables import num as _num
from .verdicts import add_cautions, diagnostics_section, rankings_section, validity_section


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "x"


def _overview(res: RunResults) -> Section:
    proto = res.protocol()
    intro = [f"Run: {res.name}. Results: {public_path(res.result_dir)}."]
    if res.run_dir:
        intro.append(f"Run folder (audio): {public_path(res.run_dir)}.")
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
    blocks = [" ".join(intro)]
    mismatch = protocol_mismatch([res])
    if mismatch:
        blocks.append(mismatch)
    return Section("Overview", blocks)


def build_report(res: RunResults, max_figures: int = 20) -> tuple[Report, list[Figure]]:
    """The report of one run: overview, validity, rankings, the sections in the paper's order, then audio
    and provenance. Returns the report and its figures (to write next to the Markdown/LaTeX)."""
    pam, pfigs = _pam_section(res)
    chords = _chords_section(res)
    survey, sfigs = _survey_section(res)
    audio, afigs = _audio_section(res, max_figures)
    dist = _dist_section(res)
    calib, cfigs = _calibrate_section(res)
    sections = [_overview(res), validity_section(res)]
    ranks = rankings_section(res, pam_summary(res)[0], _chord_accuracy)
    if ranks is not None:
        sections.append(ranks)
    diag = diagnostics_section(res)
    extra = [sec for sec in (dist, calib, diag) if sec is not None]
    sections += [pam, chords, survey, *extra, audio, _provenance_section([res])]
    if res.problems:
        sections.insert(1, Section("Problems", [p.format() for p in res.problems]))
    report = Report(f"s2w report: {res.name}", _slug(res.name), sections, list(res.problems))
    add_cautions(report, res)
    return report, pfigs + sfigs + cfigs + afigs


def _summary(r: RunResults, metric: str) -> dict:
    return (((r.pam or {}).get("summary") or {}).get(metric) or {}).get("conditions") or {}


def _comparison_pam(results: Sequence[RunResults], names: list[str]) -> Section:
    pam = Section("Perceptual distance (mean [bootstrap 95% CI], lower is closer)")
    metrics = list(dict.fromkeys(m for r in results for m in ((r.pam or {}).get("summary") or {})))
    for metric in metrics:
        conds = list(dict.fromkeys(c for r in results for c in _summary(r, metric)))
        t = Table(f"{metric}", ["condition"] + names, [], conditions=conds)
        for c in conds:
            line = [c]
            for r in results:
                d = _summary(r, metric).get(c)
                line.append(
                    f"{_f(d.get('mean'))} {_ci(d.get('ci95_low'), d.get('ci95_high'))} (n={d.get('n')})"
                    if d
                    else ""
                )
            t.rows.append(line)
        for j, r in enumerate(results):
            ms = _summary(r, metric)
            vals = {c: _num(d.get("mean")) for c, d in ms.items() if _num(d.get("mean")) is not None}
            if len(vals) > 1:
                best = min(vals, key=vals.get)
                t.bold.add((conds.index(best), j + 1))
        pam.blocks.append(t)
    if not metrics:
        pam.blocks.append("Not available: none of the runs has pam.json.")
    return pam


def _comparison_chords(results: Sequence[RunResults], names: list[str]) -> Section:
    ch = Section("Agreement with the intended emotion (chords)")
    conds = list(dict.fromkeys(x.get("condition", "") for r in results for x in (r.chords_rows or [])))
    if not conds:
        ch.blocks.append("Not available: none of the runs has chords.csv.")
        return ch
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
    return ch


def _comparison_survey_cell(r: RunResults, first: str, second: str) -> str:
    mine = [x for x in (r.survey_rows or []) if x.get("first") == first and x.get("second") == second]
    pooled = [x for x in mine if x.get("sample") == "all" and x.get("emotion") == "all"]
    if pooled:
        x = pooled[0]
        return (
            f"{_pct(x.get('first_share'))} {_ci(x.get('ci_low'), x.get('ci_high'), 3)} (n={x.get('n', '')})"
        )
    vals = [_num(x.get("first_share")) for x in mine if x.get("sample") != "all"]
    vals = [v for v in vals if v is not None]
    return f"{_pct(sum(vals) / len(vals))} (mean of {len(vals)} samples)" if vals else ""


def _comparison_survey(results: Sequence[RunResults], names: list[str]) -> Section:
    sv = Section("Survey preferences (share preferring the first of each pair)")
    pairs = list(
        dict.fromkeys(
            (x.get("first", ""), x.get("second", "")) for r in results for x in (r.survey_rows or [])
        )
    )
    if not pairs:
        sv.blocks.append("Not available: none of the runs has survey/preferences.csv.")
        return sv
    t = Table(
        "share of answers preferring the first of the pair [Wilson CI] (n answers)",
        ["pair"] + names,
        [],
        note="Pooled over all samples (the sample 'all', emotion 'all' rows of preferences.csv); when a run "
        "has none, the mean of its per-sample shares.",
    )
    for first, second in pairs:
        t.rows.append([f"{first} vs {second}"] + [_comparison_survey_cell(r, first, second) for r in results])
    sv.blocks.append(t)
    return sv


def build_comparison(results: Sequence[RunResults]) -> Report:
    """Side by side: per metric the mean distance [CI] per condition and run, chord agreement, survey shares."""
    names = [r.name for r in results]
    secs = [
        Section(
            "Overview",
            [
                f"Side-by-side comparison of {len(results)} runs: {', '.join(names)}. "
                "Each cell comes from that run's result files (see Provenance).",
                *([m] if (m := protocol_mismatch(list(results))) else []),
            ],
        ),
        _comparison_pam(results, names),
        _comparison_chords(results, names),
        _comparison_survey(results, names),
        _provenance_section(results),
    ]
    slug = "compare-" + "-vs-".join(_slug(n) for n in names)
    if len(slug) > 100:
        slug = safe_stem(slug, 100)
    return Report("s2w side-by-side report: " + " vs ".join(names), slug, secs)
