"""Mural behind the provider seam: browsing workspaces and murals with Mural's ``next`` paging
(the same ``limit`` on every page), budgets by user, and ids checked before any call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from connectors.http import MemoryRateBudget, StaticToken
from connectors.mural.provider import MuralProvider
from connectors.oauth import OAuthApp
from connectors.provider import Access, Browse
from testkit.standins.mural_server import MuralStandIn

pytestmark = pytest.mark.anyio

BASE = "http://mural.test/api/public/v1"
APP = OAuthApp("cid", "secret", "https://vsm.example/cb", BASE, BASE + "/authorization/oauth2/")


@pytest.fixture
async def mural_http(mural: MuralStandIn) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=mural.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://mural.test") as http:
        yield http


def provider_and_access(mural: MuralStandIn) -> tuple[MuralProvider, Access, list[str]]:
    budgets: list[str] = []

    def user_budget(identity: str) -> MemoryRateBudget:
        budgets.append(identity)
        return MemoryRateBudget()

    access = Access(StaticToken(mural.issue_token("u1")), 7, "u1")
    return MuralProvider(APP, user_budget, MemoryRateBudget()), access, budgets


async def test_murals_page_with_the_same_limit_and_read_as_boards(
    mural: MuralStandIn, mural_http: httpx.AsyncClient
) -> None:
    for n in range(3):
        mural.add_mural(f"acme7380.17544936597{n:02d}", f"Mural {n}", updated_on=1754500000000)
    provider, access, budgets = provider_and_access(mural)
    browse = Browse(kind="murals", workspace_id="acme7380", limit=2)

    first = await provider.browse(mural_http, access, browse)
    rest = await provider.browse(
        mural_http,
        access,
        Browse(kind="murals", workspace_id="acme7380", limit=50, position=first.next_position),
    )

    assert (first.items[0].kind, first.items[0].name, first.items[0].modified_at) == (
        "board",
        "Mural 0",
        "2025-08-06T17:06:40Z",
    )
    assert (len(first.items), len(rest.items), rest.next_position) == (2, 1, None)
    assert rest.limit == 2  # the position's limit wins: Mural wants it on every page
    assert [r.query["limit"] for r in mural.api_calls("/murals")] == ["2", "2"]
    assert set(budgets) == {"user:u1"}


async def test_workspaces_come_first_and_are_containers(
    mural: MuralStandIn, mural_http: httpx.AsyncClient
) -> None:
    provider, access, _ = provider_and_access(mural)

    page = await provider.browse(mural_http, access, Browse())

    assert [(i.kind, i.id) for i in page.items] == [("workspace", "acme7380")]


@pytest.mark.parametrize(
    "browse",
    [
        Browse(kind="boards"),
        Browse(kind="rooms"),
        Browse(kind="murals"),
        Browse(kind="murals", workspace_id="w", room_id="1"),
        Browse(position={"next": "abc", "limit": 0}),
        Browse(position={"offset": 2}),
    ],
)
async def test_a_listing_mural_cannot_answer_is_refused_before_any_call(
    mural: MuralStandIn, mural_http: httpx.AsyncClient, browse: Any
) -> None:
    provider, access, _ = provider_and_access(mural)

    with pytest.raises(ValueError, match=r"kind|listed|Mural listing"):
        await provider.browse(mural_http, access, browse)

    assert mural.api_calls() == []


@pytest.mark.parametrize("external_id", ["uXjVO1a2b3c=", "acme7380", "a.b.c", "acme/1.2"])
def test_only_a_mural_id_passes_the_id_check(external_id: str) -> None:
    provider, _, _ = provider_and_access(MuralStandIn())

    with pytest.raises(ValueError, match="Mural id"):
        provider.check_external_id(external_id)
