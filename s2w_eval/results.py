"""Result files: atomic writes, provenance, and resumable per-item rows.

Every result file s2w writes goes through `atomic_write_*` (temp file in the same folder, fsync, rename), so
an interrupted command never leaves a half-written file. Long jobs commit one row per finished item to a
journal (`ItemJournal`); a rerun with the same arguments skips the rows whose key is already there.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .io.csvcells import FORMULA_PREFIXES, GUARD, csv_safe, csv_unguard  # noqa: F401 - re-exported
from .io.files import atomic_write_bytes, atomic_write_text, sha256_file  # noqa: F401 - re-exported
from .versions import package_versions

#: the version of the layout of every result JSON s2w writes (recorded as `schema_version` in each)
SCHEMA_VERSION = 1


# Every JSON document with a "provenance" key gets SCHEMA_VERSION as its first key when written (see
# atomic_write_json); raise it when a key is renamed or removed or changes meaning.
RESULT_KINDS = (
    "pam",
    "chords",
    "dist",
    "calibrate",
    "survey",
    "report",
)  # each has s2w_eval/schemas/<kind>.json


def _json_default(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(obj: Any) -> str:
    return json.dumps(_finite(obj), indent=2, sort_keys=False, default=_json_default, allow_nan=False) + "\n"


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write `obj` as strict JSON (NaN/inf as null). A result document (an object with "provenance") is
    stamped with "schema_version" first, so that no writer can forget it."""
    if isinstance(obj, Mapping) and "provenance" in obj and "schema_version" not in obj:
        obj = {"schema_version": SCHEMA_VERSION, **obj}
    return atomic_write_text(path, to_json(_finite(obj)))


def result_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of a result file kind (RESULT_KINDS), shipped in the package."""
    from importlib import resources

    if kind not in RESULT_KINDS:
        raise ValueError(f"unknown result kind {kind!r}; one of {', '.join(RESULT_KINDS)}")
    return json.loads((resources.files("s2w_eval") / "schemas" / f"{kind}.json").read_text(encoding="utf-8"))


def validate_result(doc: Any, kind: str, path: str | Path | None = None) -> None:
    """Check a result document against its JSON Schema; DataError naming the first wrong key otherwise.

    Uses the `jsonschema` package when installed (the [test] extra installs it). Without it only the
    top-level keys the schema requires and their types are checked: a partial check, stated here, rather
    than a new hard dependency for a check most users never run.
    """
    from .errors import DataError

    schema = result_schema(kind)
    fix = f"write it again with the s2w version that reads schema_version {SCHEMA_VERSION}"
    try:
        import jsonschema
    except ImportError:
        jsonschema = None
    if jsonschema is not None:
        validator = jsonschema.Draft202012Validator(schema)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        if errors:
            err = errors[0]
            where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise DataError(f"not a valid {kind} result file: at {where}: {err.message}{more}", path, fix)
        return
    if not isinstance(doc, dict):
        raise DataError(f"not a valid {kind} result file: not a JSON object", path, fix)
    types = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float)}
    for key in schema.get("required", []):
        if key not in doc:
            raise DataError(f"not a valid {kind} result file: missing key {key!r}", path, fix)
        want = (schema.get("properties", {}).get(key) or {}).get("type")
        if isinstance(want, str) and want in types and not isinstance(doc[key], types[want]):
            raise DataError(f"not a valid {kind} result file: {key!r} is not of type {want}", path, fix)


def _finite(obj: Any) -> Any:
    """Replace NaN/inf by None so that the JSON is strict (a NaN is 'no value', never a number)."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, Mapping):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    try:
        import numpy as np

        if isinstance(obj, np.floating):
            return _finite(float(obj))
    except ImportError:  # pragma: no cover
        pass
    return obj


def rows_to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    if columns is None:
        columns = []
        for row in rows:
            for key in row:
                if key not in columns:
                    columns.append(key)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_cell(row.get(k)) for k in columns})
    return buf.getvalue()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:
            return ""
        return repr(value) if abs(value) >= 1e-4 or value == 0 else f"{value:.6e}"
    if isinstance(value, str):
        # A negative number written as text stays a number; everything else that looks like a formula is quoted.
        try:
            float(value)
            return value
        except ValueError:
            return csv_safe(value)
    return value


def atomic_write_csv(
    path: str | Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None
) -> Path:
    return atomic_write_text(path, rows_to_csv(rows, columns))


def provenance(
    *,
    command: str,
    seeds: Mapping[str, int] | None = None,
    protocol: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What every result file records: who made it, when, with what, from what."""
    prov: dict[str, Any] = {
        "s2w_version": __version__,
        "command": command,
        "argv": list(sys.argv),
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "seeds": dict(seeds or {}),
        "protocol": dict(protocol) if protocol else None,
    }
    if extra:
        prov.update(extra)
    return prov


class ItemJournal:
    """Append-only JSON-lines journal of finished items, for resumable jobs.

    Each finished item is one line, flushed and fsynced before the next item starts, so a kill loses at most
    the item in flight. A torn last line (killed mid-write) is ignored on reload. Rows are keyed by `key`; a
    row whose key is present is not recomputed. Keys include the inputs' content hashes, so a changed input
    gets a new key and is rescored.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # torn write from an interrupted run
                    if isinstance(rec, dict) and "key" in rec and "row" in rec:
                        self.rows[rec["key"]] = rec["row"]
        self._fh = None

    def __contains__(self, key: str) -> bool:
        return key in self.rows

    def get(self, key: str) -> dict[str, Any] | None:
        return self.rows.get(key)

    def add(self, key: str, row: Mapping[str, Any]) -> None:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._fh.write(json.dumps({"key": key, "row": _finite(dict(row))}, default=_json_default) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.rows[key] = dict(row)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> ItemJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
