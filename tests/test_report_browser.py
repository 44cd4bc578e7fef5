"""The HTML report opened in headless Chromium: every image loads, no console errors; a screenshot is kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from s2w_eval.cli import cli
from s2w_eval.clikit import run_main

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
    assert len(images) == 6  # 3 samples + 3 survey pairs
    missing = [alt for complete, width, alt in images if not complete or width == 0]
    assert not missing, f"images that did not load: {missing}"
    assert not errors, errors
    assert not failed, failed
    assert n_tables >= 10
    assert shot.stat().st_size > 10_000
