"""Mechanical Turk through its API (boto3, the optional extra `[mturk]`): publish, fetch, review.

- publish: one HIT per batch.csv row, its Question an HTMLQuestion holding hit.html with that row's values
  (the same page the Requester UI would build from layout.html). Idempotent: each HIT carries a
  UniqueRequestToken (batch id + task id) and the HITs made so far are recorded in `published.csv`, so a
  publish that stopped half-way is simply run again.
- fetch: every assignment of the published HITs, written in the Requester UI's "Download CSV" format
  (HITId, ..., AssignmentStatus, WorkTimeInSeconds, Input.<batch column>, Answer.<field>, Approve, Reject),
  which `survey aggregate` reads.
- review: approve/reject what approvals.csv says (Submitted assignments only), pay bonuses.csv, block the
  workers of blocklist.csv; each call's outcome goes to `review_log.csv`, and a rerun skips what is done.

The sandbox (workersandbox.mturk.com, no money) is the default everywhere; the live site must be asked for.
"""

from __future__ import annotations

import csv
import datetime as _dt
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ..errors import DataError, Problem, UsageError
from ..results import atomic_write_csv
from .keyfile import unneutralise
from .page import html_question, row_page
from .preview import read_batch

SANDBOX_ENDPOINT = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
LIVE_ENDPOINT = "https://mturk-requester.us-east-1.amazonaws.com"
WORKER_SITE = {True: "https://workersandbox.mturk.com", False: "https://worker.mturk.com"}
APPROVAL_RATE = "000000000000000000L0"  # MTurk's system qualification: PercentAssignmentsApproved
LOCALE = "00000000000000000071"  # MTurk's system qualification: Worker_Locale
PUBLISHED_COLUMNS = ("task_id", "batch", "HITId", "HITTypeId", "sandbox", "CreationTime")
RESULT_HEAD = (
    "HITId",
    "HITTypeId",
    "Title",
    "Reward",
    "AssignmentId",
    "WorkerId",
    "AssignmentStatus",
    "AcceptTime",
    "SubmitTime",
    "WorkTimeInSeconds",
)
LOG_COLUMNS = ("action", "target", "status", "message")
_QFA = "{http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd}"


def make_client(sandbox: bool = True, region: str = "us-east-1"):
    """A boto3 MTurk client for the sandbox or the live site (credentials as boto3 finds them)."""
    try:
        import boto3
    except ImportError as exc:
        raise UsageError(
            "the MTurk commands need boto3", fix="pip install 's2w[mturk]' (or pip install boto3)"
        ) from exc
    return boto3.client(
        "mturk", region_name=region, endpoint_url=SANDBOX_ENDPOINT if sandbox else LIVE_ENDPOINT
    )


def _manifest(survey_dir: Path) -> dict[str, Any]:
    import json

    path = survey_dir / "manifest.json"
    if not path.is_file():
        raise UsageError("no manifest.json here", survey_dir, "run `s2w-eval survey build` first")
    return json.loads(path.read_text(encoding="utf-8"))


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return [{k: unneutralise(v or "") for k, v in r.items() if k is not None} for r in csv.DictReader(fh)]


def hit_settings(manifest: dict[str, Any], **over: Any) -> dict[str, Any]:
    """CreateHIT's fields from the build's design (reward, minutes, title), overridden by `over`."""
    d = manifest["design"]
    minutes = float(over.pop("minutes", None) or d.get("minutes", 5.0))
    out = {
        "Title": d.get("title") or "Listening test",
        "Description": "Listen to pairs of short clips (headphones required) and say which you prefer.",
        "Keywords": "audio, music, listening, headphones, survey",
        "Reward": f"{float(over.pop('reward', None) or d.get('reward', '0.50')):.2f}",
        "MaxAssignments": int(over.pop("assignments", None) or d.get("raters", 20)),
        "LifetimeInSeconds": int(float(over.pop("lifetime_hours", None) or 72) * 3600),
        # three times the stated duration: a slow but honest rater is not cut off
        "AssignmentDurationInSeconds": int(max(60.0, 3 * minutes * 60)),
        "AutoApprovalDelayInSeconds": int(float(over.pop("auto_approve_hours", None) or 72) * 3600),
    }
    quals = list(d.get("qualifications") or [])
    rate = over.pop("min_approval", None)
    if rate is not None:
        quals.append(
            {
                "QualificationTypeId": APPROVAL_RATE,
                "Comparator": "GreaterThanOrEqualTo",
                "IntegerValues": [int(rate)],
                "ActionsGuarded": "DiscoverPreviewAndAccept",
            }
        )
    locales = over.pop("locales", None)
    if locales:
        quals.append(
            {
                "QualificationTypeId": LOCALE,
                "Comparator": "In",
                "LocaleValues": [{"Country": c.strip().upper()} for c in locales],
                "ActionsGuarded": "DiscoverPreviewAndAccept",
            }
        )
    if quals:
        out["QualificationRequirements"] = quals
    if over:
        raise UsageError(f"unknown HIT setting(s): {', '.join(sorted(over))}")
    return out


def publish(survey_dir: str | Path, client, *, sandbox: bool = True, **settings: Any) -> dict[str, Any]:
    """Create one HIT per batch row not yet in published.csv; returns counts, problems and the worker URL."""
    survey_dir = Path(survey_dir)
    manifest = _manifest(survey_dir)
    if not manifest.get("base_url"):
        raise UsageError(
            "this survey was built without a base URL: its media URLs are relative and a marketplace page "
            "cannot load them",
            survey_dir,
            "host media/ over https and rebuild the survey with that address as its base URL",
        )
    batch_id = manifest.get("batch_id") or ""
    _, rows = read_batch(survey_dir)
    page = (survey_dir / "hit.html").read_text(encoding="utf-8")
    fields = hit_settings(manifest, **settings)
    published_path = survey_dir / "published.csv"
    done = _read_csv(published_path)
    have = {r["task_id"] for r in done if r.get("batch") == batch_id and r.get("sandbox") == str(sandbox)}
    problems: list[Problem] = []
    made = 0
    hit_type = next((r["HITTypeId"] for r in done if r["task_id"] in have), "")
    for row in rows:
        task = row["task_id"]
        if task in have:
            continue
        question = html_question(row_page(page, row, str(survey_dir / "hit.html")))
        try:
            resp = client.create_hit(
                **fields,
                Question=question,
                RequesterAnnotation=f"{batch_id}:{task}",
                UniqueRequestToken=f"{batch_id}-{task}"[:64],
            )
        except Exception as exc:  # botocore ClientError and friends: named, the rest goes on
            problems.append(Problem(str(survey_dir / "batch.csv"), f"task {task}: CreateHIT failed ({exc})"))
            continue
        hit = resp["HIT"]
        hit_type = hit.get("HITTypeId", hit_type)
        created = hit.get("CreationTime")
        done.append(
            {
                "task_id": task,
                "batch": batch_id,
                "HITId": hit["HITId"],
                "HITTypeId": hit.get("HITTypeId", ""),
                "sandbox": str(sandbox),
                "CreationTime": created.isoformat() if hasattr(created, "isoformat") else str(created or ""),
            }
        )
        made += 1
        atomic_write_csv(published_path, done, PUBLISHED_COLUMNS)  # after every HIT: a rerun resumes
    if not published_path.exists():
        atomic_write_csv(published_path, done, PUBLISHED_COLUMNS)
    return {
        "created": made,
        "already": len(have),
        "tasks": len(rows),
        "problems": problems,
        "settings": fields,
        "worker_url": f"{WORKER_SITE[sandbox]}/projects/{hit_type}/tasks" if hit_type else None,
        "file": published_path,
    }


def parse_answer(xml_text: str) -> dict[str, str]:
    """MTurk's QuestionFormAnswers XML -> {field: value} (several values of one field joined by '|')."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise DataError(f"unreadable answer XML ({exc})") from exc
    out: dict[str, str] = {}
    for ans in root.iter(f"{_QFA}Answer"):
        qid = ans.findtext(f"{_QFA}QuestionIdentifier") or ""
        value = ans.findtext(f"{_QFA}FreeText")
        if value is None:
            value = "|".join(s.text or "" for s in ans.iter(f"{_QFA}SelectionIdentifier"))
        out[qid] = value if qid not in out else out[qid] + "|" + value
    return out


def _time(t: Any) -> str:
    return t.isoformat() if isinstance(t, _dt.datetime) else str(t or "")


def fetch(survey_dir: str | Path, client, out: str | Path | None = None) -> tuple[Path, int, list[Problem]]:
    """Every assignment of the HITs in published.csv, as the Requester UI's results CSV."""
    survey_dir = Path(survey_dir)
    manifest = _manifest(survey_dir)
    published = _read_csv(survey_dir / "published.csv")
    if not published:
        raise UsageError(
            "nothing published from this survey yet", survey_dir, "run `s2w-eval survey publish`"
        )
    cols, rows = read_batch(survey_dir)
    by_task = {r["task_id"]: r for r in rows}
    settings = hit_settings(manifest)
    problems: list[Problem] = []
    records: list[dict[str, Any]] = []
    answer_cols: list[str] = []
    for pub in published:
        token = None
        while True:
            kw = {
                "HITId": pub["HITId"],
                "MaxResults": 100,
                "AssignmentStatuses": ["Submitted", "Approved", "Rejected"],
            }
            if token:
                kw["NextToken"] = token
            try:
                resp = client.list_assignments_for_hit(**kw)
            except Exception as exc:
                problems.append(Problem(str(survey_dir / "published.csv"), f"HIT {pub['HITId']}: {exc}"))
                break
            for a in resp.get("Assignments", []):
                try:
                    answers = parse_answer(a.get("Answer") or "")
                except DataError as exc:
                    problems.append(
                        Problem(pub["HITId"], f"assignment {a.get('AssignmentId')}: {exc.message}")
                    )
                    answers = {}
                accept, submit = a.get("AcceptTime"), a.get("SubmitTime")
                seconds = (
                    int((submit - accept).total_seconds())
                    if isinstance(accept, _dt.datetime) and isinstance(submit, _dt.datetime)
                    else ""
                )
                rec = {
                    "HITId": pub["HITId"],
                    "HITTypeId": pub.get("HITTypeId", ""),
                    "Title": settings["Title"],
                    "Reward": f"${settings['Reward']}",
                    "AssignmentId": a["AssignmentId"],
                    "WorkerId": a["WorkerId"],
                    "AssignmentStatus": a.get("AssignmentStatus", ""),
                    "AcceptTime": _time(accept),
                    "SubmitTime": _time(submit),
                    "WorkTimeInSeconds": seconds,
                }
                rec.update({f"Input.{c}": v for c, v in by_task.get(pub["task_id"], {}).items()})
                for k, v in answers.items():
                    if k == "assignmentId":
                        continue
                    rec[f"Answer.{k}"] = v
                    if f"Answer.{k}" not in answer_cols:
                        answer_cols.append(f"Answer.{k}")
                rec.update({"Approve": "", "Reject": ""})
                records.append(rec)
            token = resp.get("NextToken")
            if not token:
                break
    header = list(RESULT_HEAD) + [f"Input.{c}" for c in cols] + sorted(answer_cols) + ["Approve", "Reject"]
    out_path = Path(out) if out is not None else survey_dir / "mturk_results.csv"
    atomic_write_csv(out_path, records, header)
    return out_path, len(records), problems


def review(
    approvals: str | Path,
    client,
    *,
    bonuses: str | Path | None = None,
    blocklist: str | Path | None = None,
    log: str | Path | None = None,
) -> tuple[dict[str, int], list[Problem]]:
    """Send approvals.csv's decisions (and bonuses, blocks); a rerun skips what review_log.csv says is done."""
    approvals = Path(approvals)
    rows = _read_csv(approvals)
    if not rows and not approvals.is_file():
        raise UsageError(
            "approvals file not found", approvals, "pass the approvals.csv of `survey aggregate`"
        )
    if rows and not {"AssignmentId", "Approve", "Reject"} <= set(rows[0]):
        raise DataError("not an approvals file: needs AssignmentId, Approve and Reject columns", approvals)
    log_path = Path(log) if log is not None else approvals.with_name("review_log.csv")
    entries = _read_csv(log_path)
    done = {(e["action"], e["target"]) for e in entries if e["status"] == "ok"}
    counts = {"approved": 0, "rejected": 0, "bonuses": 0, "blocked": 0, "skipped": 0, "failed": 0}
    problems: list[Problem] = []

    def call(action: str, target: str, fn, where: Path, **kw) -> None:
        if (action, target) in done:
            counts["skipped"] += 1
            return
        try:
            fn(**kw)
        except Exception as exc:
            counts["failed"] += 1
            problems.append(Problem(str(where), f"{action} {target}: {exc}"))
            entries.append({"action": action, "target": target, "status": "failed", "message": str(exc)})
        else:
            counts[
                {"approve": "approved", "reject": "rejected", "bonus": "bonuses", "block": "blocked"}[action]
            ] += 1
            entries.append({"action": action, "target": target, "status": "ok", "message": ""})
        atomic_write_csv(log_path, entries, LOG_COLUMNS)

    for r in rows:
        aid = r["AssignmentId"]
        if r["Approve"].strip().lower() == "x":
            call("approve", aid, client.approve_assignment, approvals, AssignmentId=aid)
        elif r["Reject"].strip():
            call(
                "reject",
                aid,
                client.reject_assignment,
                approvals,
                AssignmentId=aid,
                RequesterFeedback=r["Reject"][:1024],
            )
    if bonuses:
        bpath = Path(bonuses)
        for b in _read_csv(bpath):
            aid = b["AssignmentId"]
            call(
                "bonus",
                aid,
                client.send_bonus,
                bpath,
                WorkerId=b["WorkerId"],
                AssignmentId=aid,
                BonusAmount=f"{float(b['BonusAmount']):.2f}",
                Reason=b.get("Reason") or "Bonus",
                UniqueRequestToken=f"s2w-bonus-{aid}"[:64],
            )
    if blocklist:
        kpath = Path(blocklist)
        for w in _read_csv(kpath):
            call(
                "block",
                w["WorkerId"],
                client.create_worker_block,
                kpath,
                WorkerId=w["WorkerId"],
                Reason=w["reason"][:1024],
            )
    return counts, problems
