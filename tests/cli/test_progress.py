"""The CLI's progress line: pages and items, rate-limit waits with seconds left, retries."""

from __future__ import annotations

import asyncio
import io

import httpx
import pytest

from connectors.http import request
from service.cli.progress import FetchWatch, show_progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def page(items: int, total: int | None = None, key: str = "data") -> httpx.Response:
    body: dict[str, object] = {key: [{"id": str(i)} for i in range(items)]}
    if total is not None:
        body["total"] = total
    return httpx.Response(200, json=body)


def watched(clock: FakeClock) -> FetchWatch:
    watch = FetchWatch("Miro", now=lambda: clock.now)
    watch._sleep = clock.sleep
    return watch


def test_pages_and_items_count_up_against_the_boards_total() -> None:
    watch = watched(FakeClock())

    async def run() -> None:
        await watch.on_response(page(50, total=15_147))
        await watch.on_response(page(50, total=40))  # a per-type listing: not the board total
        await watch.on_response(page(30, key="value"))  # Mural pages list under "value"

    asyncio.run(run())

    assert watch.line().plain == "Miro: 3 pages, 130/15,147 items fetched"


def test_a_rate_limit_wait_shows_the_seconds_left_and_retries_are_counted() -> None:
    clock = FakeClock()
    watch = watched(clock)

    async def run() -> None:
        await watch.on_response(httpx.Response(429))
        await watch.on_response(httpx.Response(503))
        await watch.clock.sleep(60.0)

    asyncio.run(run())
    clock.now += 37.0
    while_waiting = watch.line().plain
    clock.now += 30.0
    after = watch.line().plain

    assert clock.slept == [60.0]
    assert while_waiting.endswith("waiting for the rate limit, 23 s left · 2 retries")
    assert "waiting" not in after


def test_a_429_retry_wait_of_a_real_call_shows_in_the_line() -> None:
    clock = FakeClock()
    watch = watched(clock)
    limited = httpx.Response(429, headers={"Retry-After": "12"})

    async def run() -> None:
        transport = httpx.MockTransport(
            lambda request: limited if not watch.retries else httpx.Response(200, json={})
        )
        async with httpx.AsyncClient(transport=transport, event_hooks=watch.hooks) as http:
            await request(http, "GET", "https://api.miro.test/v2/boards/b", clock=watch.clock)

    asyncio.run(run())

    assert watch.line().plain.endswith("waiting for the rate limit, 12 s left · 1 retry")


@pytest.mark.parametrize(("quiet", "tty", "shown"), [(False, True, True), (True, True, False)])
def test_progress_shows_on_a_terminal_unless_quiet(quiet: bool, tty: bool, shown: bool) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return tty

    assert show_progress(quiet, Terminal()) is shown


def test_progress_stays_off_a_pipe() -> None:
    assert show_progress(False, io.StringIO()) is False
