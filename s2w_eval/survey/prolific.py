"""Prolific: a static study site built from a survey, and its data read back for `survey aggregate`.

Prolific recruits and pays; it does not host task pages or store answers. So:
- `write_study` writes `prolific/` for static https hosting beside `media/`: `index.html` (the study URL
  given to Prolific, with `?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}`)
  sends each participant to one task page, chosen from SESSION_ID (a seeded hash, so a reload keeps the
  task); each task page is layout.html with that task's values, in a form that POSTs the answers with
  PROLIFIC_PID, STUDY_ID, SESSION_ID, task_id and batch to the researcher's collection endpoint
  (`--submit-url`, https), then redirects to Prolific's completion URL with the study's completion code.
- `read_prolific` turns the collected responses CSV (one row per submission, the form's field names as
  columns) plus Prolific's own export ("Download demographic data": `Participant id`, `Submission id`,
  `Status`, `Time taken`, ...) into the results table `survey aggregate` validates: WorkerId = PROLIFIC_PID,
  AssignmentId = SESSION_ID, AssignmentStatus from the export (AWAITING REVIEW -> Submitted, APPROVED ->
  Approved, REJECTED -> Rejected; RETURNED and TIMED-OUT submissions are not counted),
  WorkTimeInSeconds = the export's `Time taken`.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
from pathlib import Path

from ..errors import DataError, UsageError
from ..results import atomic_write_text
from .build import check_base_url
from .page import fill_template
from .preview import read_batch

COMPLETE_URL = "https://app.prolific.com/submissions/complete?cc="
PARAMS = ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID")
RESPONSE_COLUMNS = ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "task_id")
EXPORT_COLUMNS = ("Participant id", "Status")
STATUS = {"AWAITING REVIEW": "Submitted", "APPROVED": "Approved", "REJECTED": "Rejected"}
NOT_COUNTED = ("RETURNED", "TIMED-OUT", "TIMED OUT", "SCREENED OUT", "ACTIVE")
MTURK_MARKERS = ("AssignmentId", "HITId", "Turkle.Username")

_TASK_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body {{ margin: 0; padding: 1rem; }}
#submitButton {{ display: block; width: 100%; max-width: 48rem; margin: 1rem auto; padding: 0.6rem;
  border-radius: 6px; background: #0b5cad; color: #fff; border: none; font-size: 1.15rem; }}</style>
</head>
<body>
<form id="mturk_form" method="post" action="{submit_url}">
{hidden}
{layout}
<input type="submit" id="submitButton" value="Submit and return to Prolific">
</form>
<script>
(function () {{
  "use strict";
  var params = new URLSearchParams(window.location.search);
  ["PROLIFIC_PID", "STUDY_ID", "SESSION_ID"].forEach(function (k) {{
    document.querySelector("input[name=" + k + "]").value = params.get(k) || "";
  }});
  var form = document.getElementById("mturk_form");
  // runs after the layout's own check (which stops an incomplete submit first)
  form.addEventListener("submit", function (ev) {{
    ev.preventDefault();
    var button = document.getElementById("submitButton");
    button.disabled = true;
    fetch(form.action, {{ method: "POST", body: new URLSearchParams(new FormData(form)) }})
      .then(function (r) {{
        if (!r.ok) {{ throw new Error("HTTP " + r.status); }}
        window.location.href = {complete};
      }})
      .catch(function (e) {{
        button.disabled = false;
        document.getElementById("s2w-message").textContent =
          "Your answers could not be saved (" + e.message + "); please try again.";
      }});
  }});
}})();
</script>
</body>
</html>
"""

_INDEX = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><p id="msg">Loading your task...</p>
<script>
(function () {{
  "use strict";
  var pages = {pages};
  var params = new URLSearchParams(window.location.search);
  var id = params.get("SESSION_ID") || params.get("PROLIFIC_PID") || "";
  if (!id) {{ document.getElementById("msg").textContent = "Please open this study from Prolific."; return; }}
  var h = 2166136261;  // FNV-1a: the same participant session always gets the same task
  for (var i = 0; i < id.length; i++) {{ h ^= id.charCodeAt(i); h = Math.imul(h, 16777619) >>> 0; }}
  window.location.replace(pages[h % pages.length] + window.location.search);
}})();
</script></body></html>
"""


def write_study(
    survey_dir: str | Path, completion_code: str, submit_url: str, out: str | Path | None = None
) -> list[Path]:
    survey_dir = Path(survey_dir)
    manifest = json.loads((survey_dir / "manifest.json").read_text(encoding="utf-8"))
    if not completion_code.strip() or not completion_code.strip().isalnum():
        raise UsageError(
            f"completion code {completion_code!r} must be letters and digits (Prolific's code)", param="code"
        )
    if not submit_url.lower().startswith("https://") and not submit_url.startswith("http://127.0.0.1"):
        raise UsageError(
            f"{submit_url!r} must be https (the study page is served over https)",
            fix="give the https address of the endpoint that stores the posted answers",
            param="submit_url",
        )
    check_base_url(submit_url)  # the same rules: no character may leave an HTML attribute
    if not manifest.get("base_url"):
        raise UsageError(
            "this survey was built without a base URL; Prolific participants could not load the media",
            survey_dir,
            "rebuild the survey with the https address where media/ (and prolific/) will be hosted",
        )
    out_dir = Path(out) if out is not None else survey_dir / "prolific"
    _, rows = read_batch(survey_dir)
    layout = (survey_dir / "layout.html").read_text(encoding="utf-8")
    title = html.escape(manifest["design"].get("title") or "Listening test")
    complete = json.dumps(COMPLETE_URL + completion_code.strip())
    files = []
    names = []
    for row in rows:
        values = {k: (v or "") for k, v in row.items() if k is not None}
        hidden = "\n".join(
            [f'<input type="hidden" name="{p}" value="">' for p in PARAMS]
            + [
                f'<input type="hidden" name="{k}" value="{html.escape(values[k], quote=True)}">'
                for k in ("task_id", "batch")
            ]
        )
        page = _TASK_PAGE.format(
            title=title,
            submit_url=html.escape(submit_url, quote=True),
            hidden=hidden,
            layout=fill_template(layout, values, str(survey_dir / "layout.html")),
            complete=complete,
        )
        name = f"{hashlib.sha256((manifest.get('batch_id', '') + values['task_id']).encode()).hexdigest()[:12]}.html"
        files.append(atomic_write_text(out_dir / name, page))
        names.append(name)
    files.append(
        atomic_write_text(out_dir / "index.html", _INDEX.format(title=title, pages=json.dumps(names)))
    )
    return files


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            return [h.strip() for h in reader.fieldnames or []], list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"unreadable CSV ({exc})", path) from exc


def _seconds(text: str) -> str:
    try:
        return str(int(float(text)))
    except ValueError:
        return ""


def read_prolific(
    responses: str | Path, export: str | Path | None
) -> tuple[list[str], list[tuple[int, list[str]]], list[str]]:
    """(header, rows, notes) in the results-table shape aggregate validates, from Prolific data."""
    responses = Path(responses)
    header, rows = _read(responses)
    if any(m in header for m in MTURK_MARKERS):
        raise DataError(
            "this is an MTurk/Turkle results file, not collected Prolific responses",
            responses,
            "aggregate it as MTurk results, or pass the responses your endpoint collected",
        )
    if set(EXPORT_COLUMNS) <= set(header):
        raise DataError(
            "this is Prolific's export (participants), not the collected responses",
            responses,
            "pass the collected responses as the results and this file as the Prolific export",
        )
    missing = [c for c in RESPONSE_COLUMNS if c not in header]
    if missing:
        raise DataError(
            f"not Prolific responses of an s2w study page: missing {', '.join(missing)}", responses
        )
    status: dict[str, dict[str, str]] = {}
    notes: list[str] = []
    if export is not None:
        export = Path(export)
        eh, erows = _read(export)
        if any(m in eh for m in MTURK_MARKERS):
            raise DataError(
                "the Prolific export given is an MTurk/Turkle results file", export, "pass Prolific's export"
            )
        miss = [c for c in EXPORT_COLUMNS if c not in eh]
        if miss:
            raise DataError(f"not a Prolific export: missing {', '.join(miss)}", export)
        for r in erows:
            status[r["Participant id"].strip()] = r
    else:
        notes.append("no Prolific export given: every response counted as awaiting review, no work time")
    skip = set(RESPONSE_COLUMNS) | {"batch"}
    answer_cols = [h for h in header if h not in skip]
    out_header = [
        "HITId",
        "AssignmentId",
        "WorkerId",
        "AssignmentStatus",
        "WorkTimeInSeconds",
        "Input.task_id",
    ]
    out_header += (["Input.batch"] if "batch" in header else []) + [f"Answer.{h}" for h in answer_cols]
    out: list[tuple[int, list[str]]] = []
    dropped = 0
    for n, r in enumerate(rows, start=2):
        pid = (r.get("PROLIFIC_PID") or "").strip()
        e = status.get(pid)
        if export is not None and e is None:
            notes.append(f"row {n}: participant {pid!r} is not in the Prolific export (not counted)")
            dropped += 1
            continue
        st = (e or {}).get("Status", "AWAITING REVIEW").strip().upper()
        if st in NOT_COUNTED:
            notes.append(f"row {n}: participant {pid!r} is {st} on Prolific (not counted)")
            dropped += 1
            continue
        cells = [
            r.get("STUDY_ID") or "",
            r.get("SESSION_ID") or "",
            pid,
            STATUS.get(st, st.title()),
            _seconds((e or {}).get("Time taken", "")) if e else "",
            r.get("task_id") or "",
        ]
        if "batch" in header:
            cells.append(r.get("batch") or "")
        cells += [r.get(h) or "" for h in answer_cols]
        out.append((n, cells))
    return out_header, out, notes
