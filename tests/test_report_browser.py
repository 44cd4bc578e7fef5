"""The HTML report opened in headless Chromium: every image loads, every audio player loads its clip and has a
duration, no console errors; a screenshot is kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from s2w_eval.cli import cli
from s2w_eval.clikit import run_main
from s2w_eval.results import atomic_write_json, provenance

from .test_report import make_run, write_chords, write_pam, write_survey

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.mark.browser
def test_html_report_in_headless_chromium(tmp_path, chromium):
    sync_api, launch = chromium
    run = make_run(tmp_path / "runs" / "demo")
    out = tmp_path / "reports" / "demo"
    write_pam(out, run)
    write_chords(out, run)
    write_survey(out, run)
    assert run_main(cli, ["report", str(out), "--format", "html", "--max-figures", "3"]) == 0
    page_path = out / "report.html"

    errors: list[str] = []
    failed: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(**launch)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.goto(page_path.as_uri(), wait_until="load")
            images = page.evaluate(
                "() => Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])"
            )
            title = page.title()
            n_tables = page.evaluate("() => document.querySelectorAll('table').length")
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "report-demo.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert title == "s2w report: demo"
    assert len(images) == 8  # 3 samples + 3 survey pairs + 2 PAM box plots
    missing = [alt for complete, width, alt in images if not complete or width == 0]
    assert not missing, f"images that did not load: {missing}"
    assert not errors, errors
    assert not failed, failed
    assert n_tables >= 10
    assert shot.stat().st_size > 10_000


AUDIO_STATE = """async () => {
  const els = Array.from(document.querySelectorAll('audio'));
  await Promise.all(els.map(a => a.readyState >= 1 ? null : new Promise(done => {
    a.addEventListener('loadedmetadata', done, {once: true});
    a.addEventListener('error', done, {once: true});
    a.load();
  })));
  return els.map(a => [a.title, a.readyState, a.duration, a.error ? a.error.code : null]);
}"""


@pytest.mark.browser
@pytest.mark.parametrize("embed", [False, True], ids=["linked", "embedded"])
def test_published_samples_report_plays_audio(shared_data, tmp_path, chromium, embed):
    """The report of the published Scene2Wav samples (44.1 kHz 16-bit stereo and 16 kHz float WAVs): every
    <audio> element loads its clip, linked relative to the report or embedded, and has its duration."""
    sync_api, launch = chromium
    run = shared_data / "scene2wav-samples" / "cognimuse-3s"
    out = tmp_path / "reports" / "cognimuse-3s"
    atomic_write_json(
        out / "pam.json",
        {
            "run": run.name,
            "run_path": str(run),
            "summary": {},
            "provenance": provenance(command="s2w-eval pam"),
        },
    )
    args = ["report", str(out), "--format", "html", "--max-figures", "2"] + (
        ["--embed-audio"] if embed else []
    )
    assert run_main(cli, args) == 0
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(**launch)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((out / "report.html").as_uri(), wait_until="load")
            state = page.evaluate(AUDIO_STATE)
        finally:
            browser.close()
    assert len(state) == 10 * 3  # 10 samples x (target, baseline, scene2wav)
    bad = [s for s in state if s[1] < 1 or s[3] is not None or not s[2] or s[2] != s[2]]
    assert not bad, f"players that did not load: {bad}"
    # the 3 s clips (N5, P5 are shorter in the published set) have durations of about their files
    assert all(0.5 < s[2] < 3.5 for s in state), state
    assert not errors, errors
