"""An experiment's HTML report, opened in headless Chromium as a reader would open it."""

import shutil

import pytest
from matplotlib.image import imread

from nnreg.experiments import run_experiment

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)"
)


def test_html_report_shows_every_figure_without_console_errors(tmp_path):
    report = run_experiment("l1-vs-l2", quick=True)
    page_path = report.write(tmp_path / "report")["html"]
    messages = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page()
            page.on("console", lambda message: messages.append((message.type, message.text)))
            page.on("pageerror", lambda error: messages.append(("pageerror", str(error))))
            page.goto(page_path.resolve().as_uri(), wait_until="load")
            images = page.evaluate(
                "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])"
            )
            page.screenshot(path=tmp_path / "screenshot.png", full_page=True)
        finally:
            browser.close()
    assert len(images) == len(report.figures) > 0
    for complete, width, alt in images:
        assert complete and width > 0, f"figure {alt!r} did not load"
    assert [m for m in messages if m[0] in ("error", "pageerror", "warning")] == []
    screenshot = imread(tmp_path / "screenshot.png")
    assert screenshot.shape[0] > 1000  # the whole page, figures included
