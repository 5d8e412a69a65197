"""The Mural connector over a real socket against the stand-in: OAuth, expired token, paging,
an expired next token, voting results, and the dump normalized by load_dump and digitized."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from connectors.dump import load_dump
from connectors.http import MemoryRateBudget, StaticToken
from connectors.mural.client import MuralClient
from connectors.mural.oauth import MuralTokens, authorize_url, exchange_code, new_pkce, refresh
from service.domain.board import ItemKind
from service.domain.digitize import digitize
from testkit.builders import mural_area, mural_arrow, mural_dump, mural_sticky, mural_tag
from testkit.standins.mural_server import MuralStandIn

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[3]


class RefreshingTokens:
    """The smallest token provider that refreshes through the OAuth endpoint."""

    def __init__(self, http: httpx.AsyncClient, oauth_url: str, stand_in: MuralStandIn) -> None:
        self.http, self.oauth_url, self.stand_in = http, oauth_url, stand_in
        self.tokens: MuralTokens | None = None
        self.refreshes = 0

    async def __call__(self, *, force_refresh: bool = False) -> str:
        assert self.tokens is not None
        if force_refresh:
            self.refreshes += 1
            self.tokens = await refresh(
                self.http,
                self.oauth_url + "refresh",
                self.stand_in.client_id,
                self.stand_in.client_secret,
                self.tokens.refresh_token or "",
            )
        return self.tokens.access_token


def _workshop() -> dict[str, object]:
    filler = [mural_sticky(f"f{i}", f"note {i}", 5000 + i, 5000) for i in range(230)]
    return mural_dump(
        [
            mural_area("outer", "Current state", 100, 100, w=3000, h=1500),
            mural_area("inner", "Order to cash", 50, 60, w=1200, h=800, parent="outer"),
            mural_sticky("s1", "Take order", 10, 20, parent="inner", tags=["tag-p"]),
            mural_sticky("s2", "Ship it", 400, 20, parent="inner"),
            mural_sticky("p1", "Orders typed twice", 10, 220, "red", parent="inner"),
            mural_arrow("a1", "s1", "s2", "handoff"),
            *filler,
        ],
        [mural_tag("tag-p", "Process")],
    )


async def test_a_mural_imports_over_a_socket_through_refresh_restart_and_three_pages(
    mural: MuralStandIn, mural_url: str
) -> None:
    mural_id = mural.add_dump(_workshop())
    mural.add_votes(mural_id, "s-1", {"s2": 3, "p1": 1})
    mural.add_votes(mural_id, "s-2", {"p1": 2})
    oauth_url = mural_url + mural.prefix + "/authorization/oauth2/"
    verifier, _ = new_pkce()

    async with httpx.AsyncClient() as http:
        consent = await http.get(
            authorize_url(oauth_url, mural.client_id, mural.redirect_uris[0], "st", verifier)
        )
        code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
        tokens = RefreshingTokens(http, oauth_url, mural)
        tokens.tokens = await exchange_code(
            http,
            oauth_url + "token",
            mural.client_id,
            mural.client_secret,
            code,
            mural.redirect_uris[0],
            verifier,
        )
        mural.access_tokens[tokens.tokens.access_token].expires_at = 0  # expired in between
        mural.expire_next_tokens_on_use = 1
        client = MuralClient(
            http, tokens, MemoryRateBudget(), MemoryRateBudget(), mural_url + mural.prefix
        )
        dump = await client.fetch_mural(mural_id)

    board = load_dump(dump)
    items = {item.id: item for item in board.items}
    widget_calls = mural.api_calls("/widgets")
    assert tokens.refreshes == 1
    assert len(dump["widgets"]) == 236
    assert {call.query["limit"] for call in widget_calls} == {"100"}
    assert sum(call.status == 400 for call in widget_calls) == 1
    assert dump["votes"] == {"s2": 3, "p1": 3}
    assert (items["p1"].votes, items["s2"].votes) == (3, 3)
    problems = [p for s in digitize(board)["streams"] for p in s["problems"]]
    assert [(p["text"], p["weight"]) for p in problems] == [("Orders typed twice", 3)]
    assert items["s1"].text == "Take order"
    assert items["s1"].containers == ("inner", "outer")
    assert items["s1"].geometry is not None
    assert (items["s1"].geometry.x, items["s1"].geometry.y) == (
        100 + 50 + 10 + 84,
        100 + 60 + 20 + 84,
    )
    assert items["s1"].kind is ItemKind.STICKY
    assert items["s1"].tags == ("Process",)
    assert [(c.start_id, c.end_id, c.text) for c in board.connectors] == [("s1", "s2", "handoff")]


async def test_the_example_mural_fetched_live_digitizes_like_its_dump_file(
    mural: MuralStandIn, mural_url: str
) -> None:
    example = json.loads((ROOT / "examples" / "mural-app-release.json").read_text())
    mural_id = mural.add_dump(example)

    async with httpx.AsyncClient() as http:
        client = MuralClient(
            http,
            StaticToken(mural.issue_token()),
            MemoryRateBudget(),
            MemoryRateBudget(),
            mural_url + mural.prefix,
            page_limit=30,
        )
        live = await client.fetch_mural(mural_id)

    assert len(mural.api_calls("/widgets")) == 3
    assert digitize(load_dump(live)) == digitize(load_dump(example))


@pytest.mark.parametrize("path", ["voting-sessions", "voting-sessions/s-1/results"])
async def test_the_stand_in_refuses_limit_on_voting_endpoints_as_no_source_documents_it(
    mural: MuralStandIn, mural_url: str, path: str
) -> None:
    """The voting listings take ``next`` only (R-RUBY, mickaelpham/mural-ruby
    facilitation_features.rb); a stand-in that accepted ``limit`` would hide a client bug."""
    mural_id = mural.add_dump(_workshop())
    mural.add_votes(mural_id, "s-1", {"s2": 3})
    url = f"{mural_url}{mural.prefix}/murals/{mural_id}/{path}"
    headers = {"Authorization": f"Bearer {mural.issue_token()}"}

    async with httpx.AsyncClient() as http:
        with_limit = await http.get(url, params={"limit": 100}, headers=headers)
        without = await http.get(url, headers=headers)

    assert (with_limit.status_code, with_limit.json()["code"]) == (400, "LIMIT_INVALID")
    assert without.status_code == 200
