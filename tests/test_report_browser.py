"""The HTML report in a real browser: headless Debian chromium driven by Playwright's Python package.

Listeners are attached before navigation; every request other than the report file itself is routed to
a failure and recorded. A control page with external references proves that the harness does see and
block requests and console errors, so "none happened" on the report means something.

Under CI=true a missing browser or Playwright is a failure; elsewhere the tests skip and say why.
Screenshots go to ``test-artifacts/`` (ignored by git) or to $RECON_TEST_ARTIFACTS.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recon import api, store
from recon.report.html import collect, write_report

from test_report_html import HOSTILE, RUN, build, lid

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("RECON_TEST_ARTIFACTS", REPO / "test-artifacts"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]


def _need_browser():
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "the playwright package is not installed: `pip install -e '.[test]'` (scripts/test does it)"
    if reason is None and not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: `apt-get install -y chromium` (scripts/test does it when run as root)"
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser test cannot run under CI=true: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


class Visit:
    """A page opened on one local file with every listener attached before navigation."""

    def __init__(self, browser, path: Path):
        self.url = path.resolve().as_uri()
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        self.page = self.context.new_page()
        self.requests, self.blocked, self.console, self.errors, self.dialogs = [], [], [], [], []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: m.type == "error" and self.console.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.context.route("**/*", self._route)
        self.page.goto(self.url, wait_until="load")

    def _route(self, route):
        if route.request.url == self.url:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort("blockedbyclient")

    def assert_clean(self):
        assert self.console == [] and self.errors == [] and self.dialogs == []
        assert self.blocked == [] and set(self.requests) <= {self.url}

    def close(self):
        self.context.close()


def test_the_harness_sees_requests_and_console_errors(browser, tmp_path):
    """Control: a page that references the network is caught, so a clean report run proves something."""
    page = tmp_path / "control.html"
    page.write_text('<!DOCTYPE html><html><head><link rel="stylesheet" href="https://example.invalid/x.css">'
                    '</head><body><img src="http://example.invalid/a.png"></body></html>', encoding="utf-8")
    v = Visit(browser, page)
    try:
        assert sorted(v.blocked) == ["http://example.invalid/a.png", "https://example.invalid/x.css"]
        assert v.console  # each blocked load logs a console error
    finally:
        v.close()


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser-sample")
    result = api.run(api.RunConfig(inputs=[REPO / "sample_data"], out=tmp / "out", db=str(tmp / "s.duckdb")))
    con = store.connect(str(tmp / "s.duckdb"))
    try:
        run_id = result.manifest["run_id"]
        path = write_report(con, run_id, tmp / "report.html")
        yield path, collect(con, run_id)
    finally:
        con.close()


def test_sample_report_in_chromium(browser, sample_report):
    path, data = sample_report
    v = Visit(browser, path)
    try:
        page = v.page
        v.assert_clean()
        def local(rows):  # the amount charts draw the categories with CNY lines (never yuan + dollars)
            return [c for c in rows if any(cur == "CNY" for cur, *_ in c.by_currency)]

        for name, rows in [("by-code-lines", data.by_code), ("by-code-amount", local(data.by_code)),
                           ("by-channel-lines", data.by_channel), ("by-channel-amount", local(data.by_channel))]:
            marks = page.locator(f'figure[data-chart="{name}"] [data-mark="{name}"]')
            assert marks.count() == len(rows) > 0, name
            assert [marks.nth(i).get_attribute("data-key") for i in range(marks.count())] == \
                [c.key for c in reversed(rows)]  # pygal draws bottom-up
            assert marks.first.bounding_box()["height"] > 0
        assert page.locator('[data-chart="trend"] [data-mark="trend"]').count() == len(data.heatmap["rows"])

        line = data.unknown["shown"][0]
        i, (name, value, _) = next((i, f) for i, f in enumerate(line.raw) if f[1] and f[1].strip())
        cell = page.locator(f'details[data-line="{line.line_id}"] table.raw td[data-raw-field]').nth(i)
        assert cell.get_attribute("data-raw-field") == name
        assert not cell.is_visible()
        page.locator(f'details[data-line="{line.line_id}"] > summary').click()
        assert cell.is_visible() and cell.text_content() == value

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = page.screenshot(path=str(ARTIFACTS / "report-sample.png"), full_page=True)
        assert shot[:8] == b"\x89PNG\r\n\x1a\n"
        v.assert_clean()  # still nothing fetched or logged after the interaction
    finally:
        v.close()


def test_hostile_text_stays_text_in_the_browser(browser, tmp_path):
    con = store.connect(":memory:")
    build(con)
    path = write_report(con, RUN, tmp_path / "hostile.html", lang="en")
    con.close()
    v = Visit(browser, path)
    try:
        page = v.page
        v.assert_clean()
        assert page.evaluate("typeof window.__pwned") == "undefined"
        page.locator(f'details[data-line="{lid("P1")}"] > summary').click()
        memo = page.locator(f'details[data-line="{lid("P1")}"] td[data-raw-field="备注"]')
        assert memo.is_visible() and memo.text_content() == HOSTILE
        assert page.locator(f'details[data-line="{lid("P1")}"] tr.flagged td[data-raw-field="状态"]').text_content() == "退款中"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report-hostile-en.png"), full_page=True)
        v.assert_clean()
        assert page.evaluate("typeof window.__pwned") == "undefined"
    finally:
        v.close()


def _overlap(a: dict, b: dict) -> bool:
    """Whether two bounding boxes (x, y, width, height) share any area."""
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


def test_the_report_opens_on_the_verdict_and_what_to_do_next(browser, sample_report):
    path, data = sample_report
    v = Visit(browser, path)
    try:
        page = v.page
        verdict = page.locator("section#verdict")
        box = verdict.bounding_box()
        assert verdict.get_attribute("data-state") == "breaks"
        assert box["y"] >= 0 and box["y"] + box["height"] <= 900, box
        codes = [li.get_attribute("data-code") for li in page.locator("section#verdict li").all()]
        assert codes == ["unknown_lines", "review_lines", "blocks_close"]
        todo = page.locator("section#next ol.todo")
        assert todo.count() == 2  # the blocking items, the largest unknowns
        for i in range(todo.count()):
            assert todo.nth(i).bounding_box()["y"] < 900, "the 'what to do next' list starts on the first screen"
        first = page.locator('section#next ol[data-list="blocking"] li').first.bounding_box()
        assert first["y"] + first["height"] <= 900
        unknown = page.locator('section#next ol[data-list="unknown"] li')
        assert unknown.count() == min(10, data.unknown["lines"]) > 0
        assert "recon explain" in unknown.last.text_content() or "recon locate" in unknown.last.text_content()
        assert page.evaluate("document.querySelector('section#verdict').compareDocumentPosition("
                             "document.querySelector('section#summary')) & Node.DOCUMENT_POSITION_FOLLOWING")
        v.assert_clean()
    finally:
        v.close()


def test_no_chart_value_label_overlaps_its_bar(browser, sample_report):
    path, _ = sample_report
    v = Visit(browser, path)
    try:
        page = v.page
        checked = 0
        for name in ["by-code-lines", "by-code-amount", "by-channel-lines", "by-channel-amount"]:
            svg = page.locator(f'figure[data-chart="{name}"] svg').bounding_box()
            marks = page.locator(f'figure[data-chart="{name}"] [data-mark="{name}"]')
            for i in range(marks.count()):
                bar = marks.nth(i)
                key = bar.get_attribute("data-key")
                label = page.locator(f'figure[data-chart="{name}"] text[data-label="{key}"]')
                assert label.count() == 1, (name, key)
                lb, bb = label.bounding_box(), bar.bounding_box()
                assert lb["width"] > 0 and not _overlap(lb, bb), (name, key, lb, bb)
                assert lb["x"] >= bb["x"] + bb["width"], "the label sits right of its bar's end"
                assert lb["x"] + lb["width"] <= svg["x"] + svg["width"], "the label stays inside its chart"
                checked += 1
        assert checked > 10
    finally:
        v.close()


def test_the_files_table_fits_1400_px(browser, sample_report):
    path, _ = sample_report
    v = Visit(browser, path)
    try:
        page = v.page
        page.set_viewport_size({"width": 1400, "height": 900})
        box = page.locator("table.files").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 1400, box
        assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    finally:
        v.close()
