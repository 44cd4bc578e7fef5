"""What the report says before any table: validity warnings per condition, and whether the measures agree.

- `validity_section`: one box per condition with the warnings of the validity checks that pam.json and
  chords.json record under "validity" (near-silent, noise-like, clipping, constant, copies the reference,
  duration mismatch ...), or "no warnings"; a sentence when the result files record no checks at all.
- `add_cautions`: a caution beside every table that marks a winner in bold while one of the conditions it
  compares has validity warnings (a near-silent baseline "wins" nothing).
- `rankings_section`: the order of the conditions under each measure (every PAM metric, chord agreement per
  method, the survey's Bradley-Terry scores), and in words where two measures order them differently.
"""

from __future__ import annotations

import itertools
from typing import Any

from ..errors import Problem
from .loading import RunResults
from .model import Box, Report, Section
from .tables import Table, fmt_float, num


def validity_by_condition(res: RunResults) -> dict[str, dict[str, Any]]:
    """condition -> {"n": clips checked, "warnings": [message], "checks": [check ids], "sources": [file]}."""
    out: dict[str, dict[str, Any]] = {}
    for rel, doc in res.validity.items():
        for cond, c in (doc.get("conditions") or {}).items():
            entry = out.setdefault(str(cond), {"n": None, "warnings": [], "checks": [], "sources": []})
            if entry["n"] is None and c.get("n") is not None:
                entry["n"] = c.get("n")
            entry["sources"].append(rel)
            for w in c.get("warnings") or []:
                check = str(w.get("check", "warning"))
                msg = str(w.get("message") or f"{w.get('count', '?')} clips: {check}")
                if msg not in entry["warnings"]:
                    entry["warnings"].append(msg)
                if check not in entry["checks"]:
                    entry["checks"].append(check)
    return out


def _threshold(v: Any) -> str:
    """A threshold as written by the checks ({"value": -45.0, "unit": "dBFS"}) or a bare value."""
    if isinstance(v, dict) and "value" in v:
        return f"{v['value']} {v.get('unit', '')}".strip()
    return str(v)


def validity_section(res: RunResults) -> Section:
    sec = Section("Validity checks")
    by_cond = validity_by_condition(res)
    if not res.validity:
        sec.blocks.append(
            "No validity checks are recorded in the result files (pam.json / chords.json without a "
            '"validity" key): silent, noise-like or copied outputs are not flagged in this report.'
        )
        return sec
    thresholds = {}
    for doc in res.validity.values():
        if isinstance(doc.get("thresholds"), dict):
            thresholds.update(doc["thresholds"])
    for cond, entry in by_cond.items():
        n = f" ({entry['n']} clips)" if entry["n"] is not None else ""
        if entry["warnings"]:
            sec.blocks.append(Box(f"{cond}{n}", list(entry["warnings"]), "warn"))
        else:
            sec.blocks.append(Box(f"{cond}{n}", ["no warnings"], "ok"))
    sources = ", ".join(res.validity)
    text = f"Checked on every clip before scoring; recorded in {sources}."
    if thresholds:
        text += " Thresholds: " + "; ".join(f"{k} = {_threshold(v)}" for k, v in thresholds.items()) + "."
    sec.blocks.append(text)
    return sec


def add_cautions(report: Report, res: RunResults) -> None:
    """A caution on every table with a winner in bold that compares a condition with validity warnings."""
    warned = {c: e["checks"] for c, e in validity_by_condition(res).items() if e["warnings"]}
    if not warned:
        return
    for t in report.tables():
        if not t.bold:
            continue
        hit = [c for c in t.conditions if c in warned]
        if not hit:
            continue
        what = "; ".join(f"{c}: {', '.join(warned[c]).replace('_', ' ')}" for c in hit)
        t.caution = (
            f"{' and '.join(hit)} {'has' if len(hit) == 1 else 'have'} validity warnings ({what}): a "
            "winner in bold here may reflect a broken output rather than a better model (see Validity "
            "checks)."
        )


# ------------------------------------------------------------------------------------------ rankings


def measures(
    res: RunResults, pam_summary: dict[str, Any], chord_accuracy
) -> dict[str, list[tuple[str, float]]]:
    """measure name -> [(condition, value)] ordered best first (ties keep the result file's order)."""
    out: dict[str, list[tuple[str, float]]] = {}
    for metric, ms in pam_summary.items():
        vals = [(c, num(d.get("mean"))) for c, d in (ms.get("conditions") or {}).items()]
        vals = [(c, v) for c, v in vals if v is not None]
        if len(vals) > 1:
            out[f"PAM {metric} (mean distance, lower is closer)"] = sorted(vals, key=lambda cv: cv[1])
    for key, d in ((res.dist or {}).get("summary") or {}).items():
        vals = [(c, num(v.get("value"))) for c, v in (d.get("conditions") or {}).items()]
        vals = [(c, v) for c, v in vals if v is not None]
        if len(vals) > 1:
            out[f"{key} (set distance, lower is closer)"] = sorted(vals, key=lambda cv: cv[1])
    rows = res.chords_rows or []
    for method in dict.fromkeys(r.get("method", "") for r in rows):
        conds = list(dict.fromkeys(r.get("condition", "") for r in rows if r.get("method", "") == method))
        vals = [(c, num(chord_accuracy(rows, c, method)["accuracy"])) for c in conds]
        vals = [(c, v) for c, v in vals if v is not None]
        if len(vals) > 1:
            name = "chord agreement with the intended emotion" + (f" [{method}]" if method else "")
            out[name] = sorted(vals, key=lambda cv: -cv[1])
    bt = (res.survey or {}).get("bradley_terry")
    if isinstance(bt, dict) and isinstance(bt.get("table"), list):
        vals = [
            (str(r.get("condition", "")), num(r.get("score"))) for r in bt["table"] if isinstance(r, dict)
        ]
        vals = [(c, v) for c, v in vals if v is not None]
        if len(vals) > 1:
            out["survey preference (Bradley-Terry score)"] = sorted(vals, key=lambda cv: -cv[1])
    return out


def _order(ranked: list[tuple[str, float]], keep: set[str]) -> str:
    """'a > b = c' over the conditions in keep (best first; '=' for equal values)."""
    sel = [(c, v) for c, v in ranked if c in keep]
    text = sel[0][0]
    for (_, prev), (c, v) in zip(sel, sel[1:]):
        text += (" = " if v == prev else " > ") + c
    return text


def _disagreements(
    a: list[tuple[str, float]], b: list[tuple[str, float]], better_a, better_b
) -> list[tuple[str, str]]:
    va, vb = dict(a), dict(b)
    common = [c for c, _ in a if c in vb]
    out = []
    for x, y in itertools.combinations(common, 2):
        if (
            better_a(va[x], va[y])
            and better_b(vb[y], vb[x])
            or better_a(va[y], va[x])
            and better_b(vb[x], vb[y])
        ):
            out.append((x, y))
    return out


def rankings_section(res: RunResults, pam_summary: dict[str, Any], chord_accuracy) -> Section | None:
    """None when fewer than one measure ranks two conditions."""
    ms = measures(res, pam_summary, chord_accuracy)
    if not ms:
        return None
    sec = Section("Rankings: do the measures agree?")
    lower = {name for name in ms if "lower is closer" in name}  # PAM and set distances

    def better(name):
        return (lambda u, v: u < v) if name in lower else (lambda u, v: u > v)

    for name, ranked in ms.items():
        sec.blocks.append(f"{name}: {_order(ranked, {c for c, _ in ranked})} (best first).")
    compared = disagree = 0
    for (na, ra), (nb, rb) in itertools.combinations(ms.items(), 2):
        common = {c for c, _ in ra} & {c for c, _ in rb}
        if len(common) < 2:
            continue
        compared += 1
        pairs = _disagreements(ra, rb, better(na), better(nb))
        if pairs:
            disagree += 1
            sec.blocks.append(
                f"The measures disagree: {na} ranks {_order(ra, common)}, but {nb} ranks {_order(rb, common)} "
                f"(on {', '.join(f'{x} vs {y}' for x, y in pairs)})."
            )
    if disagree:
        sec.blocks.append(
            f"{disagree} of {compared} pairs of measures disagree: say which measure whenever a condition is "
            "called better."
        )
    if compared and not disagree:
        sec.blocks.append(
            f"All {len(ms)} measures order the conditions they share the same way (no two of them disagree "
            "on any pair; ties count as no disagreement)."
        )
    elif not compared:
        sec.blocks.append("No two measures rank two or more common conditions: nothing to compare.")
    return sec


#: the measures of a diagnostics.json (written by `s2w-models diagnose`) shown in the report, with their meaning
_DIAGNOSTIC_MEASURES = (
    ("nll_true_bits", "NLL with each clip's own condition (bits/sample)"),
    ("nll_shuffled_bits", "NLL with another clip's condition (bits/sample)"),
    ("nll_gap_bits", "shuffled - true: what the scene is worth (bits/sample)"),
    ("kl_opposite_nats", "KL between outputs for opposite-emotion scenes, same audio (nats/sample)"),
    ("kl_same_nats", "KL between outputs for same-emotion scenes, same audio (nats/sample)"),
    ("l1_true", "L1 with each clip's own embedding"),
    ("l1_shuffled", "L1 with another clip's embedding"),
    ("l1_gap", "shuffled - true"),
    ("output_rms", "RMS of the generated audio"),
)


def diagnostics_section(res: RunResults) -> Section | None:
    """How much the run's model uses the scene, from <run>/diagnostics.json when the run has one."""
    import json

    if res.run_dir is None or not (res.run_dir / "diagnostics.json").is_file():
        return None
    path = res.run_dir / "diagnostics.json"
    sec = Section("Conditioning diagnostics")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        res.problems.append(Problem(str(path), f"unreadable diagnostics ({exc}); not shown"))
        return None
    docs = data if isinstance(data, list) else [data]
    for d in docs:
        if not isinstance(d, dict):
            res.problems.append(Problem(str(path), "diagnostics of the wrong shape; not shown"))
            return None
        what = f"{d.get('model', '?')} ({d.get('preset', '?')} preset), {d.get('clips', '?')} clips of split {d.get('split', '?')}"
        sec.blocks.append(f"{what}: {d.get('verdict', 'no verdict recorded')}.")
        rows = [
            [label, fmt_float(d[key], 4)] for key, label in _DIAGNOSTIC_MEASURES if d.get(key) is not None
        ]
        if rows:
            sec.blocks.append(Table("Conditioning diagnostics", ["measure", "value"], rows, source=path.name))
        for note in d.get("notes") or []:
            sec.blocks.append(str(note))
    return sec
