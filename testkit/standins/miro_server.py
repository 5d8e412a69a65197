"""Stand-in for Miro's REST API v2 and OAuth endpoints (ASGI), for tests and benchmarks.

Serves the documented payloads (/work/shared/reference/miro-api.md) from boards given as Miro
dumps (``testkit.builders.miro_dump``): ``/v2/boards`` (offset), ``/v2/boards/{id}``, ``/items``
(cursor paging with ``limit`` 10..50, ``type`` / ``parent_item_id`` filters; ``tag_id`` offset
paging), ``/connectors`` (cursor), ``/tags`` (offset), ``/v1/oauth/token`` (code exchange and
rotating refresh; ``invalid_grant`` on reuse), ``/v2/oauth/revoke``, ``/v1/oauth-token`` and an
``/oauth/authorize`` that consents at once and redirects back with a code.

Rate limiting follows Miro's credit model: each token gets ``credits`` per ``window`` seconds
(windows aligned to multiples of ``window`` on the wall clock, or opened by a token's first
call when ``aligned_windows`` is off), Level 1 calls cost 50 and Level 2
calls 100; every response carries ``X-RateLimit-Limit/Remaining/Reset`` (reset = epoch seconds)
and an exhausted budget answers 429 (``Retry-After`` only when ``send_retry_after``). ``latency``
adds seconds to every request; ``fail_next(n)`` answers the next ``n`` API calls with 503, and
``inject(plan)`` answers the next API calls from a plan of :class:`Fault` s (``None`` in the plan:
serve that call normally), for 429 and 5xx storms. ``answers`` records every API answer as an
:class:`Answer` (``time.monotonic()`` when the request arrived and when it was answered).

``/_standin/stats`` (no auth) reports the requests, 429s and credits spent so far.
``serve(stand_in.app())`` runs it on a real socket (uvicorn in a thread, 127.0.0.1, random port).
"""

from __future__ import annotations

import asyncio
import base64
import copy
import math
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

Json = dict[str, Any]

ITEM_TYPES = frozenset(
    {
        "text",
        "shape",
        "sticky_note",
        "image",
        "document",
        "card",
        "app_card",
        "preview",
        "frame",
        "embed",
        "doc_format",
        "data_table_format",
    }
)
LEVEL1, LEVEL2 = 50, 100
_Handler = Callable[[Request], Awaitable[Json]]
_Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Fault:
    """An injected answer: ``status`` (429, 500, 502, 503...) with ``Retry-After`` seconds."""

    status: int
    retry_after: int | None = None


@dataclass(frozen=True)
class Answer:
    arrived: float
    answered: float
    path: str
    status: int
    retry_after: str | None


@dataclass
class _Token:
    user_id: str
    team_id: str
    scopes: tuple[str, ...]
    expires_at: float | None
    refresh_token: str | None


@dataclass
class _Window:
    reset_at: float
    remaining: int


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400, code: str = "invalidParameters") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class MiroStandIn:
    """An in-memory Miro; mutate it between requests (thread-safe) to simulate edits."""

    client_id: str = "client-1"
    client_secret: str = "secret-1"
    redirect_uri: str = "http://testserver/v1/oauth/miro/callback"
    latency: float = 0.0
    credits: int = 100_000
    window: float = 60.0
    send_retry_after: bool = False
    aligned_windows: bool = True
    expiring_tokens: bool = True
    team_id_as_number: bool = True
    user_id: str = "3458764500000001"
    team_id: str = "3458764500000099"
    organization_id: str = "3458764500000777"
    scopes: tuple[str, ...] = ("boards:read",)
    boards: dict[str, Json] = field(default_factory=dict)
    forbidden_boards: set[str] = field(default_factory=set)
    rejected_types: set[str] = field(default_factory=set)  # ``type`` values answered with 400
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    rate_limited: int = 0
    credits_spent: int = 0
    _tokens: dict[str, _Token] = field(default_factory=dict)
    _refresh: dict[str, str] = field(default_factory=dict)  # refresh token -> access token
    _codes: dict[str, float] = field(default_factory=dict)  # code -> expiry
    _windows: dict[str, _Window] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    # board id -> filter -> the items it selects, for the board's item list as it was (its
    # identity, length and tags' identity; tests replace the list to edit a board): scanning
    # 50,000 items per page made the stand-in, not the client, the bench's bottleneck
    _listings: dict[str, tuple[tuple[int, int, int], dict[Any, list[Json]]]] = field(
        default_factory=dict
    )
    _fail: int = 0
    _plan: list[Fault | None] = field(default_factory=list)
    _refreshes: int = 0
    _revoked: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_board(self, dump: Json, *, modified_at: str = "2026-03-02T15:20:11Z") -> str:
        """Serve a Miro dump as a board; returns its id."""
        board = copy.deepcopy(dump)
        meta = board["board"]
        meta.setdefault("type", "board")
        meta.setdefault("modifiedAt", modified_at)
        with self._lock:
            self.boards[meta["id"]] = board
            self._listings.pop(str(meta["id"]), None)
        return str(meta["id"])

    def touch(self, board_id: str, modified_at: str) -> None:
        """Simulate an edit: the board's ``modifiedAt`` moves."""
        with self._lock:
            self.boards[board_id]["board"]["modifiedAt"] = modified_at

    def issue_token(self, *, expires_in: float | None = 3600.0) -> tuple[str, str | None]:
        """A valid (access, refresh) pair, as if a user had connected."""
        with self._lock:
            return self._new_pair(expires_in if self.expiring_tokens else None)

    def add_token(self, access_token: str) -> None:
        """Accept a token chosen by the caller (non-expiring; benchmarks in another process)."""
        with self._lock:
            self._tokens[access_token] = _Token(self.user_id, self.team_id, self.scopes, None, None)

    def expire_token(self, access_token: str) -> None:
        with self._lock:
            record = self._tokens.get(access_token)
            if record is not None:
                record.expires_at = time.time() - 1

    def expire_all_tokens(self) -> None:
        """Every access token expires now (refresh tokens stay valid)."""
        with self._lock:
            for record in self._tokens.values():
                record.expires_at = time.time() - 1

    def drop_refresh_tokens(self) -> None:
        """Every refresh token becomes invalid (``invalid_grant``), as after a revocation."""
        with self._lock:
            self._refresh.clear()

    def revoked(self) -> int:
        """Tokens revoked through ``/v2/oauth/revoke`` so far."""
        with self._lock:
            return self._revoked

    def refreshes(self) -> int:
        """Refresh grants answered so far (successful ones)."""
        with self._lock:
            return self._refreshes

    def issue_code(self) -> str:
        with self._lock:
            code = secrets.token_urlsafe(16)
            self._codes[code] = time.time() + 600
            return code

    def fail_next(self, count: int) -> None:
        with self._lock:
            self._fail = count

    def inject(self, plan: list[Fault | None]) -> None:
        """Answer the next API calls (after any ``fail_next``) one by one from ``plan``."""
        with self._lock:
            self._plan = list(plan)

    def injected_faults_left(self) -> int:
        with self._lock:
            return len(self._plan)

    def calls(self, path_suffix: str = "") -> list[tuple[str, str, dict[str, str]]]:
        with self._lock:
            return [r for r in self.requests if r[1].endswith(path_suffix)]

    def issued_tokens(self) -> list[str]:
        """Every access and refresh token handed out so far."""
        with self._lock:
            return [*self._tokens, *self._refresh]

    def _new_pair(self, expires_in: float | None) -> tuple[str, str | None]:
        access = "at-" + secrets.token_urlsafe(16)
        refresh = "rt-" + secrets.token_urlsafe(16) if expires_in is not None else None
        self._tokens[access] = _Token(
            self.user_id,
            self.team_id,
            self.scopes,
            None if expires_in is None else time.time() + expires_in,
            refresh,
        )
        if refresh is not None:
            self._refresh[refresh] = access
        return access, refresh

    def _charge(self, token: str, cost: int) -> tuple[bool, dict[str, str]]:
        now = time.time()
        with self._lock:
            window = self._windows.get(token)
            if window is None or now >= window.reset_at:
                if self.aligned_windows:
                    start = math.floor(now / self.window) * self.window
                else:  # the window opens with the token's first call (on a whole second)
                    start = float(math.floor(now))
                window = _Window(reset_at=start + self.window, remaining=self.credits)
                self._windows[token] = window
            allowed = window.remaining >= cost
            if allowed:
                window.remaining -= cost
                self.credits_spent += cost
            else:
                self.rate_limited += 1
            headers = {
                "X-RateLimit-Limit": str(self.credits),
                "X-RateLimit-Remaining": str(window.remaining),
                "X-RateLimit-Reset": str(math.ceil(window.reset_at)),
            }
            if not allowed and self.send_retry_after:
                headers["Retry-After"] = str(max(math.ceil(window.reset_at - now), 1))
        return allowed, headers

    def _authenticate(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return None
        token = header.removeprefix("Bearer ").strip()
        with self._lock:
            record = self._tokens.get(token)
            if record is None or (
                record.expires_at is not None and record.expires_at < time.time()
            ):
                return None
        return token

    def _board(self, board_id: str) -> Json:
        with self._lock:
            board = self.boards.get(board_id)
        if board is None:
            raise BadRequest("Board not found", 404, "notFound")
        if board_id in self.forbidden_boards:
            raise BadRequest("Forbidden", 403, "forbiddenAccess")
        return board

    def app(self) -> Starlette:
        def api(
            cost: int, handler: Callable[[Request], Awaitable[Json]]
        ) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                arrived = time.monotonic()
                with self._lock:
                    self.requests.append(
                        (request.method, request.url.path, dict(request.query_params))
                    )
                if self.latency:
                    await asyncio.sleep(self.latency)
                token = self._authenticate(request)
                if token is None:
                    return _error(401, "unauthorized", "Unauthorized")
                response = await answer(request, token)
                record = Answer(
                    arrived,
                    time.monotonic(),
                    request.url.path,
                    response.status_code,
                    response.headers.get("retry-after"),
                )
                with self._lock:
                    self.answers.append(record)
                return response

            async def answer(request: Request, token: str) -> Response:
                with self._lock:
                    failing = self._fail > 0
                    self._fail -= 1 if failing else 0
                    fault = None if failing or not self._plan else self._plan.pop(0)
                if failing:
                    return _error(503, "serviceUnavailable", "Service unavailable")
                if fault is not None:
                    wait = (
                        {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
                    )
                    return _error(fault.status, "injected", "Injected fault", wait)
                allowed, headers = self._charge(token, cost)
                if not allowed:
                    return _error(429, "tooManyRequests", "Too many requests", headers)
                try:
                    body = await handler(request)
                except BadRequest as exc:
                    return _error(exc.status, exc.code, str(exc), headers)
                return JSONResponse(body, headers=headers)

            return endpoint

        async def list_boards(request: Request) -> Json:
            limit = _int(request, "limit", 20, 1, 50)
            offset = _int(request, "offset", 0, 0, 10**9)
            query = request.query_params.get("query", "").lower()
            with self._lock:
                boards = [b["board"] for b in self.boards.values()]
            if query:
                boards = [
                    b
                    for b in boards
                    if query in str(b.get("name", "")).lower()
                    or query in str(b.get("description", "")).lower()
                ]
            return _offset_page(boards, offset, limit)

        async def get_board(request: Request) -> Json:
            return dict(self._board(request.path_params["board_id"])["board"])

        async def list_items(request: Request) -> Json:
            board_id = request.path_params["board_id"]
            board = self._board(board_id)
            params = request.query_params
            version = (id(board["items"]), len(board["items"]), id(board.get("item_tags")))
            cached = self._listings.get(board_id)
            if cached is None or cached[0] != version:
                cached = (version, {})
                self._listings[board_id] = cached
            listings = cached[1]
            if "tag_id" in params:
                tag_id = params["tag_id"]
                tagged = listings.get(("tag", tag_id, None))
                if tagged is None:
                    tagged = [
                        i for i in board["items"] if tag_id in board["item_tags"].get(i["id"], ())
                    ]
                    listings[("tag", tag_id, None)] = tagged
                return _offset_page(
                    tagged, _int(request, "offset", 0, 0, 10**9), _int(request, "limit", 20, 1, 50)
                )
            kind = params.get("type")
            if kind is not None and (kind not in ITEM_TYPES or kind in self.rejected_types):
                raise BadRequest(f"Invalid type {kind!r}")
            parent = params.get("parent_item_id")
            items = listings.get(("items", kind, parent))
            if items is None:
                items = board["items"]
                if kind is not None:
                    items = [i for i in items if i.get("type") == kind]
                if parent is not None:
                    items = [i for i in items if (i.get("parent") or {}).get("id") == parent]
                listings[("items", kind, parent)] = items
            return _cursor_page(items, request)

        async def list_connectors(request: Request) -> Json:
            board = self._board(request.path_params["board_id"])
            return _cursor_page(board["connectors"], request)

        async def list_tags(request: Request) -> Json:
            board = self._board(request.path_params["board_id"])
            return _offset_page(
                board["tags"],
                _int(request, "offset", 0, 0, 10**9),
                _int(request, "limit", 20, 1, 50),
            )

        async def token_info(request: Request) -> Json:
            token = self._authenticate(request)
            assert token is not None
            record = self._tokens[token]
            return {
                "type": "oauth_token",
                "scopes": list(record.scopes),
                "organization": {
                    "type": "organization",
                    "name": "Acme",
                    "id": self.organization_id,
                },
                "team": {"type": "team", "name": "Design", "id": record.team_id},
                "user": {"type": "user", "name": "Ada L", "id": record.user_id},
                "createdBy": {"type": "user", "name": "Ada L", "id": record.user_id},
            }

        async def oauth_token(request: Request) -> Response:
            form = {k: str(v) for k, v in (await request.form()).items()}
            query = dict(request.query_params)
            # As the reference has it: a code exchange is a form body; a refresh carries
            # grant_type, refresh_token, client_id and client_secret in the query string.
            refreshing = query.get("grant_type") == "refresh_token"
            if refreshing and form:
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            if not refreshing and (query or form.get("grant_type") == "refresh_token"):
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            fields = query if refreshing else form
            if (
                fields.get("client_id") != self.client_id
                or fields.get("client_secret") != self.client_secret
            ):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            grant = fields.get("grant_type")
            with self._lock:
                if grant == "authorization_code":
                    expiry = self._codes.pop(fields.get("code", ""), None)
                    if expiry is None or expiry < time.time():
                        return JSONResponse({"error": "invalid_grant"}, status_code=400)
                    if fields.get("redirect_uri") != self.redirect_uri:
                        return JSONResponse({"error": "invalid_grant"}, status_code=400)
                elif grant == "refresh_token":
                    old_access = self._refresh.pop(fields.get("refresh_token", ""), None)
                    if old_access is None:
                        return JSONResponse({"error": "invalid_grant"}, status_code=400)
                    # Rotation: the old pair dies with the refresh.
                    self._tokens.pop(old_access, None)
                    self._refreshes += 1
                else:
                    return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
                access, refresh = self._new_pair(3599.0 if self.expiring_tokens else None)
            body: Json = {
                "access_token": access,
                "token_type": "bearer",
                "scope": " ".join(self.scopes),
                "user_id": self.user_id,
                "team_id": int(self.team_id) if self.team_id_as_number else self.team_id,
            }
            if refresh is not None:
                body["refresh_token"] = refresh
                body["expires_in"] = 3599
            return JSONResponse(body)

        async def revoke(request: Request) -> Response:
            body = await request.json()
            if (
                body.get("clientId") != self.client_id
                or body.get("clientSecret") != self.client_secret
            ):
                return _error(401, "unauthorized", "Bad client")
            with self._lock:
                record = self._tokens.pop(str(body.get("accessToken")), None)
                if record is None:
                    return _error(400, "invalidParameters", "Invalid token")
                if record.refresh_token is not None:
                    self._refresh.pop(record.refresh_token, None)
                self._revoked += 1
            return Response(status_code=204)

        async def authorize(request: Request) -> Response:
            params = request.query_params
            if (
                params.get("client_id") != self.client_id
                or params.get("redirect_uri") != self.redirect_uri
                or params.get("response_type") != "code"
            ):
                return _error(400, "invalidParameters", "Bad authorization request")
            query = {
                "code": self.issue_code(),
                "client_id": self.client_id,
                "team_id": self.team_id,
            }
            if "state" in params:
                query["state"] = params["state"]
            return RedirectResponse(f"{self.redirect_uri}?{urlencode(query)}", status_code=302)

        async def stats(request: Request) -> Response:
            with self._lock:
                return JSONResponse(
                    {
                        "requests": len(self.requests),
                        "rate_limited": self.rate_limited,
                        "credits_spent": self.credits_spent,
                    }
                )

        board_path = "/v2/boards/{board_id}"
        return Starlette(
            routes=[
                Route("/v2/boards", api(LEVEL1, list_boards)),
                Route(board_path, api(LEVEL1, get_board)),
                Route(board_path + "/items", self._items_endpoint(api, list_items)),
                Route(board_path + "/connectors", api(LEVEL2, list_connectors)),
                Route(board_path + "/tags", api(LEVEL1, list_tags)),
                Route("/v1/oauth-token", api(0, token_info)),
                Route("/v1/oauth/token", oauth_token, methods=["POST"]),
                Route("/v2/oauth/revoke", revoke, methods=["POST"]),
                Route("/oauth/authorize", authorize),
                Route("/_standin/stats", stats),
            ]
        )

    @staticmethod
    def _items_endpoint(api: Callable[[int, _Handler], _Endpoint], handler: _Handler) -> _Endpoint:
        # Items by tag are Level 1, the cursor listings Level 2 (reference section 7).
        level1, level2 = api(LEVEL1, handler), api(LEVEL2, handler)

        async def endpoint(request: Request) -> Response:
            return await (level1 if "tag_id" in request.query_params else level2)(request)

        return endpoint


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"status": status, "code": code, "message": message, "type": "error"}
    return JSONResponse(body, status_code=status, headers=headers)


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def _cursor_page(objects: list[Json], request: Request) -> Json:
    limit = _int(request, "limit", 10, 10, 50)
    cursor = request.query_params.get("cursor")
    start = 0
    if cursor:
        try:
            start = int(base64.urlsafe_b64decode(cursor.encode()).decode().removesuffix("~"))
        except ValueError:
            raise BadRequest("Invalid cursor") from None
    # No copies: the JSON response is rendered before anyone can change the board again.
    page = objects[start : start + limit]
    body: Json = {"data": page, "total": len(objects), "size": len(page), "limit": limit}
    if start + limit < len(objects):
        body["cursor"] = base64.urlsafe_b64encode(f"{start + limit}~".encode()).decode()
    body["links"] = {"self": str(request.url)}
    return body


def _offset_page(objects: list[Json], offset: int, limit: int) -> Json:
    page = objects[offset : offset + limit]
    return {
        "data": page,
        "total": len(objects),
        "size": len(page),
        "offset": offset,
        "limit": limit,
        "type": "list",
        "links": {},
    }
