"""Reading a run's result files (pam, chords, survey) for the report; a malformed file is a named Problem.

Only result files are read: the report never re-scores anything. Each file is checked for the shape the
report relies on (the columns of a CSV, the keys of a JSON, numeric distances); what does not fit is a
Problem naming the file and what is wrong, and the part that does not fit is left out, never shown as an
empty section or used to pick a winner.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Problem, UsageError
from ..results import sha256_file
from .tables import num

RESULT_FILES = (
    "pam.json",
    "pam.csv",
    "chords.json",
    "chords.csv",
    "dist.json",
    "calibrate.json",
    "survey/preferences.csv",
    "survey/survey.json",
)
# the columns each CSV must have for its section to be drawn
REQUIRED_COLUMNS = {
    "pam.csv": ("sample", "condition", "metric", "distance"),
    "chords.csv": ("sample", "condition", "label"),
    "survey/preferences.csv": ("first", "second", "sample", "first_share", "second_share"),
}


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
    dist: dict[str, Any] | None = None  # dist.json (distribution distances)
    calibrate: dict[str, Any] | None = None  # calibrate.json (metric calibration on anchors)
    validity: dict[str, dict[str, Any]] = field(default_factory=dict)  # result file -> its "validity" key
    unusable: list[str] = field(default_factory=list)  # result files present but unreadable (see problems)
    sources: dict[str, SourceFile] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.pam,
                self.pam_rows,
                self.chords,
                self.chords_rows,
                self.survey,
                self.survey_rows,
                self.dist,
                self.calibrate,
            )
        )

    def protocol(self) -> dict[str, Any] | None:
        for src in self.sources.values():
            proto = (src.provenance or {}).get("protocol")
            if proto:
                return proto
        return None

    def protocols(self) -> dict[str, str]:
        """{result file: "name version"} of every result file that records a protocol."""
        out = {}
        for rel, src in self.sources.items():
            proto = (src.provenance or {}).get("protocol")
            if isinstance(proto, dict) and proto.get("name"):
                out[rel] = f"{proto.get('name')} {proto.get('version', '')}".strip()
        return out


def protocol_mismatch(results: list[RunResults]) -> str | None:
    """A sentence when the result files read (of one run, or of several) come from different protocols."""
    seen: dict[str, list[str]] = {}
    for res in results:
        for rel, proto in res.protocols().items():
            where = rel if len(results) == 1 else f"{res.name}/{rel}"
            seen.setdefault(proto, []).append(where)
    if len(seen) < 2:
        return None
    listed = "; ".join(f"{proto}: {', '.join(files)}" for proto, files in seen.items())
    return (
        f"Caution: these results come from different protocols ({listed}). Numbers of different protocols "
        "(durations, loaders, methods) are not comparable; rescore under one protocol before comparing."
    )


def _uncsv(value: str | None) -> str:
    """Undo the CSV formula guard exactly (io.csvcells.csv_unguard); a missing cell reads as ""."""
    from ..io.csvcells import csv_unguard

    return "" if value is None else csv_unguard(value)


def _read_csv(path: Path, required: Sequence[str] = ()) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        columns = [(k or "").strip() for k in (reader.fieldnames or [])]
        missing = [c for c in required if c not in columns]
        if missing:
            raise ValueError(
                f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                f"(has: {', '.join(columns) or 'none'})"
            )
        return [{(k or "").strip(): _uncsv(v) for k, v in row.items()} for row in reader]


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
            if kind == "json":
                data = json.loads(path.read_text(encoding="utf-8"))
            else:
                data = _read_csv(path, REQUIRED_COLUMNS.get(rel, ()))
            if kind == "json" and not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError, csv.Error, UnicodeDecodeError) as exc:
            res.problems.append(
                Problem(str(path), f"unreadable result file ({exc}); its section is left out")
            )
            res.unusable.append(rel)
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
    res.dist = read("dist.json", "json")
    res.calibrate = read("calibrate.json", "json")
    # csv files carry no provenance of their own: they share their JSON's
    for csv_rel, json_rel in (
        ("pam.csv", "pam.json"),
        ("chords.csv", "chords.json"),
        ("survey/preferences.csv", "survey/survey.json"),
    ):
        if csv_rel in res.sources and json_rel in res.sources:
            res.sources[csv_rel].provenance = res.sources[json_rel].provenance
    _check_shapes(res)
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


def _shape_problem(res: RunResults, rel: str, what: str, consequence: str) -> None:
    src = res.sources.get(rel)
    res.problems.append(
        Problem(
            str(src.path if src else res.result_dir / rel),
            f"{what}; {consequence}",
            "write it again with the s2w-eval command that makes it",
        )
    )


def _pam_summary_shape_error(summary: Any) -> str | None:
    """Why pam.json's "summary" is not {metric: {"conditions": {condition: {...}}, ...}}, or None."""
    if not isinstance(summary, dict):
        return f'"summary" is a {type(summary).__name__}, not an object of metrics'
    for metric, ms in summary.items():
        if not isinstance(ms, dict):
            return f'"summary"/{metric!r} is a {type(ms).__name__}, not an object'
        conds = ms.get("conditions", {})
        if not isinstance(conds, dict) or not all(isinstance(d, dict) for d in conds.values()):
            return f'"summary"/{metric!r}/"conditions" is not an object of conditions'
        for key, kind in (("pairs", list), ("best_per_sample", dict), ("bootstrap", dict)):
            if key in ms and not isinstance(ms[key], kind):
                return f'"summary"/{metric!r}/{key!r} is a {type(ms[key]).__name__}, not a {kind.__name__}'
    return None


def _validity_shape_error(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return f'"validity" is a {type(doc).__name__}, not an object'
    conds = doc.get("conditions", {})
    if not isinstance(conds, dict) or not all(isinstance(c, dict) for c in conds.values()):
        return '"validity"/"conditions" is not an object of conditions'
    for name, c in conds.items():
        warnings = c.get("warnings", [])
        if not isinstance(warnings, list) or not all(isinstance(w, dict) for w in warnings):
            return f'"validity"/"conditions"/{name!r}/"warnings" is not a list of objects'
    if not isinstance(doc.get("clips", []), list):
        return '"validity"/"clips" is not a list'
    return None


def _check_shapes(res: RunResults) -> None:
    """Named problems for result files whose shape the report cannot use; the bad part is left out."""
    if res.pam is not None and "summary" in res.pam:
        why = _pam_summary_shape_error(res.pam["summary"])
        if why:
            fallback = "recomputed from pam.csv" if res.pam_rows else "left out"
            _shape_problem(res, "pam.json", why, f"the PAM summary is {fallback}")
            del res.pam["summary"]
    if res.pam is not None and not isinstance(res.pam.get("metrics", {}), dict):
        _shape_problem(res, "pam.json", '"metrics" is not an object', "metric descriptions are left out")
        del res.pam["metrics"]
    if res.pam is not None and not isinstance(res.pam.get("reference", ""), str):
        _shape_problem(res, "pam.json", '"reference" is not a text', '"target" is assumed')
        del res.pam["reference"]
    if res.pam_rows:
        bad = [r for r in res.pam_rows if num(r.get("distance")) is None]
        if bad:
            shown = "; ".join(
                f"{r.get('sample')}/{r.get('condition')}/{r.get('metric')}: {r.get('distance')!r}"
                for r in bad[:5]
            )
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            _shape_problem(
                res,
                "pam.csv",
                f"{len(bad)} row{'s' if len(bad) > 1 else ''} without a finite numeric distance ({shown}{more})",
                "they are shown as n/a and take part in no mean, test or winner",
            )
    for rel, attr, inner in (("dist.json", "dist", "conditions"), ("calibrate.json", "calibrate", "ladders")):
        doc = getattr(res, attr)
        if doc is None:
            continue
        summary = doc.get("summary")
        if not isinstance(summary, dict) or not all(
            isinstance(v, dict) and isinstance(v.get(inner), dict) for v in summary.values()
        ):
            _shape_problem(
                res, rel, f'"summary" is not an object of {inner} per entry', "its section is left out"
            )
            setattr(res, attr, None)
    if res.chords is not None and not isinstance(res.chords.get("match", []), list):
        _shape_problem(res, "chords.json", '"match" is not a list', "its agreement table is left out")
        del res.chords["match"]
    for rel, doc in (("pam.json", res.pam), ("chords.json", res.chords)):
        if doc is None or "validity" not in doc:
            continue
        why = _validity_shape_error(doc["validity"])
        if why:
            _shape_problem(res, rel, why, "its validity checks are left out")
        else:
            res.validity[rel] = doc["validity"]


def resolve_inputs(paths: Sequence[str | Path], results_root: str | Path = "reports") -> list[RunResults]:
    """Each path is a result folder (reports/<run>/) or a run folder (holding samples.csv: its results are
    looked up in results_root/<run name>/, its audio is used for the figures)."""
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
