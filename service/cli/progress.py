"""Progress on a terminal for long CLI work: pages and items fetched, rate-limit waits, retries.

Shown on stderr only when it is a terminal and ``--quiet`` is not given; a pipe, a file or a
test capture gets nothing. The connectors are not changed for it: the watch sees every provider
response through an httpx event hook and every wait through the connectors' injectable
``Clock``, which is how a 2-minute dump under a tight rate limit shows it is waiting, not hung.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import httpx
from rich.console import Console
from rich.live import Live
from rich.text import Text

from connectors.http import Clock
from connectors.progress import FetchTally
from service.cli.terminal import show_progress

__all__ = ["FetchWatch", "live_line", "show_progress"]


class FetchWatch(FetchTally):
    """What a provider fetch has done so far, as one line for people.

    ``on_response`` is an httpx response hook (pages, items, the provider's total, 429 and 5xx
    answers that the connector retries); ``clock`` is a connector ``Clock`` whose sleeps are
    shown as a wait with the seconds left. ``now`` is injectable for tests.
    """

    def __init__(self, label: str, now: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.label = label
        self._now = now
        self._wait_until = 0.0
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    @property
    def hooks(self) -> dict[str, list[Callable[[httpx.Response], Awaitable[None]]]]:
        return {"response": [self.on_response]}

    @property
    def clock(self) -> Clock:
        return Clock(sleep=self.sleep, waiting=self.waiting)

    async def sleep(self, seconds: float) -> None:
        self.waiting(seconds)
        await self._sleep(seconds)

    def waiting(self, seconds: float) -> None:
        """A wait of ``seconds`` starts now (a pacing sleep, or a retry's wait)."""
        self._wait_until = max(self._wait_until, self._now() + seconds)

    def line(self) -> Text:
        """``Miro: 12 pages, 3,200/15,147 items · waiting for the rate limit, 23 s left``."""
        items = f"{self.items:,}/{self.total:,}" if self.total else f"{self.items:,}"
        text = f"{self.label}: {self.pages:,} pages, {items} items fetched"
        left = self._wait_until - self._now()
        if left >= 0.5:
            text += f" · waiting for the rate limit, {left:.0f} s left"
        if self.retries:
            text += f" · {self.retries} {'retry' if self.retries == 1 else 'retries'}"
        return Text(text)


@contextmanager
def live_line(render: Callable[[], Text], enabled: bool) -> Iterator[None]:
    """Redraw ``render()`` on stderr four times a second while the block runs; removed after."""
    if not enabled:
        yield
        return
    with Live(
        get_renderable=render,
        console=Console(stderr=True),
        refresh_per_second=4,
        transient=True,
    ):
        yield
