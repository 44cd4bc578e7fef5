"""The task page in a real browser (headless Chromium via Playwright) against `survey preview`."""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from s2w_eval.survey.build import build_survey
from s2w_eval.survey.keyfile import load_key
from s2w_eval.survey.preview import make_server, serve_in_thread
from tests.survey_rater import do_task
from tests.test_survey_build import make_run, read_csv, small_design

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def preview(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    run = make_run(
        tmp / "run",
        ids=["N1", "P1", '"><img src=x onerror=alert(1)>'],
        emotions=["negative", "positive", "negative"],
        seconds=0.3,
    )
    res = build_survey(
        run,
        small_design(attention_checks=1, headphone_trials=2, headphone_pass=2, headphone_tone_seconds=0.1),
        seed=2,
        out=tmp / "s",
    )
    server = make_server(res.out, row=2, port=0)
    serve_in_thread(server)
    yield res.out, server
    server.shutdown()
    server.server_close()


def test_preview_serves_only_the_page_and_media(preview):
    out, server = preview
    with urllib.request.urlopen(server.url) as r:
        page = r.read().decode()
    assert "${" not in page and "media/c" in page
    for path in (
        "/answer_key.csv",
        "/manifest.json",
        "/media/../answer_key.csv",
        "/media/%2e%2e/answer_key.csv",
        "/batch.csv",
    ):
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(server.origin + path)
        assert exc.value.code == 404
    clip = next((out / "media").iterdir()).name
    req = urllib.request.Request(f"{server.origin}/media/{clip}", headers={"Range": "bytes=0-99"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 206 and len(r.read()) == 100
    req = urllib.request.Request(server.url, headers={"Host": "evil.example:80"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req)
    assert exc.value.code == 403


def test_task_page_in_headless_chromium(preview, chromium):
    sync_api, launch = chromium
    out, server = preview
    batch = read_csv(out / "batch.csv")
    task = batch[1]["task_id"]
    n_items = sum(1 for k in batch[1] if k.endswith("_a"))
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(**launch)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(server.url)
            assert page.locator("fieldset.item").count() == n_items
            # an answer is refused before both clips were played; so is a submit before answering
            first = page.locator("input[name=pair1][value=A]")
            assert first.is_disabled()
            first.click(force=True)
            assert not first.is_checked()
            page.click("#submitButton")
            assert "consent" in page.inner_text("#s2w-message")
            assert page.url.startswith(server.origin + "/hit")
            # headphone check, practice, then every clip played to the end and answered (pair 2: no preference)
            key = load_key(out / "answer_key.csv")
            manifest = json.loads((out / "manifest.json").read_text())

            def choose(it):
                return "none" if it.item == 2 else "AB"[it.item % 2]

            got_task, given = do_task(page, key, manifest, choose)
            assert got_task == task
            answers = {f"Answer.{k}": v for k, v in given.items()}
            media = page.evaluate(
                "Array.from(document.querySelectorAll('audio')).map(a => [a.readyState, a.duration])"
            )
            assert all(rs >= 2 for rs, _ in media)  # every clip loaded
            clips = [d for _, d in media if 0.25 < d < 0.35]  # the 0.3 s clips (headphone trials: 0.4 s)
            assert len(clips) == 2 * n_items + 2 and len(media) == len(clips) + 2
            assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "survey_hit.png"), full_page=True)
            if os.environ.get("S2W_UPDATE_DOC_IMAGES"):  # the phone-sized screenshot in docs/survey.md
                (REPO / "docs" / "img").mkdir(parents=True, exist_ok=True)
                shutil.copyfile(ARTIFACTS / "survey_hit.png", REPO / "docs" / "img" / "survey_phone.png")
            page.click("#submitButton")
            page.wait_for_selector("#answers")
            page.screenshot(path=str(ARTIFACTS / "survey_submitted.png"))
            assert not dialogs  # nothing hostile ran
        finally:
            browser.close()
    with urllib.request.urlopen(server.origin + "/submissions.json") as r:
        subs = json.loads(r.read())
    assert len(subs) == 1
    got = {k: v for k, v in subs[0].items() if k in answers}
    assert got == answers
    # play counts and times per item were recorded with the answers
    for i in range(1, n_items + 1):
        assert subs[0][f"Answer.pair{i}_plays_a"] == "1" and int(subs[0][f"Answer.pair{i}_ms"]) > 0
    assert int(subs[0]["Answer.s2w_page_ms"]) > 0
    assert subs[0]["AssignmentId"] == "PREVIEW_ASSIGNMENT" and subs[0]["Input.task_id"] == task
