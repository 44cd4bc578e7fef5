"""Protocols: versioned YAML files that fix how an evaluation is run.

A protocol names the clip duration, sample rate, the conditions compared and the reference among them, the
metrics and their options, the listening-survey design and the seeds. Every result file records the
protocol's name, version and file hash (`Protocol.provenance()`), so two numbers are comparable only when
they came from the same protocol version.

Protocol files live in the repository's `protocols/` folder; a copy ships inside the package
(`s2w_eval/_protocols/`) so that a non-editable install finds them too. The repository's folder wins when
both exist (tests check that the two copies are identical).

    load_protocol("cognimuse-3s")          # by name
    load_protocol("my/protocol.yaml")      # by path
    protocol_for(long=True)                # the paper's 10 s protocol
    validate_protocol_file(path)           # -> list of problems, each naming the file and line
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError
from .features.detect import METHOD_ALIASES as _DETECT_ALIASES
from .features.detect import METHODS as _DETECT_METHODS
from .features.embeddings import EMBEDDINGS
from .metrics.anchors import CALIBRATED_METRICS
from .metrics.dist import METRICS as DIST_METRICS
from .metrics.pam import DPAM_LOADERS
from .metrics.pam import METRIC_NAMES as PAM_METRICS
from .vocab import did_you_mean

REPO_PROTOCOLS = Path(__file__).resolve().parents[1] / "protocols"
PACKAGED_PROTOCOLS = Path(__file__).resolve().parent / "_protocols"
PROTOCOL_3S = "cognimuse-3s"
PROTOCOL_10S = "cognimuse-10s"

# Top-level fields: name -> (required, description).
FIELDS: dict[str, tuple[bool, str]] = {
    "name": (False, "protocol name (defaults to the file name without .yaml)"),
    "version": (True, "version of this protocol file; bump it whenever a number it produces may change"),
    "description": (False, "one paragraph for humans"),
    "duration": (True, "clip duration in seconds (> 0)"),
    "sample_rate": (True, "sample rate of the generated clips in Hz (> 0)"),
    "conditions": (True, "list of condition folder names compared (e.g. target, baseline, scene2wav)"),
    "reference": (False, "the condition the others are compared with (default: target)"),
    "metrics": (False, "metric name -> options (pam, chords, dist, calibrate)"),
    "survey": (False, "listening-survey design (pairs, raters, scenes, ...)"),
    "seeds": (False, "seed name -> integer (selection, generation, bootstrap, survey, ...)"),
    "data": (False, "free-form notes on the data set the protocol applies to (source, split, ...)"),
}

# The names the commands themselves accept (one definition each, in the modules that implement them).
CHORD_METHODS = tuple(_DETECT_METHODS)
CHORD_METHOD_ALIASES = tuple(_DETECT_ALIASES)

# Metric name -> option name -> checker.  A checker returns an error message or None.


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)) and math.isfinite(v)


def _positive_int(v: Any) -> str | None:
    return None if _is_int(v) and v > 0 else f"must be a positive integer, got {v!r}"


def _nonneg_int(v: Any) -> str | None:
    return None if _is_int(v) and v >= 0 else f"must be an integer >= 0, got {v!r}"


def _nonneg_num(v: Any) -> str | None:
    return None if _is_num(v) and v >= 0 else f"must be a number >= 0, got {v!r}"


def _positive_num(v: Any) -> str | None:
    return None if _is_num(v) and v > 0 else f"must be a number > 0, got {v!r}"


def _level(v: Any) -> str | None:
    return None if _is_num(v) and 0 < v < 1 else f"must be a number between 0 and 1, got {v!r}"


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"must be true or false, got {v!r}"


def _str(v: Any) -> str | None:
    return None if isinstance(v, str) and v.strip() else f"must be a non-empty string, got {v!r}"


def _choice(options: tuple[str, ...]):
    def check(v: Any) -> str | None:
        if not isinstance(v, str):
            return f"must be one of {', '.join(options)}, got {v!r}"
        if v not in options:
            return f"unknown value {v!r}{did_you_mean(v, options)}; choose from {', '.join(options)}"
        return None

    return check


def _chord_method(v: Any) -> str | None:
    if not isinstance(v, str) or not v.strip():
        return f"must be a detection method name ({', '.join(CHORD_METHODS)}), got {v!r}"
    base = v.partition("/")[0]
    if base not in CHORD_METHODS + CHORD_METHOD_ALIASES:
        return f"unknown chord method {v!r}{did_you_mean(base, CHORD_METHODS)}; choose from {', '.join(CHORD_METHODS)}"
    return None


def _subset(options: tuple[str, ...]):
    def check(v: Any) -> str | None:
        if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
            return f"must be a non-empty list drawn from {', '.join(options)}, got {v!r}"
        bad = [x for x in v if x not in options]
        if bad:
            return (
                f"unknown metric {bad[0]!r}{did_you_mean(bad[0], options)}; choose from {', '.join(options)}"
            )
        if len(set(v)) != len(v):
            return f"lists a name twice: {v!r}"
        return None

    return check


METRIC_OPTIONS: dict[str, dict[str, Any]] = {
    "pam": {
        "metrics": _subset(PAM_METRICS),
        "dpam_loader": _choice(DPAM_LOADERS),
    },
    "chords": {
        "method": _chord_method,
        "min_note_s": _nonneg_num,
        "weighting": _choice(("set", "duration")),
        "ci_level": _level,
    },
    "dist": {
        "embeddings": _subset(tuple(EMBEDDINGS)),
        "metrics": _subset(DIST_METRICS),
        "resamples": _positive_int,
    },
    "calibrate": {
        "metrics": _subset(CALIBRATED_METRICS),
        "embedding": _choice(tuple(EMBEDDINGS)),
    },
}

SURVEY_OPTIONS: dict[str, Any] = {
    "pairs": None,  # checked against the conditions
    "raters": _positive_int,
    "scenes": None,  # {negative: n, positive: n}
    "allow_no_preference": _bool,
    "attention_checks": _nonneg_int,
    "min_seconds": _nonneg_num,
    "counterbalance": _bool,
    "question": _str,
    "tasks_per_rater": _positive_int,
    "ci_level": _level,
    # what raters read and are paid, and quality control (s2w_eval.survey.design)
    "title": _str,
    "instructions": _str,
    "consent": _str,
    "reward": _nonneg_num,
    "minutes": _positive_num,
    "bonus": _nonneg_num,
    "headphone_trials": _nonneg_int,
    "headphone_pass": _nonneg_int,
    "headphone_tone_seconds": _positive_num,
    "practice": _bool,
    "qualifications": None,  # MTurk QualificationRequirements, passed to CreateHIT as written
}


@dataclass(frozen=True)
class Protocol:
    name: str
    version: str
    description: str
    duration: float
    sample_rate: int
    conditions: list[str]
    reference: str = "target"
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    survey: dict[str, Any] = field(default_factory=dict)
    seeds: dict[str, int] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    sha256: str = ""

    @property
    def samples_per_clip(self) -> int:
        return int(round(self.duration * self.sample_rate))

    @property
    def models(self) -> list[str]:
        """The conditions other than the reference."""
        return [c for c in self.conditions if c != self.reference]

    def metric(self, name: str) -> dict[str, Any]:
        """Options of one metric ({} when the protocol does not use it)."""
        return dict(self.metrics.get(name) or {})

    def seed(self, name: str, default: int = 0) -> int:
        return int(self.seeds.get(name, default))

    def provenance(self) -> dict[str, Any]:
        """What result files record about the protocol (pass to results.provenance(protocol=...))."""
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "path": self.path,
            "duration": self.duration,
            "sample_rate": self.sample_rate,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "duration": self.duration,
            "sample_rate": self.sample_rate,
            "conditions": list(self.conditions),
            "reference": self.reference,
            "metrics": self.metrics,
            "survey": self.survey,
            "seeds": self.seeds,
            "data": self.data,
        }


# ---------------------------------------------------------------------------------------------- loading


def protocol_dirs() -> list[Path]:
    """Folders searched for protocol files by name: the repository's, then the packaged copy."""
    return [d for d in (REPO_PROTOCOLS, PACKAGED_PROTOCOLS) if d.is_dir()]


def list_protocols() -> list[str]:
    """Names of the protocols found in `protocol_dirs()` (sorted, each once)."""
    names: set[str] = set()
    for d in protocol_dirs():
        names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


def find_protocol(name_or_path: str | Path) -> Path:
    """The file a protocol name or path refers to; UsageError (with a suggestion) when there is none."""
    text = str(name_or_path)
    p = Path(text).expanduser()
    looks_like_path = p.suffix.lower() in (".yaml", ".yml") or "/" in text or "\\" in text
    if p.is_file():
        return p
    if looks_like_path:
        raise UsageError(
            "protocol file not found",
            p,
            f"give an existing .yaml file or a protocol name ({', '.join(list_protocols())})",
        )
    for d in protocol_dirs():
        for ext in (".yaml", ".yml"):
            cand = d / f"{text}{ext}"
            if cand.is_file():
                return cand
    names = list_protocols()
    raise UsageError(
        f"unknown protocol {text!r}{did_you_mean(text, names)}",
        fix=f"choose from {', '.join(names) or '(none found)'} or give a path to a .yaml file",
    )


def load_protocol(name_or_path: str | Path) -> Protocol:
    """Load and validate a protocol by name (cognimuse-3s, cognimuse-10s, quickstart) or path.

    Every problem in the file is listed at once, each with its line; any problem is a UsageError (exit 2).
    """
    if isinstance(name_or_path, Protocol):
        return name_or_path
    path = find_protocol(name_or_path)
    protocol, problems = _parse(path)
    if problems:
        raise UsageError(
            f"invalid protocol ({len(problems)} problem(s)):\n  " + "\n  ".join(problems),
            path,
            "see docs/protocols.md for the fields; `s2w-eval protocol validate FILE` checks a file",
        )
    assert protocol is not None
    return protocol


def protocol_for(long: bool = False) -> Protocol:
    """The paper's protocol: cognimuse-10s when `long`, else cognimuse-3s."""
    return load_protocol(PROTOCOL_10S if long else PROTOCOL_3S)


def validate_protocol_file(path: str | Path) -> list[str]:
    """Every problem in one protocol file ('line N: message'); [] when it is valid."""
    path = Path(path)
    if not path.is_file():
        raise UsageError("protocol file not found", path)
    return _parse(path)[1]


# ---------------------------------------------------------------------------------------------- parsing
ALIAS_REFUSED = "YAML aliases (*name) are not allowed in protocol files"


def _loader():
    """yaml.SafeLoader that refuses aliases: a few hundred bytes of nested aliases expand to gigabytes.

    A protocol never needs them (write each value out), so refusing beats bounding the expansion.
    """
    import yaml

    class NoAliasSafeLoader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None, None, f"{ALIAS_REFUSED} (found *{event.anchor})", event.start_mark
                )
            return super().compose_node(parent, index)

    return NoAliasSafeLoader


def _line_map(text: str) -> dict[tuple, int]:
    """Map a key path (tuple of keys / list indices) to its 1-based line in the YAML text."""
    import yaml

    lines: dict[tuple, int] = {}

    def walk(node, prefix: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else str(k)
                lines[prefix + (key,)] = k.start_mark.line + 1
                walk(v, prefix + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                lines[prefix + (i,)] = v.start_mark.line + 1
                walk(v, prefix + (i,))

    try:
        root = yaml.compose(text, Loader=_loader())
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


class _Collector:
    def __init__(self, lines: dict[tuple, int]):
        self.lines = lines
        self.problems: list[str] = []

    def add(self, where: tuple, message: str) -> None:
        line = None
        for n in range(len(where), 0, -1):
            line = self.lines.get(where[:n])
            if line is not None:
                break
        label = ".".join(str(w) for w in where)
        prefix = f"line {line}: " if line is not None else ""
        self.problems.append(f"{prefix}{label + ': ' if label else ''}{message}")


def _check_keys(col: _Collector, where: tuple, mapping: dict, allowed, what: str) -> None:
    for key in mapping:
        if key not in allowed:
            col.add(
                where + (key,),
                f"unknown {what} {key!r}{did_you_mean(str(key), list(allowed))}; known: {', '.join(allowed)}",
            )


def _parse(path: Path) -> tuple[Protocol | None, list[str]]:
    # Long on purpose: one pass over the file that checks every field where it is read, so that every problem
    # is reported at once with its line; split up, the checks would need a shared cursor and collector anyway.
    import yaml

    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"unreadable protocol file ({exc})"]
    try:
        doc = yaml.load(text, Loader=_loader())  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        return None, [f"{where}not valid YAML ({getattr(exc, 'problem', None) or exc})"]
    col = _Collector(_line_map(text))
    if not isinstance(doc, dict):
        return None, ["the file must hold a YAML mapping of fields (name, version, duration, ...)"]

    _check_keys(col, (), doc, FIELDS, "field")
    for key, (required, _) in FIELDS.items():
        if required and key not in doc:
            col.add((), f"missing required field {key!r} ({FIELDS[key][1]})")

    name = doc.get("name", path.stem)
    if "name" in doc and _str(name):
        col.add(("name",), _str(name))
    version = doc.get("version")
    if "version" in doc and not (isinstance(version, str) and version.strip() or _is_num(version)):
        col.add(("version",), f"must be a string or number such as '1.0', got {version!r}")
    description = doc.get("description", "")
    if not isinstance(description, str):
        col.add(("description",), f"must be a string, got {description!r}")
    duration = doc.get("duration")
    if "duration" in doc and _positive_num(duration):
        col.add(("duration",), _positive_num(duration))
    sample_rate = doc.get("sample_rate")
    if "sample_rate" in doc and _positive_int(sample_rate):
        col.add(("sample_rate",), _positive_int(sample_rate))

    conditions = doc.get("conditions")
    cond_ok = (
        isinstance(conditions, list)
        and bool(conditions)
        and all(isinstance(c, str) and c for c in conditions)
    )
    if "conditions" in doc and not cond_ok:
        col.add(("conditions",), f"must be a non-empty list of condition names, got {conditions!r}")
    conds: list[str] = list(conditions) if cond_ok else []
    if cond_ok:
        for i, c in enumerate(conds):
            if conds.index(c) != i:
                col.add(("conditions", i), f"condition {c!r} listed twice")
            elif c in ("scenes",) or "/" in c or c.startswith("."):
                col.add(("conditions", i), f"{c!r} cannot be a condition folder name")
    reference = doc.get("reference", "target")
    if not isinstance(reference, str):
        col.add(("reference",), f"must be a condition name, got {reference!r}")
    elif cond_ok and reference not in conds:
        col.add(
            ("reference",) if "reference" in doc else ("conditions",),
            f"reference {reference!r} is not among the conditions ({', '.join(conds)})"
            f"{did_you_mean(reference, conds)}",
        )

    metrics = doc.get("metrics", {}) if doc.get("metrics") is not None else {}
    if not isinstance(metrics, dict):
        col.add(("metrics",), f"must be a mapping of metric name -> options, got {metrics!r}")
        metrics = {}
    clean_metrics: dict[str, dict[str, Any]] = {}
    for mname, opts in metrics.items():
        where = ("metrics", mname)
        if mname not in METRIC_OPTIONS:
            col.add(
                where,
                f"unknown metric {mname!r}{did_you_mean(str(mname), list(METRIC_OPTIONS))}; "
                f"known: {', '.join(METRIC_OPTIONS)}",
            )
            continue
        if opts is None:
            opts = {}
        if not isinstance(opts, dict):
            col.add(where, f"options must be a mapping, got {opts!r}")
            continue
        checkers = METRIC_OPTIONS[mname]
        _check_keys(col, where, opts, checkers, f"{mname} option")
        for oname, oval in opts.items():
            if oname in checkers:
                msg = checkers[oname](oval)
                if msg:
                    col.add(where + (oname,), msg)
        clean_metrics[mname] = dict(opts)

    survey = doc.get("survey", {}) if doc.get("survey") is not None else {}
    if not isinstance(survey, dict):
        col.add(("survey",), f"must be a mapping, got {survey!r}")
        survey = {}
    _check_keys(col, ("survey",), survey, SURVEY_OPTIONS, "survey field")
    for oname, checker in SURVEY_OPTIONS.items():
        if checker is not None and oname in survey:
            msg = checker(survey[oname])
            if msg:
                col.add(("survey", oname), msg)
    pairs = survey.get("pairs", [])
    if "pairs" in survey:
        if not isinstance(pairs, list) or not pairs:
            col.add(("survey", "pairs"), f"must be a non-empty list of [first, second] pairs, got {pairs!r}")
            pairs = []
        seen_pairs: set[frozenset] = set()
        for i, pair in enumerate(pairs):
            where = ("survey", "pairs", i)
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
                col.add(where, f"a pair must be [first, second] (two condition names), got {pair!r}")
                continue
            for x in pair:
                if cond_ok and x not in conds:
                    col.add(
                        where,
                        f"pair names unknown condition {x!r}{did_you_mean(x, conds)}; "
                        f"conditions: {', '.join(conds)}",
                    )
            if pair[0] == pair[1]:
                col.add(where, f"a pair compares two different conditions, got {pair!r}")
            if frozenset(pair) in seen_pairs:
                col.add(where, f"pair {pair!r} listed twice")
            seen_pairs.add(frozenset(pair))
    if "scenes" in survey:
        scenes = survey["scenes"]
        if not isinstance(scenes, dict) or not scenes:
            col.add(("survey", "scenes"), f"must map emotion -> number of scene sets, got {scenes!r}")
        else:
            _check_keys(col, ("survey", "scenes"), scenes, ("negative", "positive"), "emotion")
            for k, v in scenes.items():
                if k in ("negative", "positive") and _nonneg_int(v):
                    col.add(("survey", "scenes", k), _nonneg_int(v))

    seeds = doc.get("seeds", {}) if doc.get("seeds") is not None else {}
    if not isinstance(seeds, dict):
        col.add(("seeds",), f"must map seed name -> integer, got {seeds!r}")
        seeds = {}
    for k, v in seeds.items():
        if _nonneg_int(v):
            col.add(("seeds", k), _nonneg_int(v))
    data = doc.get("data", {}) if doc.get("data") is not None else {}
    if not isinstance(data, dict):
        col.add(("data",), f"must be a mapping, got {data!r}")
        data = {}

    if col.problems:
        return None, col.problems
    protocol = Protocol(
        name=str(name),
        version=str(version),
        description=str(description).strip(),
        duration=float(duration),
        sample_rate=int(sample_rate),
        conditions=conds,
        reference=reference,
        metrics=clean_metrics,
        survey={k: ([list(p) for p in v] if k == "pairs" else v) for k, v in survey.items()},
        seeds={str(k): int(v) for k, v in seeds.items()},
        data=dict(data),
        path=str(path.resolve()),
        sha256=hashlib.sha256(raw).hexdigest(),
    )
    return protocol, []
