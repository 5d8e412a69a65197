"""MiroClient: paging, auth headers, token refresh, error mapping and the whole-board fetch."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import httpx
import pytest
import respx

from connectors.errors import (
    AuthError,
    ForbiddenError,
    NotFoundError,
    ProviderError,
    TransientError,
)
from connectors.http import Clock, MemoryRateBudget, RetryPolicy, StaticToken
from connectors.miro.client import MiroClient
from testkit.builders import (
    Frame,
    Link,
    Note,
    miro_dump,
    miro_frame,
    miro_id,
    miro_item,
    miro_sticky,
    miro_tag,
    to_miro_dump,
)
from testkit.standins.miro_server import MiroStandIn

pytestmark = pytest.mark.anyio

API = "https://api.miro.test"
BOARD = "uXjVO1a2b3c="
ITEMS = f"{API}/v2/boards/{BOARD}/items"

Json = dict[str, Any]


class Tokens:
    """A token provider that rotates on every forced refresh and counts refreshes."""

    def __init__(self, *tokens: str, refuse_refresh: bool = False) -> None:
        self.tokens = list(tokens)
        self.current = self.tokens.pop(0)
        self.refreshes = 0
        self.refuse_refresh = refuse_refresh

    async def __call__(self, *, force_refresh: bool = False) -> str:
        if force_refresh:
            self.refreshes += 1
            await asyncio.sleep(0)
            if self.refuse_refresh or not self.tokens:
                raise AuthError("refresh refused (invalid_grant)", status=400)
            self.current = self.tokens.pop(0)
        return self.current


class FakeClock:
    """Wall time that moves only when someone sleeps; records the sleeps."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    @property
    def clock(self) -> Clock:
        return Clock(time=self.time, sleep=self.sleep)


def client(http: httpx.AsyncClient, tokens: Any = None, base_url: str = API) -> MiroClient:
    return MiroClient(
        http,
        tokens or StaticToken("tok-1"),
        MemoryRateBudget(),
        base_url,
        clock=FakeClock().clock,
    )


def page(ids: list[str], cursor: str | None = None, total: int | None = None) -> httpx.Response:
    body: Json = {"data": [miro_sticky(i, i, 0, 0) for i in ids], "size": len(ids), "limit": 50}
    if total is not None:
        body["total"] = total
    if cursor is not None:
        body["cursor"] = cursor
    return httpx.Response(200, json=body)


async def collect(listing: Any) -> list[Json]:
    return [item async for item in listing]


@respx.mock
async def test_items_follow_the_cursor_with_bearer_auth_until_a_page_has_no_cursor() -> None:
    route = respx.get(ITEMS).mock(
        side_effect=[page(["1", "2"], "c1", 5), page(["3", "4"], "c2", 5), page(["5"], None, 5)]
    )

    async with httpx.AsyncClient() as http:
        items = await collect(client(http).iter_items(BOARD))

    assert [i["id"] for i in items] == ["1", "2", "3", "4", "5"]
    sent = [call.request for call in route.calls]
    assert [r.url.params.get("cursor") for r in sent] == [None, "c1", "c2"]
    assert all(r.url.params["limit"] == "50" for r in sent)
    assert all(r.headers["authorization"] == "Bearer tok-1" for r in sent)


@respx.mock
async def test_an_empty_page_ends_the_listing_even_if_it_carries_a_cursor() -> None:
    route = respx.get(ITEMS).mock(side_effect=[page(["1"], "c1"), page([], "c2")])

    async with httpx.AsyncClient() as http:
        items = await collect(client(http).iter_items(BOARD))

    assert [i["id"] for i in items] == ["1"]
    assert route.call_count == 2


@respx.mock
async def test_a_cursor_that_comes_back_raises_instead_of_looping_forever() -> None:
    respx.get(ITEMS).mock(side_effect=[page(["1"], "c1"), page(["2"], "c2"), page(["3"], "c1")])

    async with httpx.AsyncClient() as http:
        with pytest.raises(ProviderError, match="repeated a cursor"):
            await collect(client(http).iter_items(BOARD))


@respx.mock
async def test_type_and_frame_filters_are_sent_as_query_parameters() -> None:
    route = respx.get(ITEMS).mock(return_value=page([]))

    async with httpx.AsyncClient() as http:
        await collect(client(http).iter_items(BOARD, type="sticky_note", parent_item_id="77"))

    params = route.calls.last.request.url.params
    assert (params["type"], params["parent_item_id"]) == ("sticky_note", "77")


@respx.mock
async def test_tags_use_offset_paging_until_total() -> None:
    tags = [miro_tag(str(i), f"T{i}") for i in range(60)]
    route = respx.get(f"{API}/v2/boards/{BOARD}/tags").mock(
        side_effect=[
            httpx.Response(200, json={"data": tags[:50], "total": 60, "offset": 0}),
            httpx.Response(200, json={"data": tags[50:], "total": 60, "offset": 50}),
        ]
    )

    async with httpx.AsyncClient() as http:
        got = await collect(client(http).iter_tags(BOARD))

    assert len(got) == 60
    assert [c.request.url.params["offset"] for c in route.calls] == ["0", "50"]


@respx.mock
async def test_a_401_forces_one_refresh_and_repeats_the_call_with_the_rotated_token() -> None:
    route = respx.get(f"{API}/v2/boards/{BOARD}").mock(
        side_effect=[httpx.Response(401), httpx.Response(200, json={"id": BOARD})]
    )
    tokens = Tokens("old", "new")

    async with httpx.AsyncClient() as http:
        board = await client(http, tokens).get_board(BOARD)

    assert board["id"] == BOARD
    assert tokens.refreshes == 1
    auth = [c.request.headers["authorization"] for c in route.calls]
    assert auth == ["Bearer old", "Bearer new"]


@respx.mock
async def test_concurrent_401s_share_a_single_refresh() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "Bearer old":
            return httpx.Response(401)
        return httpx.Response(200, json={"id": BOARD})

    respx.get(f"{API}/v2/boards/{BOARD}").mock(side_effect=answer)
    tokens = Tokens("old", "new", "newer")

    async with httpx.AsyncClient() as http:
        miro = client(http, tokens)
        await asyncio.gather(*(miro.get_board(BOARD) for _ in range(5)))

    assert tokens.refreshes == 1


@respx.mock
async def test_a_token_refused_again_after_refresh_is_an_auth_error() -> None:
    route = respx.get(f"{API}/v2/boards/{BOARD}").mock(return_value=httpx.Response(401))
    tokens = Tokens("old", "new")

    async with httpx.AsyncClient() as http:
        with pytest.raises(AuthError):
            await client(http, tokens).get_board(BOARD)

    assert route.call_count == 2
    assert tokens.refreshes == 1


@respx.mock
async def test_a_refused_refresh_is_an_auth_error() -> None:
    respx.get(f"{API}/v2/boards/{BOARD}").mock(return_value=httpx.Response(401))

    async with httpx.AsyncClient() as http:
        with pytest.raises(AuthError, match="invalid_grant"):
            await client(http, Tokens("old", refuse_refresh=True)).get_board(BOARD)


@respx.mock
@pytest.mark.parametrize(("status", "error"), [(403, ForbiddenError), (404, NotFoundError)])
async def test_forbidden_and_missing_boards_raise_their_own_errors(
    status: int, error: type[Exception]
) -> None:
    body = {"status": status, "code": "x", "message": "no", "type": "error"}
    respx.get(f"{API}/v2/boards/{BOARD}").mock(return_value=httpx.Response(status, json=body))

    async with httpx.AsyncClient() as http:
        with pytest.raises(error):
            await client(http).get_board(BOARD)


@respx.mock
async def test_a_429_mid_listing_is_waited_out_and_the_listing_resumes() -> None:
    route = respx.get(ITEMS).mock(
        side_effect=[
            page(["1"], "c1"),
            httpx.Response(429, headers={"Retry-After": "2"}),
            page(["2"]),
        ]
    )
    sleeper = FakeClock()

    async with httpx.AsyncClient() as http:
        miro = MiroClient(http, StaticToken("t"), MemoryRateBudget(), API, clock=sleeper.clock)
        items = await collect(miro.iter_items(BOARD))

    assert [i["id"] for i in items] == ["1", "2"]
    assert route.call_count == 3
    assert route.calls[2].request.url.params["cursor"] == "c1"
    assert sleeper.sleeps == [2.0]


def workshop_layout() -> list[Any]:
    """Frames nested two deep, tagged stickies in each, connectors between them."""
    return [
        Frame("Current state", 0, 0, 3000, 1600),  # 0
        Frame("Process", -500, 0, 1400, 900, parent=0),  # 1
        Frame("Detail", -600, 50, 600, 500, parent=1),  # 2
        Note("Order entry\nPT 5 min", -700, 0, tags=("step",)),  # 3
        Note("Credit check\nLT 2 d", -500, 100, parent=2, tags=("step", "problem")),  # 4
        Note("Ship", 900, 300, parent=0, tags=("step",)),  # 5
        Note("Loose idea", 5000, 5000, color="green"),  # 6
        Link(3, 4),
        Link(4, 5, text="then"),
    ]


async def test_fetch_board_returns_the_dump_the_board_was_drawn_as(
    miro: MiroStandIn, miro_http: httpx.AsyncClient
) -> None:
    dump = to_miro_dump(workshop_layout())
    miro.add_board(dump)
    token, _ = miro.issue_token()

    fetched = await client(miro_http, StaticToken(token), "http://miro.test").fetch_board(BOARD)

    assert fetched["provider"] == "miro"
    assert fetched["board"]["id"] == BOARD
    assert sorted(i["id"] for i in fetched["items"]) == sorted(i["id"] for i in dump["items"])
    assert {i["id"]: i for i in fetched["items"]} == {i["id"]: i for i in dump["items"]}
    assert fetched["connectors"] == dump["connectors"]
    assert fetched["tags"] == dump["tags"]
    assert fetched["item_tags"] == dump["item_tags"]


async def test_item_tags_come_from_one_tag_id_listing_per_tag(
    miro: MiroStandIn, miro_http: httpx.AsyncClient
) -> None:
    miro.add_board(to_miro_dump(workshop_layout()))
    token, _ = miro.issue_token()

    fetched = await client(miro_http, StaticToken(token), "http://miro.test").fetch_board(BOARD)

    tag_calls = [c for c in miro.calls("/items") if "tag_id" in c[2]]
    assert sorted(c[2]["tag_id"] for c in tag_calls) == sorted(t["id"] for t in fetched["tags"])
    assert not [c for c in miro.requests if c[1].endswith("/tags") and "/items/" in c[1]]
    step, problem = (t["id"] for t in fetched["tags"])
    assert fetched["item_tags"][miro_id(4)] == [step, problem]


async def test_frames_nested_two_deep_normalize_to_absolute_positions(
    miro: MiroStandIn, miro_http: httpx.AsyncClient
) -> None:
    load_dump = pytest.importorskip("connectors.dump").load_dump
    layout = workshop_layout()
    miro.add_board(to_miro_dump(layout))
    token, _ = miro.issue_token()

    fetched = await client(miro_http, StaticToken(token), "http://miro.test").fetch_board(BOARD)
    board = load_dump(fetched)

    by_id = {item.id: item for item in board.items}
    deep = by_id[miro_id(4)]
    assert deep.geometry is not None
    assert (deep.geometry.x, deep.geometry.y) == pytest.approx((layout[4].x, layout[4].y))
    assert set(deep.containers) >= {miro_id(2)}


def big_board(frames: int, per_frame: int, loose: int) -> Json:
    items: list[Json] = []
    for f in range(frames):
        frame_id = str(9_000_000 + f)
        items.append(miro_frame(frame_id, f"F{f}", f * 3000.0, 0, 2800, 2800))
        for n in range(per_frame):
            items.append(miro_sticky(str(1_000_000 + f * 10_000 + n), "s", 50, 50, parent=frame_id))
    items += [miro_sticky(str(5_000_000 + n), "loose", -500, n) for n in range(loose)]
    return miro_dump(items)


@pytest.mark.parametrize("loose", [0, 30])
async def test_a_large_board_is_split_by_frame_and_every_item_comes_once(
    miro: MiroStandIn, miro_http: httpx.AsyncClient, loose: int
) -> None:
    dump = big_board(frames=6, per_frame=120, loose=loose)
    miro.add_board(dump)
    miro.latency = 0.002  # without any wait in-process calls would not interleave at all
    token, _ = miro.issue_token()

    items = await client(miro_http, StaticToken(token), "http://miro.test").fetch_items(BOARD)

    ids = sorted((i["id"] for i in dump["items"]), key=lambda s: (len(s), s))
    assert [i["id"] for i in items] == ids
    item_calls = [c for c in miro.calls("/items") if "tag_id" not in c[2]]
    frame_calls = [c for c in item_calls if "parent_item_id" in c[2]]
    sticky_calls = [c for c in item_calls if c[2].get("type") == "sticky_note"]
    if loose:  # stickies outside frames: the type-wide listing goes on, frame listings stop
        assert len(frame_calls) <= 6 + 6
    else:  # every sticky in a frame: the frame listings finish the type
        assert len(sticky_calls) - len(frame_calls) <= 3
    # One page per documented type, a first page per frame, a few in flight when they stop.
    sequential_pages = math.ceil(len(dump["items"]) / 50)
    assert len(item_calls) <= sequential_pages + 1 + 12 + 2 * 6 + 2


async def test_items_of_types_the_filter_does_not_know_are_still_imported(
    miro: MiroStandIn, miro_http: httpx.AsyncClient
) -> None:
    dump = miro_dump(
        [
            miro_sticky("1", "a", 0, 0),
            miro_item("2", "mindmap_node", 0, 0),
            miro_sticky("3", "b", 0, 0),
        ]
    )
    miro.add_board(dump)
    token, _ = miro.issue_token()

    items = await client(miro_http, StaticToken(token), "http://miro.test").fetch_items(BOARD)

    assert [i["id"] for i in items] == ["1", "2", "3"]


async def test_a_type_filter_miro_refuses_falls_back_to_the_unfiltered_listing(
    miro: MiroStandIn, miro_http: httpx.AsyncClient
) -> None:
    dump = big_board(frames=2, per_frame=300, loose=10)
    dump["items"].append(miro_item("77", "data_table_format", 0, 0))
    miro.add_board(dump)
    miro.rejected_types.add("data_table_format")  # an API version without that type value
    miro.latency = 0.001
    token, _ = miro.issue_token()

    items = await client(miro_http, StaticToken(token), "http://miro.test").fetch_items(BOARD)

    assert len(items) == len(dump["items"])
    assert "77" in {i["id"] for i in items}


async def test_a_listing_that_keeps_failing_fails_the_whole_fetch(
    miro: MiroStandIn, miro_http: httpx.AsyncClient
) -> None:
    miro.add_board(to_miro_dump(workshop_layout()))
    token, _ = miro.issue_token()
    miro.fail_next(10_000)
    miro_client = MiroClient(
        miro_http,
        StaticToken(token),
        MemoryRateBudget(),
        "http://miro.test",
        clock=FakeClock().clock,
        policy=RetryPolicy(max_tries=3),
    )

    with pytest.raises(TransientError):
        await miro_client.fetch_board(BOARD)


async def test_a_forbidden_board_fails_the_fetch_with_forbidden(
    miro: MiroStandIn, miro_http: httpx.AsyncClient
) -> None:
    miro.add_board(to_miro_dump(workshop_layout()))
    miro.forbidden_boards.add(BOARD)
    token, _ = miro.issue_token()

    with pytest.raises(ForbiddenError):
        await client(miro_http, StaticToken(token), "http://miro.test").fetch_board(BOARD)


async def test_fetch_board_over_a_socket_stays_within_a_tight_credit_budget(
    miro: MiroStandIn, miro_url: str
) -> None:
    dump = big_board(frames=4, per_frame=100, loose=20)
    dump["connectors"] = to_miro_dump([Note("a", 0, 0), Note("b", 1, 1), Link(0, 1)])["connectors"]
    miro.add_board(dump)
    miro.latency = 0.01
    miro.credits, miro.window = 1_000, 1.0  # ten Level 2 calls per second
    token, _ = miro.issue_token()

    async with httpx.AsyncClient() as http:
        miro_client = MiroClient(http, StaticToken(token), MemoryRateBudget(), miro_url)
        fetched = await miro_client.fetch_board(BOARD)

    assert len(fetched["items"]) == len(dump["items"])
    assert len({i["id"] for i in fetched["items"]}) == len(dump["items"])
    assert fetched["connectors"] == dump["connectors"]
    # The first burst goes out before any response has reported the budget; after that the
    # pacing keeps calls under the limit, so 429s stay a handful.
    assert miro.rate_limited <= 15


class CreditWindows:
    """Items served in pages of 50 with Miro's credit headers: ``limit`` credits per fixed
    ``window`` on the fake clock; records each call's query."""

    def __init__(self, clock: FakeClock, items: int, limit: int, window: float) -> None:
        self.clock = clock
        self.ids = [str(3458764500000000 + n) for n in range(items)]
        self.limit, self.window = limit, window
        self.remaining, self.ends = limit, clock.now + window
        self.calls: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        self.calls.append(params)
        if self.clock.now >= self.ends:
            self.remaining, self.ends = self.limit, self.clock.now + self.window
        if self.remaining < 100:
            return httpx.Response(429, headers={"Retry-After": str(self.ends - self.clock.now)})
        self.remaining -= 100
        selected = self.ids if params.get("type") in (None, "sticky_note") else []
        start = int(params.get("cursor") or 0)
        body: Json = {
            "data": [miro_sticky(i, i, 0, 0) for i in selected[start : start + 50]],
            "total": len(selected),
        }
        if start + 50 < len(selected):
            body["cursor"] = str(start + 50)
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.ends),
        }
        return httpx.Response(200, json=body, headers=headers)


@pytest.mark.parametrize(
    ("limit", "split"),
    [(2_000, False), (100_000, True)],
    ids=["the budget binds: plain", "the budget has room: split"],
)
async def test_a_large_board_is_listed_plainly_when_the_credit_budget_sets_the_pace(
    limit: int, split: bool
) -> None:
    clock = FakeClock()
    server = CreditWindows(clock, items=2_000, limit=limit, window=2.0)
    async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as http:
        miro = MiroClient(http, StaticToken("t"), MemoryRateBudget(), API, clock=clock.clock)

        items = await miro.fetch_items(BOARD)

    assert len(items) == 2_000
    filtered = [call for call in server.calls if "type" in call]
    assert bool(filtered) is split
    if not split:  # exactly the plain listing's 40 pages: no credit spent on the split
        assert len(server.calls) == 40
