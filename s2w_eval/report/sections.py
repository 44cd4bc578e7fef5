"""The sections of a run's report, each built from its result files only (absent files: stated, not an error).

- PAM: the paper's Table 3 shape per metric (a row per sample, a column per condition, the closest marked),
  the mean/median with bootstrap CIs, wins and paired Wilcoxon tests, a box/strip plot per metric;
- Chords and emotion: the paper's Tables 4-5 shape, per-condition agreement with Wilson CIs;
- Survey: preference shares per sample and pair (Figs. 9-10 shape), binomial tests, Wilson CIs;
- Validity: one box per condition with the warnings the result files record;
- Rankings: whether the measures order the conditions the same way, in words;
- Audio: waveform + spectrogram figures and a player for every clip;
- Provenance: for every result file, its hash, the command, version, date, protocol and seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import DataError, Problem
from ..names import safe_stem
from . import figures
from .loading import RunResults, normalise_label
from .model import Audio, Figure, Section
from .tables import Table
from .tables import fmt_ci as _ci
from .tables import fmt_float as _f
from .tables import fmt_p as _p
from .tables import fmt_pct as _pct
from .tables import num as _num

FIGURE_STEM = 60  # characters of an id kept in a figure's file name (plus a hash when cut or changed)


def _intended_sign(emotion: Any) -> str | None:
    """The circle label an intended class should get (+, -, 0 for neutral; a quadrant by its valence)."""
    from ..metrics.circle import emotion_label

    try:
        return emotion_label(str(emotion))
    except ValueError:
        return None


def public_path(value: Any, base: Path | None = None) -> str:
    """A path as a reader of the report may see it: relative to `base` (or the working folder) when inside
    it, otherwise only its last two parts (no home folders, virtual environments or user names)."""
    text = str(value)
    p = Path(text)
    if not p.is_absolute():
        return _short(p) if _installed(p) else text
    for root in ([base] if base else []) + [Path.cwd()]:
        try:
            rel = p.resolve().relative_to(root.resolve())
        except (ValueError, OSError):
            continue
        return _short(rel) if _installed(rel) else str(rel)
    return _short(p)


def _installed(p: Path) -> bool:
    """Whether `p` lies inside a virtual environment or an installed package (machine detail, not data)."""
    return any(part in (".venv", "venv", "site-packages", "dist-packages") for part in p.parts)


def _short(p: Path) -> str:
    return str(Path(*p.parts[-2:])) if len(p.parts) > 2 else p.name


def _program(argv0: Any) -> str:
    """The program of a recorded command line as its user typed it: `s2w-eval`, or `python -m pytest` for a
    package's __main__.py (never the path of an installed script inside a virtual environment)."""
    p = Path(str(argv0))
    if p.name == "__main__.py" and p.parent.name:
        return f"python -m {p.parent.name}"
    return p.name or str(argv0)


def _public_value(key: str, v: Any) -> str:
    """A metric description value: absolute paths (weights files in a venv) shortened to their file name,
    hashes to their first 16 hex digits (a 64-digit word cannot break across a line)."""
    text = str(v)
    if text.startswith(("/", "~")) or text[1:3] in (":\\", ":/"):
        return Path(text).name
    if key.endswith("sha256") and len(text) > 16:
        return text[:16] + "..."
    return text


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


def _absent(res: RunResults, rels: tuple[str, ...], how: str) -> str:
    """Why a section is empty: its files are missing, or present but unusable (named in Problems)."""
    bad = [r for r in rels if r in res.unusable]
    if bad:
        return f"Not available: {' and '.join(bad)} could not be used (see Problems)."
    return f"Not available: no {' / '.join(rels)} in this result folder ({how})."


# ------------------------------------------------------------------------------------------ PAM


def pam_summary(res: RunResults) -> tuple[dict[str, Any], bool]:
    """pam.json's summary, or (when absent) one recomputed from pam.csv's numeric rows; (summary, derived)."""
    rows = res.pam_rows or []
    summary = (res.pam or {}).get("summary")
    if summary or not rows:
        return summary or {}, False
    from ..metrics.pam import summarize

    good = [dict(r, distance=float(r["distance"])) for r in rows if _num(r.get("distance")) is not None]
    reference = (res.pam or {}).get("reference") or rows[0].get("reference") or "target"
    return summarize(good, reference=reference), True


def _pam_per_sample_table(metric: str, ms: dict[str, Any], mrows: list[dict[str, str]], src: str) -> Table:
    conds = list(ms.get("conditions", {}))
    ref = ms.get("reference", "target")
    samples = list(dict.fromkeys(r.get("sample", "") for r in mrows))
    val = {(r.get("sample", ""), r.get("condition", "")): _num(r.get("distance")) for r in mrows}
    emo = {r.get("sample", ""): r.get("emotion", "") for r in mrows}
    best = ms.get("best_per_sample") or {}
    t = Table(
        f"{metric}: distance to {ref!r} per sample (lower is closer; paper Table 3 shape)",
        ["sample", "emotion"] + conds,
        [],
        source=src,
        conditions=conds,
    )
    for i, s in enumerate(samples):
        t.rows.append([s, emo.get(s, "")] + [_f(val.get((s, c))) for c in conds])
        winners = best.get(s, []) if isinstance(best.get(s, []), list) else []
        for j, c in enumerate(conds):
            # a winner is bolded only where its distance is shown: never an n/a cell
            if len(conds) > 1 and c in winners and val.get((s, c)) is not None:
                t.bold.add((i, j + 2))
    return t


def _pam_summary_table(metric: str, ms: dict[str, Any], src: str) -> Table:
    boot = ms.get("bootstrap") or {}
    level = _num(boot.get("level")) or 0.95
    conds = ms.get("conditions", {})
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
        conditions=list(conds),
    )
    means = {c: _num(d.get("mean")) for c, d in conds.items()}
    finite = [m for m in means.values() if m is not None]
    for i, (c, d) in enumerate(conds.items()):
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
    return t


def _pam_pairs_table(metric: str, ms: dict[str, Any], src: str) -> Table:
    t = Table(
        f"{metric}: paired comparisons (per sample, lower distance wins)",
        ["a", "b", "n", "a closer", "b closer", "ties", "Wilcoxon statistic", "p (two-sided)"],
        [],
        source=src,
    )
    for pr in ms["pairs"]:
        if not isinstance(pr, dict):
            continue
        t.rows.append(
            [
                str(pr.get("a", "")),
                str(pr.get("b", "")),
                str(pr.get("n", "")),
                str(pr.get("a_wins", "")),
                str(pr.get("b_wins", "")),
                str(pr.get("ties", "")),
                _f(pr.get("wilcoxon_statistic"), 2),
                _p(pr.get("p_value")),
            ]
        )
    return t


def _pam_section(res: RunResults) -> tuple[Section, list[Figure]]:
    sec = Section("Perceptual distance to the reference (PAM)")
    if res.pam is None and not res.pam_rows:
        sec.blocks.append(_absent(res, ("pam.json", "pam.csv"), "run `s2w-eval pam`"))
        return sec, []
    rows = res.pam_rows or []
    summary, derived = pam_summary(res)
    src = _source_note(res, "pam.json", "pam.csv")
    if derived:
        src += " (aggregates recomputed from pam.csv: pam.json absent)"
    if not summary:
        sec.blocks.append(
            "Not available: the PAM result files hold no usable distances (see Problems)."
            if res.problems
            else "Not available: the PAM result files hold no distances."
        )
    describe = (res.pam or {}).get("metrics") or {}
    figs = []
    for metric, ms in summary.items():
        mrows = [r for r in rows if r.get("metric") == metric]
        if mrows:
            sec.blocks.append(_pam_per_sample_table(metric, ms, mrows, src))
        sec.blocks.append(_pam_summary_table(metric, ms, src))
        png = figures.pam_distribution_figure(metric, ms, mrows) if mrows else None
        if png:
            fig = Figure(
                f"pam-{safe_stem(metric, FIGURE_STEM)}.png",
                f"{metric}: distance to the reference per condition",
                png,
                "Box: quartiles of the per-sample distances, dots: the samples; black: the mean with its "
                "bootstrap CI (whiskers) from the summary. Lower is closer.",
            )
            figs.append(fig)
            sec.blocks.append(fig)
        if ms.get("pairs"):
            sec.blocks.append(_pam_pairs_table(metric, ms, src))
        d = describe.get(metric)
        if isinstance(d, dict) and d:
            sec.blocks.append(
                f"Metric {metric}: "
                + ", ".join(
                    f"{k} = {_public_value(k, v)}" for k, v in d.items() if not isinstance(v, dict | list)
                )
            )
    return sec, figs


# ------------------------------------------------------------------------------------------ chords


def _chord_accuracy(rows: list[dict[str, str]], cond: str, method: str | None) -> dict[str, Any]:
    from ..stats import binomial_test, wilson_ci

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


def _chord_labels_table(mrows: list[dict[str, str]], conds: list[str], mname: str, src: str) -> Table:
    samples = list(dict.fromkeys(r.get("sample", "") for r in mrows))
    emo = {r.get("sample", ""): r.get("emotion", "") for r in mrows}
    cell = {(r.get("sample", ""), r.get("condition", "")): r for r in mrows}
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
        conditions=conds,
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
    return t


def _chord_accuracy_table(
    rows: list[dict[str, str]], conds: list[str], method: str, mname: str, src: str
) -> Table:
    acc = Table(
        f"Agreement with the intended emotion per condition{mname}",
        ["condition", "n", "agree", "accuracy", "Wilson 95% CI", "binomial p (vs 50%)", "+", "0", "-"],
        [],
        source=src + " (accuracy and CIs computed by the report from the per-clip labels)",
        note="A 0 (tie) label agrees only with a neutral intended class (valence3 scheme); the paper's "
        "intended emotions are + or -.",
        conditions=conds,
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
    return acc


def _chord_rules_table(res: RunResults, method: str, mname: str) -> Table | None:
    """chords.json's own agreement figures, for every labelling rule it applied."""
    match = [
        m
        for m in ((res.chords or {}).get("match") or [])
        if isinstance(m, dict) and (not method or m.get("method") == method)
    ]
    if not match:
        return None
    rules = (res.chords or {}).get("label_rules") or {}
    t = Table(
        f"Agreement per labelling rule{mname}",
        ["rule", "condition", "n", "agree", "share", "Wilson CI"],
        [],
        source=_source_note(res, "chords.json"),
        note=" ".join(f"{k}: {v}." for k, v in rules.items() if isinstance(v, str))
        if isinstance(rules, dict)
        else "",
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
    return t


def _chord_class_tables(res: RunResults, method: str, mname: str) -> list[Table]:
    """chords.json's per-class agreement and confusion matrix (its label scheme, the primary label)."""
    from ..tasks.chords import emotion_class_tables

    doc = res.chords if isinstance(res.chords, dict) else {}
    tables = emotion_class_tables(doc, f"Chords{mname}", doc.get("primary_label") or "label", method or None)
    for t in tables:
        t.source = _source_note(res, "chords.json")
    return tables


def _chords_section(res: RunResults) -> Section:
    sec = Section("Chords and emotion (Emotional Circle of Fifths)")
    rows = res.chords_rows or []
    if not rows and res.chords is None:
        sec.blocks.append(_absent(res, ("chords.json", "chords.csv"), "run `s2w-eval chords`"))
        return sec
    src = _source_note(res, "chords.json", "chords.csv")
    methods = list(dict.fromkeys(r.get("method", "") for r in rows)) or [""]
    conds = list(dict.fromkeys(r.get("condition", "") for r in rows))
    for method in methods:
        mrows = [r for r in rows if r.get("method", "") == method]
        mname = f" [{method}]" if method else ""
        if mrows:
            sec.blocks.append(_chord_labels_table(mrows, conds, mname, src))
            sec.blocks.append(_chord_accuracy_table(rows, conds, method, mname, src))
        rules = _chord_rules_table(res, method, mname)
        if rules is not None:
            sec.blocks.append(rules)
        sec.blocks += _chord_class_tables(res, method, mname)
    if len(sec.blocks) == 0:
        sec.blocks.append("Not available: chords.json holds no labels and chords.csv is absent or empty.")
    return sec


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


# ------------------------------------------------------------------------------------------ dist, calibrate


def _dist_section(res: RunResults) -> Section | None:
    """Distribution distances (dist.json); None when the run has none (an optional evaluation)."""
    if res.dist is None:
        return None
    from ..tasks.dist import dist_tables

    sec = Section("Distribution distances to the reference set (KAD, FAD)")
    src = _source_note(res, "dist.json")
    for t in dist_tables(res.dist):
        t.source = src
        sec.blocks.append(t)
    if not sec.blocks:
        sec.blocks.append("Not available: dist.json holds no distances.")
    return sec


def _calibrate_section(res: RunResults) -> tuple[Section | None, list[Figure]]:
    """How far each metric can be trusted on this run's own reference clips (calibrate.json and its figure)."""
    if res.calibrate is None:
        return None, []
    from ..tasks.calibrate import calibration_tables

    sec = Section("Metric calibration on anchors of known severity")
    src = _source_note(res, "calibrate.json")
    for t in calibration_tables(res.calibrate):
        t.source = src
        sec.blocks.append(t)
    figs = []
    name = res.calibrate.get("figure")
    png = res.result_dir / str(name) if isinstance(name, str) and name else None
    if png is not None and png.is_file() and png.resolve().parent == res.result_dir.resolve():
        fig = Figure(
            "calibrate.png",
            "Mean score per anchor of each ladder (scaled to the strongest anchor)",
            png.read_bytes(),
            "A metric that measures the damage rises along every ladder.",
        )
        figs.append(fig)
        sec.blocks.append(fig)
    return sec, figs


# ------------------------------------------------------------------------------------------ survey


def pooled_label(row: dict[str, str]) -> str:
    """How a pooled preferences.csv row (sample "all") is named: by the samples it pools."""
    emotion = str(row.get("emotion", "") or "all")
    return "all samples" if emotion == "all" else f"all {emotion} samples"


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
        conditions=[first, second],
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


def _survey_pair_blocks(first: str, second: str, prow, src: str, level: str) -> list[Table | Figure]:
    per_sample = [r for r in prow if r.get("sample") != "all"]
    pooled = [r for r in prow if r.get("sample") == "all"]
    out: list[Table | Figure] = [
        _pref_table(
            f"{first} vs {second}: preference per sample (paper Figs. 9-10 shape)",
            first,
            second,
            per_sample,
            src,
            level,
        )
    ]
    labels = [r.get("sample", "") for r in per_sample] + [pooled_label(r) for r in pooled]
    png = figures.survey_pair_figure(first, second, per_sample + pooled, labels, level)
    if png:
        out.append(
            Figure(
                f"survey-{safe_stem(first, FIGURE_STEM)}-vs-{safe_stem(second, FIGURE_STEM)}.png",
                f"{first} vs {second}",
                png,
                f"Share of raters preferring {first} (left), no preference (grey), {second} (right), "
                f"per sample and pooled; whiskers: Wilson {level} CI of the share preferring {first}.",
            )
        )
    return out


def _survey_section(res: RunResults) -> tuple[Section, list[Figure]]:
    sec = Section("Listening survey (AB preferences)")
    rows = res.survey_rows or []
    if not rows and "survey/preferences.csv" in res.unusable:
        sec.blocks.append(_absent(res, ("survey/preferences.csv",), ""))
        return sec, []
    if not rows:
        sec.blocks.append(
            "Not available: no survey/preferences.csv in this result folder "
            "(build with `s2w-eval survey build`, then `s2w-eval survey aggregate --out "
            "reports/<run>/survey`)."
        )
        if (res.result_dir / "survey" / "batch.csv").is_file():
            sec.blocks.append(
                "A survey batch is built (survey/batch.csv in the result folder) and awaits answers: "
                "collect them, run `s2w-eval survey aggregate`, then render this report again."
            )
        return sec, []
    data = res.survey or {}
    settings = data.get("settings") if isinstance(data.get("settings"), dict) else {}
    lvl = _num(settings.get("level")) or 0.95
    level = f"{round(100 * lvl):g}%"
    src = _source_note(res, "survey/survey.json", "survey/preferences.csv")
    pairs = list(dict.fromkeys((r.get("first", ""), r.get("second", "")) for r in rows))
    pooled_rows: list[dict[str, str]] = []
    for first, second in pairs:
        prow = [r for r in rows if r.get("first") == first and r.get("second") == second]
        pooled_rows += [r for r in prow if r.get("sample") == "all"]
        sec.blocks.extend(_survey_pair_blocks(first, second, prow, src, level))
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
            conditions=list(dict.fromkeys(c for p in pairs for c in p)),
        )
        for r in pooled_rows:
            _add_preference_row(t, f"{r.get('first')} vs {r.get('second')}", r)
        sec.blocks.append(t)
    sec.blocks.extend(_survey_json_blocks(data, src))
    return sec, [b for b in sec.blocks if isinstance(b, Figure)]


def _bradley_terry_table(bt: dict[str, Any], src: str) -> Table:
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
        conditions=[str(r.get("condition", "")) for r in bt["table"] if isinstance(r, dict)],
    )
    for r in bt["table"]:
        if not isinstance(r, dict):
            continue
        t.rows.append(
            [
                str(r.get("rank", "")),
                str(r.get("condition", "")),
                _f(r.get("score"), 3),
                _ci(r.get("ci_low"), r.get("ci_high"), 3),
                _pct(r.get("strength_share")),
            ]
        )
    if t.rows:
        t.bold.add((0, 1))
    return t


def _survey_json_blocks(data: dict[str, Any], src: str) -> list[Table | str]:
    """Bradley-Terry ranking, inter-rater agreement, raters and notes from survey.json."""
    out: list[Table | str] = []
    bt = data.get("bradley_terry")
    if isinstance(bt, dict) and isinstance(bt.get("table"), list) and bt["table"]:
        out.append(_bradley_terry_table(bt, src))
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
        per_pair = kappa.get("per_pair") if isinstance(kappa.get("per_pair"), dict) else {}
        for name, k in per_pair.items():
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


# ------------------------------------------------------------------------------------------ audio


def _audio_section(res: RunResults, max_samples: int) -> tuple[Section, list[Figure]]:
    """A figure (waveform + spectrogram per condition) for the first `max_samples` samples and an audio
    player for every clip of every sample."""
    sec = Section("Listening: players, waveforms and spectrograms (paper Figs. 7-8 shape)")
    if res.run_dir is None:
        sec.blocks.append(
            "Not available: the run folder with the audio was not found (the result files record "
            "none that exists here); pass the run folder to `s2w-eval report` to draw them."
        )
        return sec, []
    from ..io.runs import load_run

    try:
        run = load_run(res.run_dir)
    except DataError as exc:
        res.problems.append(Problem.from_error(exc))
        sec.blocks.append(f"Not available: {exc.format()}")
        return sec, []
    reference = (res.pam or {}).get("reference") or (res.protocol() or {}).get("reference") or "target"
    conds = sorted(run.conditions, key=lambda c: (c != reference, c))
    if not conds:
        sec.blocks.append(f"Not available: no condition folders in {public_path(run.root)}.")
        return sec, []
    drawn = run.samples[: max(0, max_samples)]
    sec.blocks.append(
        f"Audio read from {public_path(run.root)} (conditions: {', '.join(conds)}); "
        f"{len(drawn)} of {len(run.samples)} samples drawn"
        + (" (--max-figures 0: none)" if max_samples <= 0 else "")
        + "; a player for every clip. Spectrograms share one scale: dB relative to a full-scale sine "
        "(dBFS), so a quiet clip looks dark."
    )
    out_figs = []
    for i, s in enumerate(run.samples):
        clips = [(c, run.clip(c, s.id)) for c in conds]
        png = figures.sample_figure(s.id, s.emotion, clips, res.problems) if i < len(drawn) else None
        if png is not None:
            fig = Figure(
                f"sample-{safe_stem(s.id, FIGURE_STEM)}.png",
                f"{s.id} ({s.emotion})",
                png,
                "Top: waveform; bottom: spectrogram (dBFS, 0-8 kHz, one colour scale for every panel); "
                "one column per condition.",
            )
            out_figs.append(fig)
            sec.blocks.append(fig)
        sec.blocks.append(Audio(f"{s.id} ({s.emotion})", clips))
    return sec, out_figs


# ------------------------------------------------------------------------------------------ provenance


def _provenance_section(results: Sequence[RunResults]) -> Section:
    sec = Section("Provenance")
    t = Table(
        "Result files behind every number above",
        ["run", "file", "sha256", "command", "s2w", "created (UTC)", "protocol", "seeds"],
        [],
        align=["l"] * 8,
    )
    pk: dict[str, Any] = {}
    for res in results:
        for rel, src in res.sources.items():
            prov = src.provenance or {}
            proto = prov.get("protocol") or {}
            t.rows.append(
                [
                    res.name,
                    str(Path(src.path).relative_to(res.result_dir))
                    if Path(src.path).is_relative_to(res.result_dir)
                    else rel,
                    src.sha256[:16],
                    str(prov.get("command", "")),
                    str(prov.get("s2w_version", "")),
                    str(prov.get("created_utc", "")).removesuffix("+00:00"),
                    f"{proto.get('name')} v{proto.get('version')}"
                    if isinstance(proto, dict) and proto
                    else "none",
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
                words = " ".join([_program(argv[0])] + [public_path(a) for a in argv[1:]])
                sec.blocks.append(f"{res.name}/{rel} was written by: {words}")
    return sec
