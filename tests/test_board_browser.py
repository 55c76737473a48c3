"""nnreg board in headless Chromium, as a person uses it: the runs list, a run started from
the page and watched as it trains, stopped with a checkpoint, two runs compared, and paths
that try to climb out of the folder."""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("starlette", reason="the board extra is not installed")
pytest.importorskip("uvicorn", reason="the board extra is not installed")
pytest.importorskip("sse_starlette", reason="the board extra is not installed")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

from board_server import board, make_run  # noqa: E402

from nnreg.checkpoints import has_checkpoint  # noqa: E402
from nnreg.runs import read_run  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)"
)
SECONDS = 60_000  # Playwright counts in milliseconds


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    make_run(root / "l2-lmbda1", reg="l2", lmbda=1.0, epochs=3)
    make_run(root / "l1-proximal-lmbda3", reg="l1-proximal", lmbda=3.0, epochs=3)
    return root


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(SECONDS)
    page.problems = []
    page.on(
        "console",
        lambda m: page.problems.append(m.text) if m.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.requests = []
    page.on("request", lambda request: page.requests.append(request.url))
    yield page
    page.close()


def chart_points(page, selector: str) -> list[int]:
    """The number of points of every line of the chart drawn in ``selector``'s canvas."""
    return page.evaluate(
        """selector => {
            const chart = Chart.getChart(document.querySelector(selector));
            return chart.data.datasets.map(d => d.data.filter(p => p.y !== null).length);
        }""",
        selector,
    )


def test_the_runs_page_shows_both_runs(two_runs, page):
    with board(two_runs) as (url, _):
        page.goto(url)
        rows = page.locator("tr[data-run]")
        rows.first.wait_for()
        assert sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.run)")) == [
            "l1-proximal-lmbda3",
            "l2-lmbda1",
        ]
        row = page.locator('tr[data-run="l1-proximal-lmbda3"]')
        assert "finished" in row.inner_text() and "3 / 3" in row.inner_text()
        last = read_run(two_runs / "l1-proximal-lmbda3")["metrics"][-1]
        assert f"{100 * last['validation']['accuracy']:.1f} %" in row.inner_text()
        make_run(two_runs / "later", epochs=1)  # appears without a reload
        page.locator('tr[data-run="later"]').wait_for()
        page.screenshot(path=two_runs.parent / "runs.png")
    shutil.rmtree(two_runs / "later")
    assert page.problems == []
    # offline: the page's scripts and styles come from the board itself, nothing from elsewhere
    assert any(u.endswith("/static/vendor/chart.umd.min.js") for u in page.requests)
    assert [u for u in page.requests if not u.startswith(url)] == []


def test_a_run_started_from_the_page_trains_live_and_stops_with_a_checkpoint(tmp_path, page):
    make_run(tmp_path / "earlier")
    with board(tmp_path) as (url, _):
        page.goto(url + "#/new")
        page.select_option("select[name=reg]", "l1-proximal")
        page.fill("input[name=lmbda]", "2")
        page.fill("input[name=epochs]", "400")
        page.fill("input[name=name]", "from-the-page")
        page.click("button[type=submit]")
        page.wait_for_url("**/#/run/from-the-page")
        # the epoch count (the run's status) and the charts (its metrics) come as separate
        # events: each is waited for
        epoch = "+document.querySelector('h1 [data-epoch]')?.dataset.epoch"
        points = (
            "Chart.getChart(document.querySelector('.charts .panel:nth-child(1) canvas'))"
            ".data.datasets[0]?.data.length"
        )
        page.wait_for_function(f"() => {epoch} >= 2 && {points} >= 2")
        first = page.evaluate(f"() => {epoch}")
        cost = chart_points(page, ".charts .panel:nth-child(1) canvas")
        page.wait_for_function(f"() => {epoch} > {first + 1} && {points} > {cost[0]}")
        later = chart_points(page, ".charts .panel:nth-child(1) canvas")
        assert later[0] > cost[0] >= 2  # the charts grow with the epochs
        assert len(chart_points(page, ".charts .panel:nth-child(3) canvas")) >= 4  # RMS, refs
        page.wait_for_function("() => document.querySelector('canvas.tiles').width > 0")
        page.click("text=Stop")
        page.locator(".badge.interrupted").wait_for()
        assert "checkpoint" in page.locator(".note").inner_text()
        page.screenshot(path=tmp_path / "run.png", full_page=True)
        assert has_checkpoint(tmp_path / "from-the-page")
        stopped = read_run(tmp_path / "from-the-page")
        assert stopped["summary"] is None and 2 <= len(stopped["metrics"]) < 400
        page.click("text=Resume")
        page.locator(".badge.running").wait_for()
        page.click("text=Stop")
        page.locator(".badge.interrupted").wait_for()
    assert len(read_run(tmp_path / "from-the-page")["metrics"]) >= len(stopped["metrics"])
    assert page.problems == []


def test_a_form_mistake_is_shown_with_the_command_lines_message(
    tmp_path, tmp_path_factory, page, monkeypatch
):
    nowhere = tmp_path_factory.mktemp("no-data")
    monkeypatch.setenv("NNREG_MNIST_MIRRORS", (nowhere / "no-mirror").as_uri())
    with board(tmp_path, "--data-dir", str(nowhere)) as (url, _):
        page.goto(url + "#/new")
        page.fill("input[name=eta]", "fast")
        page.click("button[type=submit]")
        error = page.locator("form .error")
        error.wait_for()
        assert "--eta" in error.inner_text() and "fast" in error.inner_text()
        assert page.locator("input[name=eta].invalid").count() == 1  # the field is marked
        assert list(tmp_path.iterdir()) == []
        # sizes that do not fit the data set: refused with the command's message too
        page.fill("input[name=eta]", "0.5")
        page.fill("input[name=sizes]", "5,10")
        page.click("button[type=submit]")
        page.wait_for_function(
            "() => document.querySelector('form .error').innerText.includes('--sizes')"
        )
        assert "make sizes[0] = 64" in error.inner_text()
        assert list(tmp_path.iterdir()) == []
        # a mistake only the data reveal (no MNIST, no mirror): the run fails, its page says why
        page.fill("input[name=sizes]", "")
        page.select_option("select[name=data]", "mnist")
        page.fill("input[name=name]", "no-data")
        page.click("button[type=submit]")
        page.locator(".badge.failed").wait_for()
        shown = page.locator(".error[role=alert]").inner_text()
        assert shown.startswith("Error:") and "could not download" in shown
    # the browser logs the refused form's answer; nothing else
    assert [p for p in page.problems if "400 (Bad Request)" not in p] == []


def test_two_runs_compared(two_runs, page):
    with board(two_runs) as (url, _):
        page.goto(url)
        page.locator('tr[data-run="l2-lmbda1"] input').check()
        page.locator('tr[data-run="l1-proximal-lmbda3"] input').check()
        page.click("text=Compare selected (2)")
        page.locator(".chip").nth(1).wait_for()
        page.wait_for_function("() => document.querySelectorAll('.charts canvas').length >= 7")
        # one line per run in every chart, each with every epoch
        for index in range(2, 8):
            assert chart_points(page, f".charts .panel:nth-child({index}) canvas") == [3, 3]
        against_lambda = chart_points(page, ".charts .panel:nth-child(1) canvas")
        assert against_lambda == [1, 1, 1, 1]  # accuracy and zeros, per regularizer
        page.screenshot(path=two_runs.parent / "compare.png", full_page=True)
    assert page.problems == []


def test_paths_that_climb_out_of_the_folder_get_404(two_runs, page):
    with board(two_runs) as (url, _):
        for path in (
            "/../../etc/passwd",
            "/static/../../../etc/passwd",
            "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            "/static/..%2f..%2f..%2fetc%2fpasswd",
            "/api/run?run=../../etc/passwd",
            "/api/weights?run=%2fetc%2fpasswd",
        ):
            response = page.request.get(url.rstrip("/") + path)
            assert response.status == 404, path
            assert "root:" not in response.text()
