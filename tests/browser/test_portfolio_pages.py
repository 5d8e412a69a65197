"""The front door's pages across boards in headless Chromium: the portfolio with its scatter
chart, the board page's labels form and trend charts, and a recurring problem's link to its step
on the report. Nothing runs or is fetched from elsewhere. Screenshots go to ``test-output/``
(docs/make_pictures.py --web copies them into the docs).

The module's server holds the German example board (two hostile stickies), then its March
follow-up workshop as its second revision, the Mural example board, and another workspace's
board that must never show.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from tests.browser.conftest import OUTPUT, ROOT, LiveApi
from tests.browser.test_report_page import Observed, browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

__all__ = ["browser"]

MARCH = ROOT / "examples" / "miro-abo-workshop-march.json"
MURAL = ROOT / "examples" / "mural-app-release.json"
FOREIGN_NAME = "Foreign workspace board"


def _import(client: httpx.Client, body: bytes) -> int:
    job = client.post("/v1/imports", content=body, headers={"Content-Type": "application/json"})
    assert job.status_code == 202, job.text
    deadline = time.monotonic() + 60
    while True:
        state = client.get(f"/v1/imports/{job.json()['id']}").json()
        if state["status"] not in ("queued", "running") or time.monotonic() > deadline:
            break
        time.sleep(0.1)  # waiting for the embedded worker, as the module fixture does
    assert state["status"] == "succeeded", state
    return int(state["board_id"])


@pytest.fixture(scope="module")
def across_boards(live_api: LiveApi, tmp_path_factory: pytest.TempPathFactory) -> LiveApi:
    """The live API with the March revision, the Mural board (labelled) and a foreign board."""
    with httpx.Client(base_url=live_api.base, headers=live_api.auth, timeout=30) as client:
        assert _import(client, MARCH.read_bytes()) == live_api.board_id
        mural = _import(client, MURAL.read_bytes())
        labelled = client.put(
            f"/v1/boards/{mural}/labels", json={"labels": {"client": "acme-mobility"}}
        )
        assert labelled.status_code == 200, labelled.text
    foreign_key = _foreign_key(live_api)
    foreign = MARCH.read_text(encoding="utf-8").replace(
        "Allied Medien AG – VSM Digital-Abo",  # noqa: RUF001 - the board's own dash
        FOREIGN_NAME,
    )
    headers = {"Authorization": f"Bearer {foreign_key}"}
    with httpx.Client(base_url=live_api.base, headers=headers, timeout=30) as client:
        _import(client, foreign.encode("utf-8"))
    return live_api


def _foreign_key(live_api: LiveApi) -> str:
    """A key of a second workspace on the same database."""
    from service.db.engine import create_db_engine
    from service.usecases.keys import create_api_key

    engine = create_db_engine(live_api.database_url)
    try:
        with Session(engine) as session:
            secret = create_api_key(session, "someone-else").secret
            session.commit()
    finally:
        engine.dispose()
    return secret


@pytest.fixture
def signed_in(browser: Any, across_boards: LiveApi) -> Iterator[tuple[Any, Observed]]:
    """A fresh browser context signed in through the form, with what it requested."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    seen = Observed()
    page.on("pageerror", lambda e: seen.page_errors.append(str(e)))
    page.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: seen.requests.append(r.url))
    page.on("dialog", lambda d: (seen.dialogs.append(d.message), d.dismiss()))
    page.goto(f"{across_boards.base}/web/boards")
    page.fill("#api_key", across_boards.key)
    page.click("form.narrow button[type=submit]")
    page.wait_for_load_state("load")
    try:
        yield page, seen
    finally:
        context.close()


def _clean(page: Any, seen: Observed, base: str) -> None:
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert seen.page_errors == []
    assert seen.console_errors == []
    assert seen.dialogs == []
    assert [url for url in seen.requests if not url.startswith(base + "/")] == []


def test_the_portfolio_page_shows_the_table_and_the_labelled_scatter_and_sorts(
    signed_in: tuple[Any, Observed], across_boards: LiveApi
) -> None:
    page, seen = signed_in
    page.click("header.top nav a:text-is('Portfolio')")
    page.wait_for_load_state("load")
    boards = page.locator("table.portfolio tbody tr").all_inner_texts()
    dots = page.locator("figure.chart svg circle")
    dot_boxes = [dots.nth(i).bounding_box() for i in range(dots.count())]
    dot_labels = page.locator("figure.chart svg a text").count()
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "web-portfolio.png"), full_page=True)

    page.click("table.portfolio th a:text-is('Lead time')")
    page.wait_for_load_state("load")
    sorted_by = page.get_attribute("th[aria-sort]", "aria-sort")
    page.click("figure.chart svg a >> nth=0")
    page.wait_for_load_state("load")

    assert len(boards) == 2  # the two boards' current states; the target states are gaps
    assert not any(FOREIGN_NAME in text for text in boards)
    assert len(dot_boxes) == 2
    assert all(box is not None and box["width"] > 4 for box in dot_boxes)
    assert dot_labels == 2
    assert sorted_by == "descending"
    assert "/web/boards/" in page.url
    _clean(page, seen, across_boards.base)


def test_the_board_page_sets_and_removes_a_label_and_shows_the_trend_charts(
    signed_in: tuple[Any, Observed], across_boards: LiveApi
) -> None:
    page, seen = signed_in
    page.goto(f"{across_boards.base}/web/boards/{across_boards.board_id}")
    page.fill("#label_key", "client")
    page.fill("#label_value", "allied-medien")
    page.click("form.set-label button[type=submit]")
    page.wait_for_load_state("load")
    shown = page.locator("ul.labels .label").all_inner_texts()
    charts = page.locator(".trend-charts img")
    widths = [charts.nth(i).evaluate("img => img.naturalWidth") for i in range(charts.count())]
    page.locator("#trends").scroll_into_view_if_needed()
    page.screenshot(path=str(OUTPUT / "web-board-labels-trends.png"), full_page=True)

    page.goto(f"{across_boards.base}/web/portfolio?label=client:allied-medien")
    filtered = page.locator("table.portfolio tbody tr").count()
    page.goto(f"{across_boards.base}/web/boards/{across_boards.board_id}")
    page.click("ul.labels form.remove button")
    page.wait_for_load_state("load")
    remaining = page.locator("ul.labels .label").count()

    assert shown == ["client: allied-medien"]
    assert page.url.endswith("#labels")
    assert widths == [760, 760]  # both charts loaded with the session cookie
    assert filtered == 1
    assert remaining == 0
    _clean(page, seen, across_boards.base)


def test_a_recurring_problem_links_to_its_step_on_the_boards_report(
    signed_in: tuple[Any, Observed], across_boards: LiveApi
) -> None:
    page, seen = signed_in
    page.click("header.top nav a:text-is('Recurring problems')")
    page.wait_for_load_state("load")
    groups = page.locator("section.group")
    group_count = groups.count()
    first_group = groups.nth(0).locator("h2").inner_text()
    page_text = page.inner_text("main")
    page.screenshot(path=str(OUTPUT / "web-recurring-problems.png"), full_page=True)
    link = groups.nth(0).locator("a.step-link").nth(0)
    step_title = link.inner_text()

    link.click()
    page.wait_for_load_state("load")
    anchor = page.evaluate("location.hash.slice(1)")
    target = page.locator(f"tr[id='{anchor}']")
    in_view = target.evaluate(
        "row => { const r = row.getBoundingClientRect();"
        " return r.top >= 0 && r.bottom <= window.innerHeight; }"
    )
    marked = page.evaluate(
        "document.querySelector(':target') && document.querySelector(':target').id"
    )

    assert group_count >= 1
    assert "Spam" in first_group
    assert FOREIGN_NAME not in page_text
    assert "/v1/boards/" in page.url
    assert "/report.html#" in page.url
    assert target.count() == 1
    assert step_title in target.inner_text()
    assert in_view is True, in_view
    assert marked == anchor
    _clean(page, seen, across_boards.base)


def test_the_portfolio_works_on_a_phone_without_sideways_scrolling(
    signed_in: tuple[Any, Observed], across_boards: LiveApi
) -> None:
    page, _ = signed_in
    page.set_viewport_size({"width": 390, "height": 844})
    widths = {}
    for path in ("/web/portfolio", "/web/portfolio/problems"):
        page.goto(across_boards.base + path)
        widths[path] = page.evaluate("document.documentElement.scrollWidth")

    assert all(width <= 390 for width in widths.values()), widths
