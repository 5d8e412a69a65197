"""Mural public API v1 reader: workspaces, rooms, murals, widgets, tags, votes, and the dump.

Every call goes through :func:`connectors.http.request` (retries, 429s, error tree). Mural meters
two buckets at once (mural-api.md §4): 25 requests per second per user (``x-ratelimit-*``) and
10,000 per minute per app, shared by every user of the app (``x-ratelimit-app-*``); reset headers
are epoch seconds and there is no Retry-After. The client charges each call to the user's
``budget`` and to the ``app_budget`` (a :class:`connectors.http.RedisRateBudget` keyed by the
client id in the service, so all tenants' workers pace as one app).

Listings use ``{value, next}`` paging with the same ``limit`` on every page (§2.1). A ``next``
token that expired (400 ``NEXT_TOKEN_EXPIRED``) restarts the listing from page 1, a bounded
number of times, and objects already yielded are skipped by id.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from connectors.errors import (
    AuthError,
    ConnectorError,
    ForbiddenError,
    NotFoundError,
    ProviderError,
    TransientError,
)
from connectors.http import (
    DEFAULT_POLICY,
    SYSTEM_CLOCK,
    BearerCalls,
    Clock,
    Quota,
    RateBudget,
    RedisRateBudget,
    RetryPolicy,
    TokenProvider,
)

Json = dict[str, Any]

DEFAULT_API_URL = "https://app.mural.co/api/public/v1"
APP_QUOTA_PREFIX = "x-ratelimit-app-"

PAGE_LIMIT = 100  # what Pipedream always sends; Mural's defaults are "100 or fewer" (§2.1)
MAX_PAGES = 5_000
MAX_WIDGETS = 200_000  # far beyond any real mural; past it the import fails instead of growing
MAX_RESTARTS = 3  # listings restarted after an expired next token before giving up
MAX_VOTING_SESSIONS = 500
_CODE = re.compile(r"[A-Z0-9_]{1,64}")
_OBJECT = msgspec.json.Decoder(dict[str, Any])


class _NextTokenExpired(ConnectorError):
    """Mural forgot the listing's ``next`` token: the listing must start again."""


class MuralClient:
    """Reads one Mural user's workspaces and murals.

    ``token_provider`` returns the current access token; after a 401 (``TOKEN_EXPIRED``) the
    client asks it once for a forced refresh and repeats the call, so one rotation serves every
    call in flight. ``budget`` paces this user's calls, ``app_budget`` (optional) the app's.
    ``max_concurrency`` bounds the requests in flight.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        token_provider: TokenProvider,
        budget: RateBudget,
        app_budget: RateBudget | None = None,
        base_url: str = DEFAULT_API_URL,
        *,
        policy: RetryPolicy = DEFAULT_POLICY,
        clock: Clock = SYSTEM_CLOCK,
        max_concurrency: int = 4,
        page_limit: int = PAGE_LIMIT,
        max_widgets: int = MAX_WIDGETS,
        max_restarts: int = MAX_RESTARTS,
    ) -> None:
        if not 1 <= page_limit <= 1000:
            raise ValueError("page_limit must be 1..1000")
        quotas = () if app_budget is None else (Quota(app_budget, APP_QUOTA_PREFIX),)
        self._calls = BearerCalls(
            http, token_provider, budget, quotas=quotas, policy=policy, clock=clock
        )
        self._base = base_url.rstrip("/")
        self._slots = asyncio.Semaphore(max(1, max_concurrency))
        self._page_limit = page_limit
        self._max_widgets = max_widgets
        self._max_restarts = max(0, max_restarts)

    async def _get(self, path: str, params: Mapping[str, str | int] | None = None) -> Json:
        """One GET, unwrapped to its JSON object; one forced refresh after a refused token."""
        url = f"{self._base}{path}"
        async with self._slots:
            return await self._calls.get(
                url, lambda response: _checked(response, path), params=params, accept=(400, 403)
            )

    async def _value(self, path: str) -> Json:
        body = await self._get(path)
        value = body.get("value")
        if not isinstance(value, dict):
            raise ProviderError(f"GET {path}: response has no 'value' object")
        return value

    async def _pages(
        self, path: str, params: Mapping[str, str | int], *, limit: bool = True
    ) -> AsyncIterator[list[Any]]:
        """The ``value`` lists of every page; the same ``limit`` (unless the endpoint documents
        none: ``limit=False``) and filters on every request."""
        seen: set[str] = set()
        token: str | None = None
        for _ in range(MAX_PAGES):
            query: dict[str, str | int] = dict(params)
            if limit:
                query["limit"] = self._page_limit
            if token is not None:
                query["next"] = token
            page = await self._get(path, query)
            value = page.get("value")
            if not isinstance(value, list):
                raise ProviderError(f"GET {path}: page has no 'value' list")
            yield value
            token = page.get("next")
            if not isinstance(token, str) or not token:
                return
            if token in seen:
                raise ProviderError(f"GET {path}: the listing repeated a next token")
            seen.add(token)
        raise ProviderError(f"GET {path}: more than {MAX_PAGES} pages")

    async def _listing(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        max_objects: int = MAX_WIDGETS,
        limit: bool = True,
    ) -> AsyncIterator[Json]:
        """Every object of a listing, each id once, restarting after an expired ``next``.

        Raises :class:`TransientError` when the token keeps expiring past ``max_restarts``
        restarts, :class:`ProviderError` past ``max_objects`` objects.
        """
        yielded: set[str] = set()
        count = 0
        for _ in range(self._max_restarts + 1):
            try:
                async for value in self._pages(path, params or {}, limit=limit):
                    for obj in value:
                        if not isinstance(obj, dict):
                            continue
                        key = obj.get("id")
                        if isinstance(key, str | int) and not isinstance(key, bool):
                            if str(key) in yielded:
                                continue
                            yielded.add(str(key))
                        count += 1
                        if count > max_objects:
                            raise ProviderError(f"GET {path}: more than {max_objects} objects")
                        yield obj
                return
            except _NextTokenExpired:
                continue
        raise TransientError(
            f"GET {path}: the next token expired {self._max_restarts + 1} times in a row"
        )

    async def get_me(self) -> Json:
        """``GET /users/me`` (``identity:read``): id, names, email, company."""
        return await self._value("/users/me")

    async def get_mural(self, mural_id: str) -> Json:
        """``GET /murals/{id}``: title, ``updatedOn`` (epoch ms), size, background colour."""
        return await self._value(f"/murals/{_segment(mural_id)}")

    def iter_workspaces(self) -> AsyncIterator[Json]:
        return self._listing("/workspaces")

    def iter_rooms(self, workspace_id: str) -> AsyncIterator[Json]:
        return self._listing(f"/workspaces/{_segment(workspace_id)}/rooms")

    def iter_murals(
        self,
        *,
        workspace_id: str | None = None,
        room_id: str | int | None = None,
        sort_by: str | None = None,
    ) -> AsyncIterator[Json]:
        """Murals of a workspace or of a room (exactly one). List entries are thin: no size or
        background colour (D-CL23); ``sort_by="lastModified"`` puts recent edits first."""
        return self._listing(
            _murals_path(workspace_id, room_id),
            {} if sort_by is None else {"sortBy": sort_by},
        )

    def iter_widgets(self, mural_id: str) -> AsyncIterator[Json]:
        """Every widget of the mural (drawings are never returned by Mural)."""
        return self._listing(f"/murals/{_segment(mural_id)}/widgets", max_objects=self._max_widgets)

    def iter_tags(self, mural_id: str) -> AsyncIterator[Json]:
        return self._listing(f"/murals/{_segment(mural_id)}/tags", max_objects=10_000)

    async def get_page(
        self,
        kind: str,
        *,
        workspace_id: str | None = None,
        room_id: str | int | None = None,
        next_token: str | None = None,
        limit: int | None = None,
    ) -> Json:
        """One page of ``workspaces``, ``rooms`` (of a workspace) or ``murals`` (of a workspace
        or room) as Mural sends it, ``{"value": [...], "next"?: str}``, for browsing screens.
        ``limit`` (default: the client's page size) must be the same on every page of a
        listing (mural-api.md §2.1)."""
        if kind == "workspaces":
            path = "/workspaces"
        elif kind == "rooms" and workspace_id is not None:
            path = f"/workspaces/{_segment(workspace_id)}/rooms"
        elif kind == "murals":
            path = _murals_path(workspace_id, room_id)
        else:
            raise ValueError("kind is workspaces, rooms (with workspace_id) or murals")
        if limit is not None and not 1 <= limit <= PAGE_LIMIT:
            raise ValueError(f"limit must be 1..{PAGE_LIMIT}")
        params: dict[str, str | int] = {"limit": limit or self._page_limit}
        if next_token:
            params["next"] = next_token[:2048]
        try:
            return await self._get(path, params)
        except _NextTokenExpired:
            raise ProviderError(
                f"GET {path}: the next token expired; start from the first page", status=400
            ) from None

    async def get_votes(self, mural_id: str) -> tuple[dict[str, int], str | None]:
        """Total votes per widget id over all of the mural's voting sessions, and None; or no
        votes and the reason when Mural refused them.

        ``GET /murals/{id}/voting-sessions`` then ``.../{session}/results`` (``widgetId``,
        ``totalVotes``), paged by ``next`` only: no source documents ``limit`` there (R-RUBY
        ``list_voting_sessions``/``list_voting_session_results`` send ``next`` alone).
        Voting results are an extra: when Mural refuses them outright (404, 403, another 4xx:
        the feature is not available to this user) the import goes on and says so
        (``votes_unavailable`` in the dump); refused tokens, rate limits and 5xx propagate.
        """
        try:
            return await self._votes(mural_id), None
        except ProviderError as exc:
            if type(exc) in (ProviderError, NotFoundError, ForbiddenError):
                return {}, str(exc)[:200]
            raise

    async def _votes(self, mural_id: str) -> dict[str, int]:
        base = f"/murals/{_segment(mural_id)}/voting-sessions"
        votes: dict[str, int] = {}
        sessions = [
            s["id"]
            async for s in self._listing(base, max_objects=MAX_VOTING_SESSIONS, limit=False)
            if isinstance(s.get("id"), str | int) and not isinstance(s.get("id"), bool)
        ]
        for session in sessions:
            results = f"{base}/{_segment(str(session))}/results"
            async for result in self._listing(results, max_objects=self._max_widgets, limit=False):
                widget = result.get("widgetId")
                total = result.get("totalVotes")
                if not isinstance(widget, str) or not widget:
                    continue
                if isinstance(total, bool) or not isinstance(total, int | float):
                    continue
                if not math.isfinite(total) or total <= 0:
                    continue
                votes[widget] = min(votes.get(widget, 0) + int(total), 1_000_000)
        return votes

    async def fetch_mural(self, mural_id: str) -> Json:
        """The Mural dump: ``{"provider": "mural", "mural", "widgets", "tags"}``, plus
        ``"votes": {widget_id: total}`` when the mural has voting results, or
        ``"votes_unavailable": reason`` when Mural refused them.

        Metadata, tags and votes are read while the widget pages (the long chain) are listed.
        Raises the :mod:`connectors.errors` tree; nothing partial is returned.
        """

        async def collect(listing: AsyncIterator[Json]) -> list[Json]:
            return [obj async for obj in listing]

        try:
            async with asyncio.TaskGroup() as group:
                widgets = group.create_task(collect(self.iter_widgets(mural_id)))
                mural = group.create_task(self.get_mural(mural_id))
                tags = group.create_task(collect(self.iter_tags(mural_id)))
                votes = group.create_task(self.get_votes(mural_id))
        except ExceptionGroup as failures:
            # The first failure cancelled the other listings; callers branch on the error tree.
            raise _first_leaf(failures) from None
        dump: Json = {
            "provider": "mural",
            "mural": mural.result(),
            "widgets": widgets.result(),
            "tags": tags.result(),
        }
        found, refused = votes.result()
        if found:
            dump["votes"] = found
        if refused is not None:
            dump["votes_unavailable"] = refused
        return dump


def change_marker(mural: Mapping[str, Any]) -> str | None:
    """The mural's ``updatedOn`` (epoch ms) as text: the cheap "did it change" check of the
    poller, stored and compared as is; ``None`` when Mural sent no usable value."""
    value = mural.get("updatedOn")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return str(int(value))


def redis_budgets(
    redis: Any, *, client_id: str, user_id: str
) -> tuple[RedisRateBudget, RedisRateBudget]:
    """``(user budget, app budget)`` shared through Redis: the user bucket by Mural user id
    (Mural counts per user across apps and connections), the app bucket by client id."""
    return (
        RedisRateBudget(redis, provider="mural-user", identity=user_id, ttl=60),
        RedisRateBudget(redis, provider="mural-app", identity=client_id, ttl=180),
    )


def _first_leaf(group: BaseExceptionGroup[Exception]) -> Exception:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _checked(response: httpx.Response, path: str) -> Json:
    """The JSON object of a 2xx; 400 and 403 bodies are read for Mural's ``code``."""
    status = response.status_code
    if status < 300:
        try:  # straight from the bytes: no text copy, one pass (connectors/miro/client.py)
            return _OBJECT.decode(response.content)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise ProviderError(
                f"GET {path}: response is not a JSON object", status=status
            ) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    raw = body.get("code") if isinstance(body, dict) else None
    code = raw if isinstance(raw, str) and _CODE.fullmatch(raw) else None
    if status == 400 and code == "NEXT_TOKEN_EXPIRED":
        raise _NextTokenExpired(f"GET {path}: next token expired")
    if status == 403 and code == "TOKEN_EXPIRED":
        # One third-party client saw an expired token answered with 403 (mural-api.md §1.4).
        raise AuthError(f"GET {path}: the access token expired (403)", status=status)
    if status == 403:
        raise ForbiddenError(f"GET {path}: access forbidden ({code or 403})", status=status)
    raise ProviderError(f"GET {path}: bad request ({code or status})", status=status)


def _segment(value: str) -> str:
    if not value or len(value) > 256:
        raise ValueError("a Mural id must be 1..256 characters")
    return quote(value, safe="")


def _murals_path(workspace_id: str | None, room_id: str | int | None) -> str:
    if (workspace_id is None) == (room_id is None):
        raise ValueError("give exactly one of workspace_id and room_id")
    if workspace_id is not None:
        return f"/workspaces/{_segment(workspace_id)}/murals"
    return f"/rooms/{_segment(str(room_id))}/murals"
