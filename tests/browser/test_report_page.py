"""The report page in a real browser: maps render, nothing runs, nothing is fetched from outside.

Headless Chromium (``/usr/bin/chromium``) driven by Playwright opens the page served by a live
API, once with an API key and once through a share link. Screenshots go to ``test-output/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, OUTPUT, LiveApi, require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@dataclass
class Observed:
    """What the page did while it loaded."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


def open_page(
    browser: Any, url: str, headers: dict[str, str] | None = None
) -> tuple[Any, Any, Observed]:
    context = browser.new_context(
        viewport={"width": 1600, "height": 1000}, extra_http_headers=headers or {}
    )
    page = context.new_page()
    seen = Observed()
    page.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.page_errors.append(str(e)))
    page.on("request", lambda r: seen.requests.append(r.url))

    def on_dialog(dialog: Any) -> None:
        seen.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    response = page.goto(url, wait_until="load")
    assert response is not None
    assert response.status == 200, response.status
    # anything an injected handler would do happens right after load
    page.wait_for_timeout(300)
    return context, page, seen


def assert_maps_render(page: Any, live_api: LiveApi) -> None:
    maps = page.locator("svg.vsm-map")
    assert maps.count() == live_api.stream_count
    boxes = page.locator("svg.vsm-map g.step rect.step-box")
    assert boxes.count() >= 8
    for index in range(boxes.count()):
        box = boxes.nth(index).bounding_box()
        assert box is not None
        assert box["width"] > 20
        assert box["height"] > 20
    assert page.locator("svg.vsm-map .problem-marker").count() >= 1
    assert page.locator("svg.vsm-map .rung-process").count() >= 8


def assert_nothing_ran_or_left(page: Any, seen: Observed, origin: str) -> None:
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert seen.dialogs == []
    assert seen.page_errors == []
    assert seen.console_errors == []
    outside = [
        u for u in seen.requests if not u.startswith(origin + "/") and not u.startswith("data:")
    ]
    assert outside == []
    assert page.locator("script").count() == 0
    assert page.locator("main img").count() == 0


def test_the_report_page_renders_its_maps_and_runs_nothing(browser: Any, live_api: LiveApi) -> None:
    context, page, seen = open_page(
        browser, f"{live_api.base}/v1/boards/{live_api.board_id}/report.html", live_api.auth
    )
    try:
        assert_maps_render(page, live_api)
        assert_nothing_ran_or_left(page, seen, live_api.base)
        text = page.inner_text("main")
        assert "<script>window.__pwned=1;alert(1)</script> Paywall kaputt" in text
        assert "Allied Medien AG" in text
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "report.png"), full_page=True)
    finally:
        context.close()


def test_a_share_link_opens_the_same_page_without_a_key(browser: Any, live_api: LiveApi) -> None:
    share = urlsplit(live_api.share_url)
    assert f"{share.scheme}://{share.netloc}" == live_api.base

    context, page, seen = open_page(browser, live_api.share_url)
    try:
        assert_maps_render(page, live_api)
        assert_nothing_ran_or_left(page, seen, live_api.base)
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "report-shared.png"), full_page=True)
    finally:
        context.close()


def test_the_page_needs_a_key_when_not_shared(browser: Any, live_api: LiveApi) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        response = page.goto(f"{live_api.base}/v1/boards/{live_api.board_id}/report.html")
        assert response is not None
        assert response.status == 401
        assert page.locator("svg.vsm-map").count() == 0
    finally:
        context.close()


@pytest.mark.parametrize(
    ("paper", "landscape", "size_pt"),
    [("A4", True, (841.9, 595.3)), ("A4", False, (595.3, 841.9)), ("A3", True, (1190.6, 841.9))],
)
def test_the_page_prints_on_the_paper_the_printer_chooses(
    browser: Any, live_api: LiveApi, paper: str, landscape: bool, size_pt: tuple[float, float]
) -> None:
    context, page, _ = open_page(
        browser, f"{live_api.base}/v1/boards/{live_api.board_id}/report.html", live_api.auth
    )
    try:
        pdf = page.pdf(format=paper, landscape=landscape, print_background=True)
        boxes = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)
        # every stream starts a page of its own, on the paper asked for (the page pins none)
        assert len(boxes) >= live_api.stream_count
        for width, height in boxes:
            assert abs(float(width) - size_pt[0]) < 2
            assert abs(float(height) - size_pt[1]) < 2
    finally:
        context.close()


def test_the_report_fits_a_phone_with_readable_titles_and_a_pannable_map(
    browser: Any, live_api: LiveApi
) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, extra_http_headers=live_api.auth
    )
    try:
        page = context.new_page()
        page.goto(f"{live_api.base}/v1/boards/{live_api.board_id}/report.html")
        page_width = page.evaluate("document.documentElement.scrollWidth")
        title_cell = page.locator("table.steps tr td:nth-child(2)").first.bounding_box()
        svg = page.locator("svg.vsm-map").first
        drawn = svg.bounding_box()
        natural = float(svg.get_attribute("width") or 0)
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "report-phone.png"))
    finally:
        context.close()

    assert page_width <= 390
    assert title_cell is not None
    assert title_cell["width"] >= 120
    assert drawn is not None
    assert drawn["width"] >= natural * 0.99


def test_printed_maps_are_drawn_at_full_size_in_tiles_with_no_text_below_8_pt(
    browser: Any, live_api: LiveApi
) -> None:
    context, page, _ = open_page(
        browser, f"{live_api.base}/v1/boards/{live_api.board_id}/report.html", live_api.auth
    )
    try:
        page.emulate_media(media="print")
        tiles = page.evaluate(
            """() => [...document.querySelectorAll('svg.print-tile')].map(t => {
                const box = t.getBoundingClientRect();
                return [box.width, Number(t.getAttribute('width')), t.viewBox.baseVal.width];
            })"""
        )
        smallest_pt = page.evaluate(
            """() => Math.min(...[...document.querySelectorAll('svg.vsm-map text')]
                .map(t => parseFloat(getComputedStyle(t).fontSize) * 0.75))"""
        )
        map_room = page.locator("svg.vsm-map").first.evaluate(
            "m => m.parentElement.getBoundingClientRect().width"
        )
    finally:
        context.close()

    assert len(tiles) >= live_api.stream_count
    assert all(drawn == width == view for drawn, width, view in tiles)  # 1:1, not shrunk
    assert smallest_pt >= 8
    assert map_room == 0  # the tiles draw the map on paper
