"""The cross-board views in a real browser: the report's "Since the last workshop" section with
its trend charts, and the scatter and trend charts opened on their own. They render, and nothing
runs or is fetched from elsewhere.

The module's server holds the German example board (with two hostile stickies); the March
follow-up workshop of the same board is imported on top, as its second revision.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.browser.conftest import OUTPUT, ROOT, LiveApi
from tests.browser.test_report_page import (  # the browser and page helpers of the report test
    assert_nothing_ran_or_left,
    browser,  # noqa: F401
    open_page,
)

pytestmark = pytest.mark.browser

MARCH = ROOT / "examples" / "miro-abo-workshop-march.json"


@pytest.fixture(scope="module")
def second_revision(live_api: LiveApi) -> LiveApi:
    with httpx.Client(base_url=live_api.base, headers=live_api.auth, timeout=30) as client:
        job = client.post(
            "/v1/imports",
            content=MARCH.read_bytes(),
            headers={"Content-Type": "application/json"},
        )
        assert job.status_code == 202, job.text
        deadline = time.monotonic() + 60
        while True:
            state = client.get(f"/v1/imports/{job.json()['id']}").json()
            if state["status"] not in ("queued", "running") or time.monotonic() > deadline:
                break
            time.sleep(0.1)  # waiting for the import to finish, as the module's fixture does
        assert state["status"] == "succeeded", state
        assert state["board_id"] == live_api.board_id
    return live_api


def test_the_report_shows_the_change_since_the_last_workshop_with_its_charts(
    browser: Any,  # noqa: F811
    second_revision: LiveApi,
) -> None:
    api = second_revision
    context, page, seen = open_page(
        browser, f"{api.base}/v1/boards/{api.board_id}/report.html", api.auth
    )
    try:
        section = page.locator("section.trends")
        assert section.count() == 1
        assert "Since the last workshop" in section.inner_text()
        assert "r1 \u2192 r2" in section.inner_text()
        lines = section.locator("svg polyline")
        assert lines.count() >= 2
        for index in range(lines.count()):
            box = lines.nth(index).bounding_box()
            assert box is not None
            assert box["width"] > 100
        assert_nothing_ran_or_left(page, seen, api.base)
        OUTPUT.mkdir(exist_ok=True)
        section.screenshot(path=str(OUTPUT / "report-since-last-workshop.png"))
    finally:
        context.close()


@pytest.mark.parametrize(
    ("path", "dots"),
    [
        ("/v1/portfolio/chart.svg", 1),  # the one board's current state
        ("/v1/boards/{board}/trends.svg", 4),  # Ist and Soll, two revisions each
    ],
)
def test_a_chart_opened_on_its_own_renders_its_dots(
    browser: Any,  # noqa: F811
    second_revision: LiveApi,
    path: str,
    dots: int,
) -> None:
    api = second_revision
    context, page, seen = open_page(browser, api.base + path.format(board=api.board_id), api.auth)
    try:
        circles = page.locator("circle")
        assert circles.count() == dots
        for index in range(circles.count()):
            box = circles.nth(index).bounding_box()
            assert box is not None
            assert box["width"] > 4
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert seen.page_errors == []
        assert seen.dialogs == []
        assert [u for u in seen.requests if not u.startswith(api.base + "/")] == []
    finally:
        context.close()
