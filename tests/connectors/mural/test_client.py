"""MuralClient against scripted responses: paging, expired next tokens, both rate buckets,
token refresh, and the error tree for 401/403/404."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from connectors.errors import (
    AuthError,
    ForbiddenError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    TransientError,
)
from connectors.http import Clock, MemoryRateBudget, RetryPolicy
from connectors.mural.client import MuralClient, change_marker

API = "https://app.mural.co/api/public/v1"
MURAL = "acme7380.1754493659737"
T0 = 1_800_000_000.0

pytestmark = pytest.mark.anyio


class FakeClock:
    """Time that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = T0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> Clock:
        return Clock(time=self.time, sleep=self.sleep)


class Tokens:
    """A token provider whose forced refresh moves to the next token of the list."""

    def __init__(self, *tokens: str) -> None:
        self.tokens = list(tokens)
        self.refreshes = 0

    async def __call__(self, *, force_refresh: bool = False) -> str:
        if force_refresh:
            self.refreshes += 1
            self.tokens.pop(0)
            if not self.tokens:
                raise AuthError("refresh refused", status=400)
        return self.tokens[0]


def _client(
    http: httpx.AsyncClient,
    clock: FakeClock,
    *,
    tokens: Tokens | None = None,
    app_budget: MemoryRateBudget | None = None,
    **kwargs: Any,
) -> MuralClient:
    return MuralClient(
        http,
        tokens or Tokens("tok-1"),
        MemoryRateBudget(),
        app_budget,
        API,
        clock=clock.clock(),
        policy=RetryPolicy(base_delay=0.01),
        **kwargs,
    )


def _page(ids: list[str], next_token: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"value": [{"id": i, "type": "sticky note"} for i in ids]}
    if next_token is not None:
        body["next"] = next_token
    return httpx.Response(200, json=body)


def _error(status: int, code: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": code}, headers=headers)


async def _ids(client: MuralClient) -> list[str]:
    return [w["id"] async for w in client.iter_widgets(MURAL)]


@respx.mock
async def test_every_widget_page_is_read_with_the_same_limit_and_the_previous_next_token() -> None:
    route = respx.get(f"{API}/murals/{MURAL}/widgets").mock(
        side_effect=[_page(["a", "b"], "n1"), _page(["c"], "n2"), _page([])]
    )

    async with httpx.AsyncClient() as http:
        ids = await _ids(_client(http, FakeClock(), page_limit=2))

    sent = [dict(call.request.url.params) for call in route.calls]
    assert ids == ["a", "b", "c"]
    assert sent == [{"limit": "2"}, {"limit": "2", "next": "n1"}, {"limit": "2", "next": "n2"}]


@respx.mock
async def test_an_expired_next_token_restarts_the_listing_and_yields_each_widget_once() -> None:
    route = respx.get(f"{API}/murals/{MURAL}/widgets").mock(
        side_effect=[
            _page(["a", "b"], "n1"),
            _error(400, "NEXT_TOKEN_EXPIRED"),
            _page(["a", "b"], "m1"),
            _page(["c"]),
        ]
    )

    async with httpx.AsyncClient() as http:
        ids = await _ids(_client(http, FakeClock()))

    assert ids == ["a", "b", "c"]
    assert "next" not in route.calls[2].request.url.params
    assert route.calls[3].request.url.params["next"] == "m1"


@respx.mock
async def test_a_next_token_that_keeps_expiring_gives_up_after_the_bounded_restarts() -> None:
    route = respx.get(f"{API}/murals/{MURAL}/widgets").mock(
        side_effect=lambda request: (
            _error(400, "NEXT_TOKEN_EXPIRED") if "next" in request.url.params else _page(["a"], "n")
        )
    )

    async with httpx.AsyncClient() as http:
        with pytest.raises(TransientError):
            await _ids(_client(http, FakeClock(), max_restarts=2))

    assert route.call_count == 6


@respx.mock
async def test_a_429_waits_for_the_user_reset_from_the_x_ratelimit_headers() -> None:
    clock = FakeClock()
    limited = _error(
        429,
        "RATE_LIMIT_EXCEEDED",
        **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(T0) + 2)},
    )
    route = respx.get(f"{API}/murals/{MURAL}").mock(
        side_effect=[limited, httpx.Response(200, json={"value": {"id": MURAL}})]
    )

    async with httpx.AsyncClient() as http:
        mural = await _client(http, clock).get_mural(MURAL)

    assert mural["id"] == MURAL
    assert route.call_count == 2
    assert clock.sleeps == [pytest.approx(2.0)]


@respx.mock
async def test_a_429_from_the_app_bucket_waits_for_the_app_reset_not_the_user_one() -> None:
    clock = FakeClock()
    limited = _error(
        429,
        "RATE_LIMIT_EXCEEDED",
        **{
            "x-ratelimit-remaining": "20",
            "x-ratelimit-reset": str(int(T0) + 1),
            "x-ratelimit-app-remaining": "0",
            "x-ratelimit-app-reset": str(int(T0) + 12),
        },
    )
    respx.get(f"{API}/murals/{MURAL}").mock(
        side_effect=[limited, httpx.Response(200, json={"value": {"id": MURAL}})]
    )

    async with httpx.AsyncClient() as http:
        await _client(http, clock, app_budget=MemoryRateBudget()).get_mural(MURAL)

    assert sum(clock.sleeps) == pytest.approx(12.0)


@respx.mock
async def test_an_exhausted_app_bucket_holds_the_next_call_until_its_reset_without_a_429() -> None:
    clock = FakeClock()
    emptied = httpx.Response(
        200,
        json={"value": {"id": "u1"}},
        headers={"x-ratelimit-app-remaining": "0", "x-ratelimit-app-reset": str(int(T0) + 7)},
    )
    route = respx.get(f"{API}/users/me").mock(
        side_effect=[emptied, httpx.Response(200, json={"value": {"id": "u1"}})]
    )
    app_budget = MemoryRateBudget()

    async with httpx.AsyncClient() as http:
        client = _client(http, clock, app_budget=app_budget)
        await client.get_me()
        await client.get_me()

    assert route.call_count == 2
    assert clock.sleeps == [pytest.approx(7.0)]


@respx.mock
async def test_a_long_app_wait_is_handed_back_as_rate_limited_instead_of_blocking() -> None:
    clock = FakeClock()
    limited = _error(
        429,
        "RATE_LIMIT_EXCEEDED",
        **{"x-ratelimit-app-remaining": "0", "x-ratelimit-app-reset": str(int(T0) + 55)},
    )
    respx.get(f"{API}/users/me").mock(return_value=limited)

    async with httpx.AsyncClient() as http:
        with pytest.raises(RateLimitedError) as caught:
            await _client(http, clock, app_budget=MemoryRateBudget()).get_me()

    assert caught.value.retry_after == pytest.approx(55.0)
    assert clock.sleeps == []


@pytest.mark.parametrize("status", [401, 403])
@respx.mock
async def test_an_expired_token_is_refreshed_once_and_the_call_repeated(status: int) -> None:
    tokens = Tokens("old", "new")
    route = respx.get(f"{API}/users/me").mock(
        side_effect=[
            _error(status, "TOKEN_EXPIRED"),
            httpx.Response(200, json={"value": {"id": "u1"}}),
        ]
    )

    async with httpx.AsyncClient() as http:
        me = await _client(http, FakeClock(), tokens=tokens).get_me()

    assert me["id"] == "u1"
    assert tokens.refreshes == 1
    auth = [call.request.headers["authorization"] for call in route.calls]
    assert auth == ["Bearer old", "Bearer new"]


@respx.mock
async def test_a_token_refused_again_after_the_refresh_is_an_auth_error() -> None:
    tokens = Tokens("old", "new", "newer")
    respx.get(f"{API}/users/me").mock(return_value=_error(401, "UNAUTHORIZED"))

    async with httpx.AsyncClient() as http:
        with pytest.raises(AuthError):
            await _client(http, FakeClock(), tokens=tokens).get_me()

    assert tokens.refreshes == 1


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (_error(403, "INVALID_SCOPE"), ForbiddenError),
        (_error(404, "MURAL_NOT_FOUND"), NotFoundError),
    ],
)
@respx.mock
async def test_missing_scope_and_unknown_mural_map_to_the_error_tree(
    response: httpx.Response, error: type[Exception]
) -> None:
    respx.get(f"{API}/murals/{MURAL}/widgets").mock(return_value=response)

    async with httpx.AsyncClient() as http:
        with pytest.raises(error) as caught:
            await _ids(_client(http, FakeClock()))

    assert "tok-1" not in str(caught.value)


@respx.mock
async def test_murals_of_a_room_and_of_a_workspace_use_their_own_paths() -> None:
    room = respx.get(f"{API}/rooms/42/murals").mock(return_value=_page(["r1"]))
    workspace = respx.get(f"{API}/workspaces/acme/murals").mock(return_value=_page(["w1"]))

    async with httpx.AsyncClient() as http:
        client = _client(http, FakeClock())
        in_room = [m["id"] async for m in client.iter_murals(room_id=42)]
        in_workspace = [
            m["id"] async for m in client.iter_murals(workspace_id="acme", sort_by="lastModified")
        ]

    assert (in_room, in_workspace) == (["r1"], ["w1"])
    assert room.called
    assert workspace.calls.last.request.url.params["sortBy"] == "lastModified"


@respx.mock
async def test_workspaces_rooms_and_tags_are_listed_through_their_pages() -> None:
    respx.get(f"{API}/workspaces").mock(side_effect=[_page(["w1"], "n"), _page(["w2"])])
    respx.get(f"{API}/workspaces/w1/rooms").mock(return_value=_page(["r1"]))
    respx.get(f"{API}/murals/{MURAL}/tags").mock(return_value=_page(["t1"]))

    async with httpx.AsyncClient() as http:
        client = _client(http, FakeClock())
        workspaces = [w["id"] async for w in client.iter_workspaces()]
        rooms = [r["id"] async for r in client.iter_rooms("w1")]
        tags = [t["id"] async for t in client.iter_tags(MURAL)]

    assert (workspaces, rooms, tags) == (["w1", "w2"], ["r1"], ["t1"])


@respx.mock
async def test_fetch_mural_writes_the_dump_with_votes_summed_over_voting_sessions() -> None:
    respx.get(f"{API}/murals/{MURAL}").respond(
        json={"value": {"id": MURAL, "title": "VSM", "updatedOn": 1754500000000}}
    )
    respx.get(f"{API}/murals/{MURAL}/widgets").mock(side_effect=[_page(["a"], "n"), _page(["b"])])
    respx.get(f"{API}/murals/{MURAL}/tags").respond(json={"value": [{"id": "t1", "text": "x"}]})
    respx.get(f"{API}/murals/{MURAL}/voting-sessions").respond(
        json={"value": [{"id": "s1", "title": "Dot vote"}, {"id": "s2", "title": "Again"}]}
    )
    respx.get(f"{API}/murals/{MURAL}/voting-sessions/s1/results").respond(
        json={"value": [{"widgetId": "a", "totalVotes": 3, "uniqueVoters": 2}]}
    )
    respx.get(f"{API}/murals/{MURAL}/voting-sessions/s2/results").respond(
        json={"value": [{"widgetId": "a", "totalVotes": 1}, {"widgetId": "b", "totalVotes": 2}]}
    )

    async with httpx.AsyncClient() as http:
        dump = await _client(http, FakeClock()).fetch_mural(MURAL)

    assert dump["provider"] == "mural"
    assert dump["mural"]["title"] == "VSM"
    assert [w["id"] for w in dump["widgets"]] == ["a", "b"]
    assert dump["tags"] == [{"id": "t1", "text": "x"}]
    assert dump["votes"] == {"a": 4, "b": 2}
    voting = [
        call.request.url for call in respx.calls if "/voting-sessions" in call.request.url.path
    ]
    # the documented parameters only: R-RUBY's list_voting_sessions and
    # list_voting_session_results send ``next`` alone (mickaelpham/mural-ruby,
    # lib/mural/client/mural_content/facilitation_features.rb)
    assert len(voting) == 3
    assert all("limit" not in url.params for url in voting)


@pytest.mark.parametrize("status", [404, 403, 400])
@respx.mock
async def test_a_mural_whose_voting_results_are_refused_says_so_in_the_dump(status: int) -> None:
    respx.get(f"{API}/murals/{MURAL}").respond(json={"value": {"id": MURAL}})
    respx.get(f"{API}/murals/{MURAL}/widgets").respond(json={"value": []})
    respx.get(f"{API}/murals/{MURAL}/tags").respond(json={"value": []})
    respx.get(f"{API}/murals/{MURAL}/voting-sessions").mock(
        return_value=_error(status, "NOT_AVAILABLE")
    )

    async with httpx.AsyncClient() as http:
        dump = await _client(http, FakeClock()).fetch_mural(MURAL)

    assert set(dump) == {"provider", "mural", "widgets", "tags", "votes_unavailable"}
    assert "voting-sessions" in dump["votes_unavailable"]


@respx.mock
async def test_a_failing_widget_listing_fails_the_whole_fetch_with_its_own_error() -> None:
    respx.get(f"{API}/murals/{MURAL}").respond(json={"value": {"id": MURAL}})
    respx.get(f"{API}/murals/{MURAL}/widgets").mock(return_value=_error(404, "MURAL_NOT_FOUND"))
    respx.get(f"{API}/murals/{MURAL}/tags").respond(json={"value": []})
    respx.get(f"{API}/murals/{MURAL}/voting-sessions").respond(json={"value": []})

    async with httpx.AsyncClient() as http:
        with pytest.raises(NotFoundError):
            await _client(http, FakeClock()).fetch_mural(MURAL)


@respx.mock
async def test_a_mural_with_more_widgets_than_the_cap_fails_instead_of_growing() -> None:
    respx.get(f"{API}/murals/{MURAL}/widgets").mock(
        side_effect=lambda request: _page(
            [f"w{request.url.params.get('next', '0')}-{i}" for i in range(3)],
            str(int(request.url.params.get("next", "0")) + 1),
        )
    )

    async with httpx.AsyncClient() as http:
        with pytest.raises(ProviderError, match="more than 7"):
            await _ids(_client(http, FakeClock(), max_widgets=7))


@pytest.mark.parametrize(
    ("mural", "marker"),
    [
        ({"updatedOn": 1754500000000}, "1754500000000"),
        ({"updatedOn": 1754500000000.0}, "1754500000000"),
        ({"updatedOn": "yesterday"}, None),
        ({"updatedOn": True}, None),
        ({}, None),
    ],
)
def test_the_change_marker_is_updated_on_as_text_or_none(
    mural: dict[str, Any], marker: str | None
) -> None:
    assert change_marker(mural) == marker
