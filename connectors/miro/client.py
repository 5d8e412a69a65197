"""Miro REST API v2 reader: boards, items, connectors and tags, and the whole board as a dump.

Every call goes through :func:`connectors.http.request` (retries, 429s, error tree) and is
charged to the injected :class:`connectors.http.RateBudget` in Miro credits: Level 1 calls cost
50, Level 2 calls 100 (https://developers.miro.com/docs/rate-limiting; reference section 7).

:meth:`MiroClient.fetch_board` shortens the chain of dependent page requests without spending
more credits than needed: board, connectors, tags and items are listed concurrently; items are
listed per documented ``type`` at once, and a type with many pages is also listed per frame
(``parent_item_id`` + ``type``) for the largest frames. Listings stop as soon as the ``total``
Miro reports for a type has been seen, and a final check against the board-wide ``total`` runs
the unfiltered listing when anything is missing (items of types the filter does not know).

The split costs credits (the first page of each type and frame: 3-15 % more than the plain
listing). When the credit budget, not the chain of pages, decides how long the listing takes,
those credits only make it slower: the client compares the two estimates from the first page's
rate-limit headers and its round trip (:func:`_plain_is_faster`) and then lists plainly.

Pages are decoded by msgspec straight from the response bytes (no text copy, no second pass).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Iterable, Mapping
from typing import Any, TypeVar

import httpx
import msgspec

from connectors.errors import ConnectorError, ProviderError
from connectors.http import (
    DEFAULT_POLICY,
    SYSTEM_CLOCK,
    BearerCalls,
    Clock,
    RateBudget,
    RateSnapshot,
    RetryPolicy,
    TokenProvider,
    rate_snapshot,
)

Json = dict[str, Any]
T = TypeVar("T")

DEFAULT_API_URL = "https://api.miro.com"

LEVEL1 = 50
LEVEL2 = 100

# The documented values of the ``type`` filter of GET /v2/boards/{id}/items (spec ``get-items``).
ITEM_TYPES: tuple[str, ...] = (
    "sticky_note",
    "shape",
    "text",
    "frame",
    "card",
    "app_card",
    "image",
    "document",
    "embed",
    "preview",
    "doc_format",
    "data_table_format",
)

PAGE_LIMIT = 50  # the maximum of every listing we use
MAX_PAGES = 5_000  # 250,000 objects in one listing: far beyond any real board
MAX_ITEMS = 250_000
SPLIT_MIN_PAGES = 10  # boards (and types) of fewer pages are listed plainly
SPLIT_MAX_FRAMES = 24  # more frames than this: per-frame first pages cost more than they save
# The split's credits over the plain listing's, for the estimate (bench/miro_import.py: 12 %
# at 10k items, about 3 % at 50k), and how much shorter its chain is at least.
SPLIT_CREDIT_OVERHEAD = 1.12
SPLIT_CHAIN_SHARE = 0.5

_OBJECT = msgspec.json.Decoder(dict[str, Any])


class _Slots:
    """A semaphore that hands free slots to the waiter with the lowest priority number.

    Listings pass the negated count of pages they still have to read, so the longest chain of
    dependent requests (the one that decides the import's wall time) never queues behind short
    ones; first pages, which reveal the lengths, go before everything.
    """

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @contextlib.asynccontextmanager
    async def hold(self, priority: float) -> AsyncIterator[None]:
        if self._free > 0 and not self._waiters:
            self._free -= 1
        else:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiters, (priority, next(self._order), waiter))
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._release()  # the slot was handed over just as we were cancelled
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiters:
            _, _, waiter = heapq.heappop(self._waiters)
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


class MiroClient:
    """Reads one Miro user's boards.

    ``token_provider`` returns the current access token; after a 401 the client asks it once
    for a forced refresh and repeats the call, so a rotated token pair is used at most once per
    401 however many calls were in flight. ``budget`` paces all calls made with this user's
    token. ``max_concurrency`` bounds the requests in flight.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        token_provider: TokenProvider,
        budget: RateBudget,
        base_url: str = DEFAULT_API_URL,
        *,
        policy: RetryPolicy = DEFAULT_POLICY,
        clock: Clock = SYSTEM_CLOCK,
        max_concurrency: int = 10,
        max_items: int = MAX_ITEMS,
    ) -> None:
        self._calls = BearerCalls(http, token_provider, budget, policy=policy, clock=clock)
        self._clock = clock
        self._base = base_url.rstrip("/")
        self._slots = _Slots(max(1, max_concurrency))
        self._max_items = max_items
        # What the answers said about the credit window, and how long a page took
        self.quota: RateSnapshot | None = None
        self.window_s = 0.0
        self.round_trip_s: float | None = None

    async def _get(
        self, path: str, params: Mapping[str, str | int], cost: int, priority: float = 0.0
    ) -> Json:
        url = f"{self._base}{path}"
        async with self._slots.hold(priority):
            started = self._clock.time()

            def read(response: httpx.Response) -> Json:
                self._learn(response, started)
                try:
                    decoded: Json = _OBJECT.decode(response.content)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    raise ProviderError(
                        f"GET {path}: response is not a JSON object", status=response.status_code
                    ) from None
                return decoded

            return await self._calls.get(url, read, params=params, cost=cost)

    def _learn(self, response: httpx.Response, started: float) -> None:
        """Keep the credit window the answer reports, and the first call's round trip (the
        first call never waits for the budget, which knows nothing yet)."""
        now = self._clock.time()
        seen = rate_snapshot(response.headers, now)
        if seen.remaining is not None:
            self.quota = seen
            if seen.reset_at is not None:
                self.window_s = max(self.window_s, seen.reset_at - now)
        if self.round_trip_s is None:
            self.round_trip_s = max(now - started, 0.0)

    async def get_board(self, board_id: str) -> Json:
        """``GET /v2/boards/{id}`` (Level 1): metadata including ``modifiedAt``."""
        return await self._get(f"/v2/boards/{_segment(board_id)}", {}, LEVEL1)

    async def get_boards_page(
        self, *, query: str | None = None, offset: int = 0, limit: int = 20
    ) -> Json:
        """One page of ``GET /v2/boards`` as Miro sends it (offset paging, for browsing)."""
        if not 1 <= limit <= PAGE_LIMIT or offset < 0:
            raise ValueError("limit must be 1..50 and offset >= 0")
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if query:
            params["query"] = query[:500]
        return await self._get("/v2/boards", params, LEVEL1)

    async def _cursor_pages(
        self, path: str, params: Mapping[str, str | int], cost: int
    ) -> AsyncGenerator[Json, None]:
        """Pages of a cursor listing; stops on a missing/empty cursor or an empty page.

        A cursor that comes back a second time (seen in third-party Miro clients) or more than
        ``MAX_PAGES`` pages raise :class:`ProviderError` rather than loop or return a part.
        """
        seen: set[str] = set()
        cursor: str | None = None
        page_total: int | None = None
        for done in range(MAX_PAGES):
            query = dict(params, limit=PAGE_LIMIT)
            if cursor:
                query["cursor"] = cursor
            page = await self._get(path, query, cost, _priority(page_total, done))
            data = _page_data(page, path)
            total = page.get("total")
            page_total = total if isinstance(total, int) else None
            yield page
            next_cursor = page.get("cursor")
            if not data or not isinstance(next_cursor, str) or not next_cursor:
                return
            if next_cursor in seen:
                raise ProviderError(f"GET {path}: the listing repeated a cursor")
            seen.add(next_cursor)
            cursor = next_cursor
        raise ProviderError(f"GET {path}: more than {MAX_PAGES} pages")

    async def _offset_pages(
        self, path: str, params: Mapping[str, str | int], cost: int
    ) -> AsyncIterator[Json]:
        """Pages of an offset listing; stops at ``total``, on an empty or short page."""
        offset = 0
        total: object = None
        for done in range(MAX_PAGES):
            priority = _priority(total if isinstance(total, int) else None, done)
            page = await self._get(
                path, dict(params, limit=PAGE_LIMIT, offset=offset), cost, priority
            )
            data = _page_data(page, path)
            yield page
            offset += len(data)
            total = page.get("total")
            if not data or (isinstance(total, int) and offset >= total):
                return
            if not isinstance(total, int) and len(data) < PAGE_LIMIT:
                return
        raise ProviderError(f"GET {path}: more than {MAX_PAGES} pages")

    async def iter_items(
        self, board_id: str, *, type: str | None = None, parent_item_id: str | None = None
    ) -> AsyncIterator[Json]:
        """Every item of the board (Level 2 pages of 50), optionally one type or one frame."""
        params: dict[str, str | int] = {}
        if type is not None:
            params["type"] = type
        if parent_item_id is not None:
            params["parent_item_id"] = parent_item_id
        path = f"/v2/boards/{_segment(board_id)}/items"
        async for page in self._cursor_pages(path, params, LEVEL2):
            for item in _page_objects(page):
                yield item

    async def iter_connectors(self, board_id: str) -> AsyncIterator[Json]:
        """Every connector of the board (Level 2 pages of 50)."""
        path = f"/v2/boards/{_segment(board_id)}/connectors"
        async for page in self._cursor_pages(path, {}, LEVEL2):
            for connector in _page_objects(page):
                yield connector

    async def iter_tags(self, board_id: str) -> AsyncIterator[Json]:
        """Every tag of the board (Level 1, offset paging)."""
        path = f"/v2/boards/{_segment(board_id)}/tags"
        async for page in self._offset_pages(path, {}, LEVEL1):
            for tag in _page_objects(page):
                yield tag

    async def iter_items_by_tag(self, board_id: str, tag_id: str) -> AsyncIterator[Json]:
        """Every item carrying the tag (``?tag_id=``: Level 1, offset paging)."""
        path = f"/v2/boards/{_segment(board_id)}/items"
        async for page in self._offset_pages(path, {"tag_id": tag_id}, LEVEL1):
            for item in _page_objects(page):
                yield item

    async def iter_boards(self, query: str | None = None) -> AsyncIterator[Json]:
        """Every board the user can see, optionally matching ``query`` (Level 1, offset)."""
        params: dict[str, str | int] = {"query": query[:500]} if query else {}
        async for page in self._offset_pages("/v2/boards", params, LEVEL1):
            for board in _page_objects(page):
                yield board

    async def fetch_board(self, board_id: str) -> Json:
        """The board as a Miro dump: ``provider, board, items, connectors, tags, item_tags``.

        Items are ordered by id (numeric), tags as Miro lists them. Raises from the error tree
        if any call fails; nothing partial is returned.
        """
        try:
            async with asyncio.TaskGroup() as tg:
                board = tg.create_task(self.get_board(board_id))
                items = tg.create_task(self.fetch_items(board_id))
                connectors = tg.create_task(
                    _collect(self.iter_connectors(board_id), self._max_items, "connectors")
                )
                tags = tg.create_task(self._fetch_tags(board_id))
        except BaseExceptionGroup as group:
            raise _first_error(group) from None
        tag_list, item_tags = tags.result()
        return {
            "provider": "miro",
            "board": board.result(),
            "items": items.result(),
            "connectors": connectors.result(),
            "tags": tag_list,
            "item_tags": item_tags,
        }

    async def fetch_items(self, board_id: str) -> list[Json]:
        """Every item of the board, deduplicated, ordered by id; see the module docstring."""
        sweep = _ItemSweep(self, board_id, self._max_items)
        return await sweep.run()

    async def _fetch_tags(self, board_id: str) -> tuple[list[Json], dict[str, list[str]]]:
        tags = await _collect(self.iter_tags(board_id), self._max_items, "tags")
        tag_ids = [t["id"] for t in tags]

        async def tagged(tag_id: str) -> list[str]:
            items = await _collect(
                self.iter_items_by_tag(board_id, tag_id), self._max_items, "tagged items"
            )
            return [item["id"] for item in items]

        listings = await _all(*(tagged(tag_id) for tag_id in tag_ids))
        item_tags: dict[str, list[str]] = {}
        for tag_id, item_ids in zip(tag_ids, listings, strict=True):
            for item_id in dict.fromkeys(item_ids):
                item_tags.setdefault(item_id, []).append(tag_id)
        return tags, item_tags


class _ItemSweep:
    """Concurrent, deduplicated listing of one board's items (see the module docstring)."""

    def __init__(self, client: MiroClient, board_id: str, max_items: int) -> None:
        self._client = client
        self._board_id = board_id
        self._max_items = max_items
        self._seen: dict[str, Json] = {}
        self._count: Counter[str] = Counter()
        self._total: dict[str, int] = {}
        self._board_total: int | None = None
        self._unknown_type = False
        self._frames_listed = asyncio.Event()
        self._covered: set[str] = set()  # types whose every item sits in a listed frame
        self._uncovered: set[str] = set()  # types with items outside the frames

    def _add(self, page: Json) -> None:
        for item in _page_objects(page):
            if item["id"] in self._seen:
                continue
            self._seen[item["id"]] = item
            kind = item.get("type")
            self._count[kind if isinstance(kind, str) else ""] += 1
            if kind not in ITEM_TYPES:
                self._unknown_type = True
        if len(self._seen) > self._max_items:
            raise ProviderError(f"board has more than {self._max_items} items")

    def _complete(self, kind: str) -> bool:
        total = self._total.get(kind)
        return total is not None and self._count[kind] >= total

    async def _listing(
        self,
        params: Mapping[str, str],
        stop: Callable[[], bool],
        on_first: Callable[[Json], None] | None = None,
        *,
        optional: bool = True,
    ) -> None:
        """One listing into the sweep. An ``optional`` (filtered) listing that Miro refuses
        with 400 (a ``type`` value this API version does not know) is dropped; the unfiltered
        listing at the end then reads what it would have brought."""
        path = f"/v2/boards/{_segment(self._board_id)}/items"
        first = True
        try:
            async for page in self._client._cursor_pages(path, params, LEVEL2):
                self._add(page)
                if first and on_first is not None:
                    on_first(page)
                first = False
                if stop():
                    return
        except ProviderError as exc:
            if not optional or exc.status != 400:
                raise
            self._unknown_type = True

    async def _type_listing(self, kind: str, tg: asyncio.TaskGroup) -> None:
        def learn_total(page: Json) -> None:
            total = page.get("total")
            if isinstance(total, int) and total >= 0:
                self._total[kind] = total
                # An item outside any frame on the first page means the type-wide listing must
                # run to its end anyway: listing the type per frame as well would only re-read.
                loose = any(not isinstance(i.get("parent"), dict) for i in _page_objects(page))
                long = math.ceil(total / PAGE_LIMIT) >= SPLIT_MIN_PAGES
                if long and not loose and kind != "frame":
                    tg.create_task(self._split_by_frame(kind, tg))

        try:
            await self._listing(
                {"type": kind},
                lambda: self._complete(kind) or kind in self._covered,
                learn_total,
            )
        finally:
            if kind == "frame":
                self._frames_listed.set()

    async def _split_by_frame(self, kind: str, tg: asyncio.TaskGroup) -> None:
        """List ``kind`` per frame too; whichever of the two ways is needed goes on.

        Once every frame has reported (on its first page) how many items of the type it holds
        directly: if they add up to the type's total, no such item lies outside a frame and the
        type-wide listing stops, the frame listings finish the type side by side; otherwise the
        type-wide listing is needed anyway and the frame listings stop.
        """
        await self._frames_listed.wait()
        frames = [item for item in self._seen.values() if item.get("type") == "frame"]
        if not frames or len(frames) > SPLIT_MAX_FRAMES or self._complete(kind):
            return  # with frames left unlisted the type-wide listing is needed anyway
        framed: list[int] = []

        def learn_framed(page: Json) -> None:
            total = page.get("total")
            framed.append(total if isinstance(total, int) and total >= 0 else -1)
            if len(framed) == len(frames):
                if -1 not in framed and sum(framed) == self._total.get(kind):
                    self._covered.add(kind)
                else:
                    self._uncovered.add(kind)

        def frame_done() -> bool:
            return self._complete(kind) or kind in self._uncovered

        for frame in frames:
            params = {"parent_item_id": frame["id"], "type": kind}
            tg.create_task(self._listing(params, frame_done, learn_framed))

    def _learn_board_total(self, page: Json) -> None:
        total = page.get("total")
        if isinstance(total, int) and total >= 0:
            self._board_total = total

    async def run(self) -> list[Json]:
        path = f"/v2/boards/{_segment(self._board_id)}/items"
        pages = self._client._cursor_pages(path, {}, LEVEL2)
        try:
            # The first unfiltered page: small boards end here or keep paging plainly, large
            # ones learn the board-wide total that proves the split listings complete.
            first = await anext(pages)
            self._add(first)
            self._learn_board_total(first)
            total = self._board_total
            if (
                total is None
                or total <= SPLIT_MIN_PAGES * PAGE_LIMIT
                or _plain_is_faster(self._client, math.ceil(total / PAGE_LIMIT) - 1)
            ):
                async for page in pages:
                    self._add(page)
                return self._sorted()
        finally:
            await pages.aclose()
        try:
            async with asyncio.TaskGroup() as tg:
                for kind in ITEM_TYPES:
                    tg.create_task(self._type_listing(kind, tg))
        except BaseExceptionGroup as group:
            raise _first_error(group) from None
        if self._unknown_type or len(self._seen) < total:
            # Items of types the filter does not know, or a board edited meanwhile.
            await self._listing({}, lambda: False, optional=False)
        return self._sorted()

    def _sorted(self) -> list[Json]:
        return sorted(self._seen.values(), key=lambda item: (len(item["id"]), item["id"]))


def _plain_is_faster(client: MiroClient, pages: int) -> bool:
    """True when listing ``pages`` more Level 2 pages plainly is expected to end no later than
    the split, judged from the last answer's credit window and the first page's round trip.

    Each way takes the longer of its chain of dependent pages and the time the budget needs to
    hand out its credits: while the split's credits fit in what is left of the window the chain
    decides (and the split, whose chain is shorter, wins); once they do not, the windows may,
    and the plain listing needs fewer credits. Unknown figures: the split, as before.
    """
    quota, round_trip = client.quota, client.round_trip_s
    if quota is None or quota.remaining is None or round_trip is None or pages <= 0:
        return False
    if quota.limit is None or quota.limit <= 0 or quota.reset_at is None:
        return False
    now = client._clock.time()
    left_s = max(quota.reset_at - now, 0.0)
    window_s = max(client.window_s, left_s)
    limit: int = quota.limit
    remaining: int = quota.remaining

    def budget_s(credits: float) -> float:
        if credits <= remaining:
            return 0.0
        windows = math.ceil((credits - remaining) / limit)
        return left_s + (windows - 1) * window_s

    if pages * LEVEL2 * SPLIT_CREDIT_OVERHEAD <= remaining:
        return False  # the budget binds neither way: the chain decides, and the split's is shorter
    chain_s = pages * round_trip
    plain_s = max(chain_s, budget_s(pages * LEVEL2))
    split_s = max(chain_s * SPLIT_CHAIN_SHARE, budget_s(pages * LEVEL2 * SPLIT_CREDIT_OVERHEAD))
    return plain_s <= split_s


def _priority(total: int | None, pages_done: int) -> float:
    """Slot priority of a listing's next page: minus the pages it still has, first pages first."""
    if total is None:
        return -math.inf if pages_done == 0 else 0.0
    return -float(max(math.ceil(total / PAGE_LIMIT) - pages_done, 0))


def _segment(value: str) -> str:
    """A path segment: board ids contain ``=``; anything that could change the path is refused."""
    if not value or any(ch in value for ch in "/?#%\\") or value in (".", ".."):
        raise ValueError("not a Miro id")
    return value


def _page_data(page: Json, path: str) -> list[Any]:
    data = page.get("data")
    if data is None:
        return []
    if not isinstance(data, list):
        raise ProviderError(f"GET {path}: 'data' is not a list")
    return data


def _page_objects(page: Json) -> Iterable[Json]:
    """The page's objects that have an id; ids are kept as strings (Miro sends strings)."""
    data = page.get("data")
    if not isinstance(data, list):
        return
    for obj in data:
        if not isinstance(obj, dict):
            continue
        ident = obj.get("id")
        if isinstance(ident, int) and not isinstance(ident, bool):
            obj = dict(obj, id=str(ident))
        elif not isinstance(ident, str) or not ident:
            continue
        yield obj


def _area(item: Json) -> float:
    geometry = item.get("geometry")
    if not isinstance(geometry, dict):
        return 0.0
    width, height = geometry.get("width"), geometry.get("height")
    if not isinstance(width, int | float) or not isinstance(height, int | float):
        return 0.0
    area = float(width) * float(height)
    return area if math.isfinite(area) else 0.0


async def _collect(items: AsyncIterator[Json], limit: int, what: str) -> list[Json]:
    out: list[Json] = []
    async for item in items:
        out.append(item)
        if len(out) > limit:
            raise ProviderError(f"more than {limit} {what}")
    return out


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to report from a failed task group: a connector error before anything else."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    for leaf in leaves:
        if isinstance(leaf, ConnectorError):
            return leaf
    return leaves[0]


async def _all(*coros: Coroutine[Any, Any, T]) -> list[T]:
    """Run concurrently; on the first failure cancel the rest and raise that failure itself."""
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(coro) for coro in coros]
    except BaseExceptionGroup as group:
        raise _first_error(group) from None
    return [task.result() for task in tasks]
