"""End to end on Turkle (an MTurk clone): s2w's layout and batch uploaded, raters in headless Chromium.

Turkle runs on 127.0.0.1 with sqlite, set up by its own management commands (migrate, createsuperuser,
drf_create_token) and its REST API (raters, the project with s2w's layout.html, the batch with batch.csv).
Five raters with known tastes work through the real pages (every clip played to its end), one of them
without headphones and careless; Turkle's results CSV is exported and `survey aggregate` must recover the
preferences and exclude that rater, with the reasons.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from s2w_eval.survey.aggregate import aggregate
from s2w_eval.survey.build import build_survey
from s2w_eval.survey.keyfile import load_key
from tests.survey_rater import careless, prefers, run_together, task_steps
from tests.test_survey_build import make_run, read_csv, small_design

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
DOC_IMG = REPO / "docs" / "img"
RATERS = {  # username -> (taste, has headphones)
    "rater1": ("scene2wav", True),
    "rater2": ("scene2wav", True),
    "rater3": ("scene2wav", True),
    "rater4": ("baseline", True),
    "rater5": (None, False),  # no headphones, careless
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def turkle(tmp_path_factory):
    pytest.importorskip("turkle", reason="turkle is not installed (pip install -e '.[test]')")
    tmp = tmp_path_factory.mktemp("turkle")
    env = {
        **os.environ,
        "S2W_TURKLE_DB": str(tmp / "db.sqlite3"),
        "DJANGO_SETTINGS_MODULE": "tests.turkle_site.settings",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "DJANGO_SUPERUSER_PASSWORD": "s2w-admin-pw",
    }

    def manage(*args: str) -> str:
        r = subprocess.run(
            [sys.executable, "-m", "django", *args],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, f"manage.py {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
        return r.stdout

    manage("migrate", "--noinput", "-v", "0")
    manage("createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.org")
    token = manage("drf_create_token", "admin").split("Generated token ", 1)[1].split()[0]
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "runserver.log", "w"),
    )
    origin = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(origin + "/login/", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"Turkle did not start: {(tmp / 'runserver.log').read_text()}")
                time.sleep(0.1)
        yield origin, token, tmp
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _api(origin: str, token: str, path: str, data: dict | None = None):
    req = urllib.request.Request(
        origin + path,
        data=None if data is None else json.dumps(data).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="GET" if data is None else "POST",
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        body = r.read().decode()
    return body if path.endswith("/results/") else json.loads(body)


def test_survey_end_to_end_on_turkle(turkle, chromium, tmp_path):
    sync_api, launch = chromium
    origin, token, _ = turkle
    # the survey: 2 scene sets, one pair and one noise-burst check each, a short headphone check
    run = make_run(
        tmp_path / "run",
        ids=["N1", "P1"],
        emotions=["negative", "positive"],
        seconds=0.25,
        conditions=("scene2wav", "baseline"),
    )
    design = small_design(
        pairs=(("scene2wav", "baseline"),),
        raters=len(RATERS),
        attention_checks=1,
        min_seconds=0.0,
        allow_no_preference=False,
        headphone_trials=2,
        headphone_pass=2,
        headphone_tone_seconds=0.12,
    )
    site = tmp_path / "site"  # the media host: only media/ is served, never the key
    media_port = _free_port()
    res = build_survey(run, design, seed=3, out=tmp_path / "s", base_url=f"http://127.0.0.1:{media_port}/")
    assert res.problems == []
    shutil.copytree(res.out / "media", site / "media")
    media = ThreadingHTTPServer(("127.0.0.1", media_port), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=media.serve_forever, daemon=True).start()
    key = load_key(res.out / "answer_key.csv")
    manifest = json.loads((res.out / "manifest.json").read_text())

    # upload: raters, the project (s2w's layout, as in the Requester UI), the batch (s2w's batch.csv)
    ids = {
        u: _api(origin, token, "/api/users/", {"username": u, "password": f"{u}-pw"})["id"] for u in RATERS
    }
    project = _api(
        origin,
        token,
        "/api/projects/",
        {
            "name": "s2w listening test",
            "html_template": (res.out / "layout.html").read_text(encoding="utf-8"),
            "filename": "layout.html",
            "assignments_per_task": len(RATERS),
            "login_required": True,
        },
    )
    batch = _api(
        origin,
        token,
        "/api/batches/",
        {
            "name": "s2w batch",
            "project": project["id"],
            "filename": "batch.csv",
            "csv_text": (res.out / "batch.csv").read_text(encoding="utf-8"),
            "assignments_per_task": len(RATERS),
            "login_required": True,
        },
    )
    n_tasks = len(read_csv(res.out / "batch.csv"))

    t0 = time.monotonic()
    given: dict[tuple[str, str], dict[str, str]] = {}
    dialogs: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(**launch)
        try:
            pages = {}
            for user in RATERS:
                ctx = browser.new_context(viewport={"width": 1000, "height": 900})
                page = ctx.new_page()
                page.on("dialog", lambda d: dialogs.append(d.message) or d.dismiss())
                page.goto(origin + "/login/")
                page.fill("input[name=username]", user)
                page.fill("input[name=password]", f"{user}-pw")
                page.press("input[name=password]", "Enter")
                page.wait_for_url(origin + "/")
                pages[user] = page
            for n in range(n_tasks):  # the raters work at the same time, as a crowd does
                frames = {}
                for user, page in pages.items():
                    page.goto(f"{origin}/batch/{batch['id']}/accept_next_task/")
                    frame = page.frame_locator("#task_assignment_iframe")
                    # Turkle wraps the layout in its form and adds its own Submit; no nested form
                    assert frame.locator("form").count() == 1
                    if user == "rater1":  # submitting before answering is refused by the page
                        frame.locator("#submitButton").click()
                        assert "consent" in frame.locator("#s2w-message").inner_text()
                        if n == 0:  # the task as a rater first sees it in Turkle
                            ARTIFACTS.mkdir(exist_ok=True)
                            shot = ARTIFACTS / "survey_turkle_task.png"
                            page.screenshot(path=str(shot))
                            if os.environ.get("S2W_UPDATE_DOC_IMAGES"):
                                DOC_IMG.mkdir(parents=True, exist_ok=True)
                                shutil.copyfile(shot, DOC_IMG / "survey_turkle_task.png")
                    frames[user] = frame
                done = run_together(
                    [
                        task_steps(frames[u], key, manifest, prefers(taste) if taste else careless, hp)
                        for u, (taste, hp) in RATERS.items()
                    ]
                )
                for user, (task, answers) in zip(RATERS, done):
                    given[(user, task)] = answers
                    frames[user].locator("#submitButton").click()
                    pages[user].wait_for_url(origin + "/")
            assert not dialogs
        finally:
            browser.close()
            media.shutdown()
    driven = time.monotonic() - t0
    assert len(given) == len(RATERS) * n_tasks

    # Turkle's results CSV, as its admin "Download CSV" gives it
    results = tmp_path / "turkle_results.csv"
    results.write_text(_api(origin, token, f"/api/batches/{batch['id']}/results/"), encoding="utf-8")
    rows = read_csv(results)
    assert len(rows) == len(RATERS) * n_tasks
    by_user = {r["Turkle.Username"] for r in rows}
    assert by_user == set(RATERS)
    for r in rows:  # what the page posted is what Turkle recorded
        mine = given[(r["Turkle.Username"], r["Input.task_id"])]
        assert {k: r[f"Answer.{k}"] for k in mine} == mine
        assert r["Input.batch"] == manifest["batch_id"]
        for i in key.tasks[r["Input.task_id"]]:
            assert r[f"Answer.pair{i}_plays_a"] == "1" and r[f"Answer.pair{i}_plays_b"] == "1"
            assert int(r[f"Answer.pair{i}_ms"]) > 0

    an, out_dir, _ = aggregate(
        results, res.out / "answer_key.csv", tmp_path / "agg", n_resamples=200, plots=False
    )
    assert an.fatal_count == 0, an.issues
    bad = str(ids["rater5"])
    assert an.excluded == {bad}
    raters = {r["worker"]: r for r in read_csv(out_dir / "raters.csv")}
    assert "headphone check failed" in raters[bad]["reasons"] and "attention check" in raters[bad]["reasons"]
    pooled = next(r for r in an.preferences if r["sample"] == "all" and r["emotion"] == "all")
    # three raters prefer scene2wav, one the baseline, over both scene sets
    assert (pooled["first_count"], pooled["second_count"]) == (3 * n_tasks, 1 * n_tasks)
    assert an.bradley_terry["table"][0]["condition"] == "scene2wav"
    approvals = read_csv(out_dir / "approvals.csv")
    assert {a["Reject"] != "" for a in approvals if a["WorkerId"] == bad} == {True}
    assert all(a["Approve"] == "x" for a in approvals if a["WorkerId"] != bad)
    assert [b["WorkerId"] for b in read_csv(out_dir / "blocklist.csv")] == [bad]
    print(f"turkle: {len(rows)} assignments driven in {driven:.1f} s")
