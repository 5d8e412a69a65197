"""The web front door in headless Chromium: sign in with the key once, walk board, map and
imports, nothing runs or is fetched from outside, sign out. Screenshots go to ``test-output/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import OUTPUT, LiveApi
from tests.browser.test_report_page import Observed, browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

__all__ = ["browser"]


@pytest.fixture
def signed_in(browser: Any, live_api: LiveApi) -> Iterator[tuple[Any, Observed]]:
    """A fresh browser context signed in through the form, with what it requested."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    seen = Observed()
    page.on("pageerror", lambda e: seen.page_errors.append(str(e)))
    page.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: seen.requests.append(r.url))
    page.goto(f"{live_api.base}/web/boards/{live_api.board_id}")
    assert "/web/login" in page.url
    page.fill("#api_key", live_api.key)
    page.click("form.narrow button[type=submit]")
    page.wait_for_load_state("load")
    try:
        yield page, seen
    finally:
        context.close()


def test_signing_in_once_opens_the_board_its_map_and_its_report(
    signed_in: tuple[Any, Observed], live_api: LiveApi
) -> None:
    page, seen = signed_in
    assert page.url.endswith(f"/web/boards/{live_api.board_id}")
    cookies = {c["name"]: c for c in page.context.cookies()}
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "front-door-board.png"), full_page=True)

    page.click("td a:text-is('Map')")
    page.wait_for_load_state("load")
    map_images = page.locator(".mapview img").count()
    natural_width = page.evaluate("document.querySelector('.mapview img').naturalWidth")
    page.goto(f"{live_api.base}/v1/boards/{live_api.board_id}/report.html")
    maps_in_report = page.locator("svg.vsm-map").count()

    assert cookies["vsm_session"]["httpOnly"] is True
    assert cookies["vsm_session"]["sameSite"] == "Strict"
    assert live_api.key not in cookies["vsm_session"]["value"]
    assert map_images == 1
    assert natural_width > 100  # the SVG loaded with the session cookie
    assert maps_in_report == live_api.stream_count
    assert seen.page_errors == []
    assert seen.console_errors == []
    assert all(url.startswith(live_api.base + "/") for url in seen.requests)


def test_the_board_list_works_on_a_phone_without_sideways_scrolling(
    signed_in: tuple[Any, Observed], live_api: LiveApi
) -> None:
    page, _ = signed_in
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_api.base}/web/boards")
    width = page.evaluate("document.documentElement.scrollWidth")
    page.screenshot(path=str(OUTPUT / "front-door-phone.png"), full_page=True)

    assert width <= 390
    assert page.locator("ul.cards li").count() >= 1


def test_the_import_page_shows_the_job_and_signing_out_ends_the_session(
    signed_in: tuple[Any, Observed], live_api: LiveApi
) -> None:
    page, _ = signed_in
    page.goto(f"{live_api.base}/web/imports")
    page.click("td a")
    page.wait_for_load_state("load")
    status = page.inner_text(".status")
    progress = page.inner_text(".progress-text")

    page.click("form.signout button")
    page.wait_for_load_state("load")
    page.goto(f"{live_api.base}/web/boards")

    assert status == "succeeded"
    assert progress == "done"
    assert "/web/login" in page.url
