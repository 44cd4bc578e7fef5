"""Prolific: the study site (URL parameters, completion-code redirect) in headless Chromium, and its data
(collected responses + Prolific's export) aggregated; MTurk and Prolific files mixed are refused."""

from __future__ import annotations

import csv
import functools
import io
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from s2w_eval.errors import DataError, UsageError
from s2w_eval.survey.aggregate import aggregate
from s2w_eval.survey.build import build_survey
from s2w_eval.survey.keyfile import load_key
from s2w_eval.survey.prolific import COMPLETE_URL, write_study
from tests.survey_rater import do_task, prefers
from tests.test_survey_build import make_run, small_design


class _Site(SimpleHTTPRequestHandler):
    """Static files, and POST /collect storing the posted form (the researcher's collection endpoint)."""

    posts: list[dict[str, str]] = []

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        type(self).posts.append(dict(parse_qsl(body, keep_blank_values=True)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


def _build(tmp_path: Path, port: int):
    run = make_run(tmp_path / "run", ids=["N1", "P1"], emotions=["negative", "positive"], seconds=0.25)
    design = small_design(
        pairs=(("scene2wav", "baseline"),),
        attention_checks=1,
        min_seconds=0.0,
        allow_no_preference=False,
        headphone_trials=1,
        headphone_pass=1,
        headphone_tone_seconds=0.1,
    )
    return build_survey(run, design, seed=5, out=tmp_path / "site", base_url=f"http://127.0.0.1:{port}/")


def test_study_pages_refuse_plain_http_endpoints(tmp_path):
    res = _build(tmp_path, 9)
    with pytest.raises(UsageError, match="https"):
        write_study(res.out, "C0DE1", "http://collect.example.org/")
    with pytest.raises(UsageError, match="completion code"):
        write_study(res.out, "a b", "https://collect.example.org/")
    files = write_study(res.out, "C0DE1", "https://collect.example.org/s2w")
    pages = [p.read_text() for p in files[:-1]]
    assert len(pages) == 2 and all("${" not in p and COMPLETE_URL + "C0DE1" in p for p in pages)
    assert all('name="PROLIFIC_PID"' in p and 'action="https://collect.example.org/s2w"' in p for p in pages)
    index = files[-1].read_text()
    assert all(f.name in index for f in files[:-1])


@pytest.mark.browser
def test_prolific_participants_end_to_end(tmp_path, chromium):
    sync_api, launch = chromium
    _Site.posts = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Site, directory=str(tmp_path / "site")))
    port = server.server_address[1]
    res = _build(tmp_path, port)
    write_study(res.out, "C0DE1", f"http://127.0.0.1:{port}/collect")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    key = load_key(res.out / "answer_key.csv")
    manifest = json.loads((res.out / "manifest.json").read_text())
    participants = {"PID1": "scene2wav", "PID2": "scene2wav", "PID3": "baseline"}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(**launch)
        try:
            for pid, taste in participants.items():
                page = browser.new_page()
                done: list[str] = []

                def complete(route, done=done) -> None:  # Prolific itself is not reached: answered here
                    done.append(route.request.url)
                    route.fulfill(body="<p>complete</p>", content_type="text/html")

                page.route(COMPLETE_URL.split("?")[0] + "*", lambda route: complete(route))
                page.goto(
                    f"http://127.0.0.1:{port}/prolific/index.html?PROLIFIC_PID={pid}&STUDY_ID=STUDY9"
                    f"&SESSION_ID=SESS{pid}"
                )
                page.wait_for_selector("#s2w-survey")
                do_task(page, key, manifest, prefers(taste))
                page.click("#submitButton")
                page.wait_for_url(COMPLETE_URL + "C0DE1")
                assert done == [COMPLETE_URL + "C0DE1"]
                page.close()
        finally:
            browser.close()
            server.shutdown()
    assert [p["PROLIFIC_PID"] for p in _Site.posts] == list(participants)
    # what the endpoint stored, and Prolific's export (PID3 returned the study: not counted)
    cols = list(_Site.posts[0])
    (tmp_path / "responses.csv").write_text(_csv(cols, [[p.get(c, "") for c in cols] for p in _Site.posts]))
    export = [
        ["Submission id", "Participant id", "Status", "Started at", "Completed at", "Time taken"],
        ["sub1", "PID1", "AWAITING REVIEW", "", "", "61"],
        ["sub2", "PID2", "APPROVED", "", "", "75"],
        ["sub3", "PID3", "RETURNED", "", "", "12"],
    ]
    (tmp_path / "export.csv").write_text(_csv(export[0], export[1:]))
    an, out_dir, _ = aggregate(
        tmp_path / "responses.csv",
        res.out / "answer_key.csv",
        tmp_path / "agg",
        n_resamples=100,
        plots=False,
        prolific_export=tmp_path / "export.csv",
    )
    assert an.fatal_count == 0, an.issues
    assert {a.worker for a in an.assignments} == {"PID1", "PID2"}
    assert any("PID3" in n and "RETURNED" in n for n in an.notes)
    pooled = next(r for r in an.preferences if r["sample"] == "all" and r["emotion"] == "all")
    assert (pooled["first_count"], pooled["second_count"]) == (2, 0)
    # only the submission awaiting review can still be approved
    assert [a["WorkerId"] for a in _read(out_dir / "approvals.csv")] == ["PID1"]


def _csv(header, rows) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_mturk_and_prolific_files_mixed_are_refused(tmp_path):
    res = _build(tmp_path, 9)
    mturk = tmp_path / "mturk.csv"
    mturk.write_text(_csv(["HITId", "AssignmentId", "WorkerId", "Input.task_id"], [["H", "A", "W", "t001"]]))
    export = tmp_path / "export.csv"
    export.write_text(_csv(["Participant id", "Status"], [["PID1", "APPROVED"]]))
    key = res.out / "answer_key.csv"
    with pytest.raises(DataError, match="MTurk/Turkle results file"):
        aggregate(mturk, key, tmp_path / "o", plots=False, prolific_export=export)
    with pytest.raises(DataError, match="Prolific's participant export"):
        aggregate(export, key, tmp_path / "o", plots=False)
    responses = tmp_path / "responses.csv"
    responses.write_text(
        _csv(["PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "task_id"], [["P", "S", "X", "t001"]])
    )
    with pytest.raises(DataError, match="Prolific export given is an MTurk"):
        aggregate(responses, key, tmp_path / "o", plots=False, prolific_export=mturk)
