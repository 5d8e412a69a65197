"""Miro behind the provider seam: browsing pages through the account's boards by offset."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.http import MemoryRateBudget, StaticToken
from connectors.miro.provider import MiroProvider
from connectors.oauth import OAuthApp
from connectors.provider import Access, Browse
from testkit.builders import to_miro_dump
from testkit.standins.miro_server import MiroStandIn

pytestmark = pytest.mark.anyio

APP = OAuthApp("cid", "secret", "https://vsm.example/cb", "http://miro.test", "http://miro.test/a")


def provider_and_access(miro: MiroStandIn) -> tuple[MiroProvider, Access, list[str]]:
    budgets: list[str] = []

    def budget_for(identity: str) -> MemoryRateBudget:
        budgets.append(identity)
        return MemoryRateBudget()

    token, _ = miro.issue_token()
    return MiroProvider(APP, budget_for), Access(StaticToken(token), 7, "u-1"), budgets


async def test_browsing_walks_the_boards_by_offset_on_the_connections_budget(
    miro: MiroStandIn, miro_http: httpx.AsyncClient
) -> None:
    for n in range(3):
        miro.add_board(to_miro_dump([], board_id=f"b{n}=", name=f"Board {n}"))
    provider, access, budgets = provider_and_access(miro)

    first = await provider.browse(miro_http, access, Browse(limit=2))
    rest = await provider.browse(miro_http, access, Browse(limit=2, position=first.next_position))

    assert [(i.kind, i.id, i.name) for i in first.items] == [
        ("board", "b0=", "Board 0"),
        ("board", "b1=", "Board 1"),
    ]
    assert first.next_position == {"offset": 2}
    assert ([i.id for i in rest.items], rest.next_position) == (["b2="], None)
    assert set(budgets) == {"connection:7"}
    assert [q["offset"] for _, _, q in miro.calls("/v2/boards")] == ["0", "2"]


@pytest.mark.parametrize(
    "browse",
    [
        Browse(kind="murals"),
        Browse(position={"offset": -1}),
        Browse(position={"offset": "2"}),
        Browse(position={"next": "abc"}),
    ],
)
async def test_a_listing_miro_cannot_answer_is_refused_before_any_call(
    miro: MiroStandIn, miro_http: httpx.AsyncClient, browse: Any
) -> None:
    provider, access, _ = provider_and_access(miro)

    with pytest.raises(ValueError, match="Miro"):
        await provider.browse(miro_http, access, browse)

    assert miro.calls("/v2/boards") == []


async def test_the_limit_is_capped_at_miros_fifty(
    miro: MiroStandIn, miro_http: httpx.AsyncClient
) -> None:
    provider, access, _ = provider_and_access(miro)

    page = await provider.browse(miro_http, access, Browse(limit=200))

    assert page.limit == 50
    assert [q["limit"] for _, _, q in miro.calls("/v2/boards")] == ["50"]
