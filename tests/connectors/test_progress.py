"""The fetch tally counts what a provider's listings answer, whatever order they come in."""

from __future__ import annotations

import asyncio
import itertools

import httpx
import pytest

from connectors.progress import FetchTally

API = "https://api.miro.com/v2/boards/b1"


def listing(path: str, items: int, total: int) -> httpx.Response:
    body = {"data": [{"id": str(i)} for i in range(items)], "total": total}
    return httpx.Response(200, json=body, request=httpx.Request("GET", f"{API}/{path}"))


PAGES = [
    listing("items", 50, 131),
    listing("connectors", 0, 0),
    listing("tags", 2, 2),
    listing("items", 50, 131),
    listing("items?type=sticky_note", 30, 120),  # a sweep of one type: same listing
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_the_total_is_what_every_listing_says_whichever_answers_first(
    order: tuple[int, ...],
) -> None:
    seen: list[tuple[int, int | None]] = []
    tally = FetchTally(lambda t: seen.append((t.items, t.total)))

    async def run() -> None:
        for index in (*order, 3, 4):
            await tally.on_response(PAGES[index])

    asyncio.run(run())

    assert (tally.pages, tally.items, tally.total) == (5, 132, 133)
    assert seen[-1] == (132, 133)
    assert len(seen) == 5
