"""The explain view in a real browser: the board draws, hover titles carry the reasons, nothing
runs and nothing is fetched from outside, with the hostile stickies of the live API's board."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import OUTPUT, LiveApi
from tests.browser.test_report_page import browser, open_page

pytestmark = pytest.mark.browser

__all__ = ["browser"]  # the module-scoped Chromium fixture, shared with the report page tests


def test_the_explain_view_draws_the_board_as_read_and_runs_nothing(
    browser: Any, live_api: LiveApi
) -> None:
    url = f"{live_api.base}/v1/boards/{live_api.board_id}/revisions/1/explain.svg"
    context, page, seen = open_page(browser, url, live_api.auth)
    try:
        steps = page.locator("g.board-item[data-role='step'], g.board-item[data-role='wait']")
        assert steps.count() >= 14  # 8 + the hostile step in Ist, 5 in Soll
        for index in range(steps.count()):
            box = steps.nth(index).bounding_box()
            assert box is not None
            assert box["width"] > 5
            assert box["height"] > 5
        assert page.locator("g.order-badge").count() == steps.count()
        assert page.locator("line.link").count() >= 8
        assert page.locator("g.stream-outline").count() == live_api.stream_count
        titles = " ".join(page.locator("title").all_text_contents())
        assert "rule color" in titles
        assert "<script>window.__pwned=1;alert(1)</script> Paywall kaputt" in titles
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert seen.dialogs == []
        assert seen.page_errors == []
        assert seen.console_errors == []
        assert [u for u in seen.requests if not u.startswith(live_api.base + "/")] == []
        assert page.locator("script").count() == 0
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "explain.png"))
    finally:
        context.close()
