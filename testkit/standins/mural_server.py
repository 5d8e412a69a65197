"""Stand-in for Mural's public REST API and OAuth endpoints (ASGI), for tests and benchmarks.

Serves the documented shapes (/work/shared/reference/mural-api.md): ``{"value": ...}`` envelopes,
``{value, next}`` paging whose ``limit`` must stay the same on every page, expiring ``next``
tokens (400 ``NEXT_TOKEN_EXPIRED``), scope checks (403 ``INVALID_SCOPE``), 401 ``TOKEN_EXPIRED``,
the authorize/token/refresh endpoints with PKCE (S256), HTTP Basic client auth on refresh and
refresh-token rotation, and both rate limits (per user per second, per app per minute) with
``x-ratelimit-*`` / ``x-ratelimit-app-*`` headers (reset in epoch seconds, no Retry-After) and 429.

``serve(stand_in.app())`` runs it on a real socket (uvicorn in a thread, 127.0.0.1, random port).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

Json = dict[str, Any]

_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
READ_SCOPES = ("workspaces:read", "rooms:read", "murals:read", "identity:read")


@dataclass
class Grant:
    user_id: str
    client_id: str
    scopes: frozenset[str]
    expires_at: float


@dataclass
class CodeGrant:
    user_id: str
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    challenge: str | None
    expires_at: float


@dataclass
class NextToken:
    listing: str
    offset: int
    limit: int | None
    expires_at: float


@dataclass
class SeenRequest:
    """One request as the stand-in saw it (for assertions and benchmark figures)."""

    method: str
    path: str
    query: dict[str, str]
    user_id: str | None
    status: int
    at: float


@dataclass
class MuralStandIn:
    """In-memory Mural. Mutate its public dicts to arrange a test; read ``requests`` to assert."""

    prefix: str = "/api/public/v1"
    client_id: str = "vsm-mural-client"
    client_secret: str = "vsm-mural-secret"
    redirect_uris: tuple[str, ...] = ("http://localhost:8000/v1/oauth/mural/callback",)
    app_scopes: tuple[str, ...] = READ_SCOPES
    latency: float = 0.0
    user_rate: int = 25
    app_rate: int = 10_000
    app_window_s: int = 60
    default_limit: int = 100
    max_limit: int = 100
    next_ttl: float = 600.0
    access_ttl: float = 900.0
    consent_user: str = "u1"
    clock: Callable[[], float] = time.time

    users: dict[str, Json] = field(default_factory=dict)
    workspaces: dict[str, Json] = field(default_factory=dict)
    rooms: dict[str, list[Json]] = field(default_factory=dict)
    murals: dict[str, Json] = field(default_factory=dict)
    widgets: dict[str, list[Json]] = field(default_factory=dict)
    tags: dict[str, list[Json]] = field(default_factory=dict)
    voting_sessions: dict[str, list[Json]] = field(default_factory=dict)
    voting_results: dict[tuple[str, str], list[Json]] = field(default_factory=dict)

    access_tokens: dict[str, Grant] = field(default_factory=dict)
    refresh_tokens: dict[str, Grant] = field(default_factory=dict)
    codes: dict[str, CodeGrant] = field(default_factory=dict)
    requests: list[SeenRequest] = field(default_factory=list)
    expire_next_tokens_on_use: int = 0
    """That many upcoming ``?next=`` requests answer 400 NEXT_TOKEN_EXPIRED."""

    _next_tokens: dict[str, NextToken] = field(default_factory=dict)
    _user_window: tuple[int, dict[str, int]] = field(default_factory=lambda: (0, {}))
    _app_window: tuple[int, dict[str, int]] = field(default_factory=lambda: (0, {}))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- arranging -----------------------------------------------------------------------

    def add_user(self, user_id: str, first_name: str = "Ana", last_name: str = "Lee") -> Json:
        user = {
            "id": user_id,
            "email": f"{user_id}@example.com",
            "firstName": first_name,
            "lastName": last_name,
            "companyId": "c-123",
            "companyName": "Acme",
            "type": "member",
            "createdOn": 1690000000000,
        }
        self.users[user_id] = user
        return user

    def add_workspace(self, workspace_id: str, name: str = "Acme") -> Json:
        workspace = {"id": workspace_id, "name": name, "description": "", "locked": False}
        self.workspaces[workspace_id] = workspace
        self.rooms.setdefault(workspace_id, [])
        return workspace

    def add_room(self, workspace_id: str, room_id: int, name: str = "Workshops") -> Json:
        if workspace_id not in self.workspaces:
            self.add_workspace(workspace_id)
        room = {"id": room_id, "name": name, "type": "open", "workspaceId": workspace_id}
        self.rooms[workspace_id].append(room)
        return room

    def add_mural(
        self,
        mural_id: str,
        title: str,
        *,
        room_id: int = 1712000000001,
        widgets: Sequence[Json] = (),
        tags: Sequence[Json] = (),
        updated_on: int = 1754500000000,
    ) -> Json:
        workspace_id = mural_id.split(".", 1)[0]
        if workspace_id not in self.workspaces:
            self.add_workspace(workspace_id)
        if all(room["id"] != room_id for room in self.rooms[workspace_id]):
            self.add_room(workspace_id, room_id)
        mural = {
            "id": mural_id,
            "title": title,
            "workspaceId": workspace_id,
            "roomId": room_id,
            "folderId": None,
            "status": "active",
            "favorite": False,
            "infinite": False,
            "createdOn": 1754493659737,
            "updatedOn": updated_on,
            "width": 9216,
            "height": 6237,
            "backgroundColor": "#FAFAFAFF",
            "visitorsSettings": {"link": "", "visitors": "none", "workspaceMembers": "none"},
        }
        self.murals[mural_id] = mural
        self.widgets[mural_id] = [dict(w) for w in widgets]
        self.tags[mural_id] = [dict(t) for t in tags]
        return mural

    def add_dump(self, dump: Json, *, room_id: int = 1712000000001) -> str:
        """Serve a Mural dump (``testkit.builders.mural_dump``) as a live mural; returns its id."""
        mural = dump["mural"]
        self.add_mural(
            mural["id"],
            mural.get("title", ""),
            room_id=room_id,
            widgets=dump["widgets"],
            tags=dump.get("tags", []),
        )
        return str(mural["id"])

    def add_votes(self, mural_id: str, session_id: str, votes: dict[str, int]) -> None:
        """A finished voting session with ``votes[widget_id]`` total votes."""
        self.voting_sessions.setdefault(mural_id, []).append(
            {"id": session_id, "title": f"Vote {session_id}"}
        )
        self.voting_results[(mural_id, session_id)] = [
            {"widgetId": widget_id, "totalVotes": count, "uniqueVoters": count}
            for widget_id, count in votes.items()
        ]

    def touch(self, mural_id: str) -> None:
        """Move the mural's ``updatedOn`` forward, as any edit in Mural does."""
        mural = self.murals[mural_id]
        mural["updatedOn"] = max(int(self.clock() * 1000), int(mural["updatedOn"]) + 1)

    def issue_token(
        self,
        user_id: str = "u1",
        scopes: Sequence[str] = READ_SCOPES,
        *,
        client_id: str | None = None,
        ttl: float | None = None,
    ) -> str:
        """An access token without the OAuth dance (for client tests)."""
        if user_id not in self.users:
            self.add_user(user_id)
        grant = Grant(
            user_id,
            client_id or self.client_id,
            frozenset(scopes),
            self.clock() + (self.access_ttl if ttl is None else ttl),
        )
        token = _jwt({"sub": user_id, "exp": int(grant.expires_at), "scopes": sorted(scopes)})
        self.access_tokens[token] = grant
        return token

    def api_calls(self, path_suffix: str = "") -> list[SeenRequest]:
        """Requests to API paths (not OAuth) whose path ends with ``path_suffix``."""
        return [
            r
            for r in self.requests
            if "/authorization/" not in r.path and r.path.endswith(path_suffix)
        ]

    # ---- the ASGI app --------------------------------------------------------------------

    def app(self) -> Starlette:
        p = self.prefix
        oauth = f"{p}/authorization/oauth2"
        return Starlette(
            routes=[
                Route(f"{oauth}/", self._oauth(self._authorize), methods=["GET"]),
                Route(oauth, self._oauth(self._authorize), methods=["GET"]),
                Route(f"{oauth}/token", self._oauth(self._token), methods=["POST"]),
                Route(f"{oauth}/refresh", self._oauth(self._refresh), methods=["POST"]),
                Route(f"{oauth}/refresh/", self._oauth(self._refresh), methods=["POST"]),
                Route(f"{p}/users/me", self._api(self._me, "identity:read")),
                Route(f"{p}/workspaces", self._api(self._workspaces, "workspaces:read")),
                Route(f"{p}/workspaces/{{wid}}/rooms", self._api(self._rooms, "rooms:read")),
                Route(
                    f"{p}/workspaces/{{wid}}/murals",
                    self._api(self._workspace_murals, "murals:read"),
                ),
                Route(f"{p}/rooms/{{rid}}/murals", self._api(self._room_murals, "murals:read")),
                Route(f"{p}/murals/{{mid}}", self._api(self._mural, "murals:read")),
                Route(f"{p}/murals/{{mid}}/widgets", self._api(self._widgets, "murals:read")),
                Route(f"{p}/murals/{{mid}}/tags", self._api(self._tags, "murals:read")),
                Route(
                    f"{p}/murals/{{mid}}/voting-sessions",
                    self._api(self._voting_sessions, "murals:read"),
                ),
                Route(
                    f"{p}/murals/{{mid}}/voting-sessions/{{sid}}/results",
                    self._api(self._voting_results, "murals:read"),
                ),
            ]
        )

    # ---- API plumbing --------------------------------------------------------------------

    def _api(
        self, handler: Callable[[Request, Grant], Response], scope: str
    ) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            # Counted on arrival, as a gateway does; ``latency`` is the time to answer.
            response, user_id = self._authorized(request, handler, scope)
            self._record(request, user_id, response.status_code)
            if self.latency:
                await asyncio.sleep(self.latency)
            return response

        return endpoint

    def _oauth(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if self.latency:
                await asyncio.sleep(self.latency)
            response = await handler(request)
            self._record(request, None, response.status_code)
            return response

        return endpoint

    def _authorized(
        self, request: Request, handler: Callable[[Request, Grant], Response], scope: str
    ) -> tuple[Response, str | None]:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        grant = self.access_tokens.get(token)
        if grant is None:
            return _error(401, "UNAUTHORIZED", "Invalid token"), None
        if grant.expires_at <= self.clock():
            return _error(401, "TOKEN_EXPIRED", "Your token has expired."), grant.user_id
        admitted, headers = self._admit(grant)
        response: Response
        if not admitted:
            response = _error(429, "RATE_LIMIT_EXCEEDED", "Too many requests")
        elif scope not in grant.scopes:
            response = _error(403, "INVALID_SCOPE", "Invalid scope")
        else:
            response = handler(request, grant)
        response.headers.update(headers)
        return response, grant.user_id

    def _admit(self, grant: Grant) -> tuple[bool, dict[str, str]]:
        """Fixed windows aligned on epoch seconds (user) and epoch minutes (app; another
        ``app_window_s`` lets a benchmark make the app limit bind in seconds)."""
        now = self.clock()
        second, minute = int(now), int(now // self.app_window_s)
        with self._lock:
            if self._user_window[0] != second:
                self._user_window = (second, {})
            if self._app_window[0] != minute:
                self._app_window = (minute, {})
            users, apps = self._user_window[1], self._app_window[1]
            used_user = users.get(grant.user_id, 0)
            used_app = apps.get(grant.client_id, 0)
            admitted = used_user < self.user_rate and used_app < self.app_rate
            if admitted:
                used_user += 1
                used_app += 1
                users[grant.user_id] = used_user
                apps[grant.client_id] = used_app
        headers = {
            "x-ratelimit-limit": str(self.user_rate),
            "x-ratelimit-remaining": str(max(self.user_rate - used_user, 0)),
            "x-ratelimit-reset": str(second + 1),
            "x-ratelimit-app-limit": str(self.app_rate),
            "x-ratelimit-app-remaining": str(max(self.app_rate - used_app, 0)),
            "x-ratelimit-app-reset": str((minute + 1) * self.app_window_s),
        }
        return admitted, headers

    def _record(self, request: Request, user_id: str | None, status: int) -> None:
        self.requests.append(
            SeenRequest(
                request.method,
                request.url.path,
                dict(request.query_params),
                user_id,
                status,
                self.clock(),
            )
        )

    def _page(
        self, request: Request, items: Sequence[Json], *, takes_limit: bool = True
    ) -> Response:
        """One page of ``items``; ``takes_limit=False`` for listings whose reference documents
        ``next`` only (voting sessions and results: R-RUBY facilitation_features.rb)."""
        params = request.query_params
        if not takes_limit and "limit" in params:
            return _error(400, "LIMIT_INVALID", "limit is not a parameter of this endpoint")
        raw_limit = params.get("limit")
        limit: int | None = None
        if raw_limit is not None:
            try:
                limit = int(raw_limit)
            except ValueError:
                limit = 0
            if limit <= 0:
                return _error(400, "LIMIT_INVALID", "limit should be positive non-zero value")
        filters = sorted((k, v) for k, v in params.items() if k not in ("limit", "next"))
        listing = f"{request.url.path}?{urlencode(filters)}"
        offset = 0
        token = params.get("next")
        if token is not None:
            entry = self._next_tokens.get(token)
            expired = self.expire_next_tokens_on_use > 0
            if expired:
                self.expire_next_tokens_on_use -= 1
            if expired or entry is None or entry.expires_at <= self.clock():
                return _error(
                    400,
                    "NEXT_TOKEN_EXPIRED",
                    "Next token expired or does not exist. Obtain new next token",
                )
            if entry.listing != listing:
                return _error(400, "PAGINATION_INVALID", "Filters changed between pages")
            if entry.limit != limit:
                return _error(400, "LIMIT_INVALID", "limit must be the same on every page")
            offset = entry.offset
        size = min(limit or self.default_limit, self.max_limit)
        body: Json = {"value": list(items[offset : offset + size])}
        if offset + size < len(items):
            new_token = secrets.token_urlsafe(12)
            self._next_tokens[new_token] = NextToken(
                listing, offset + size, limit, self.clock() + self.next_ttl
            )
            body["next"] = new_token
        return JSONResponse(body)

    # ---- API endpoints -------------------------------------------------------------------

    def _me(self, request: Request, grant: Grant) -> Response:
        return JSONResponse({"value": self.users[grant.user_id]})

    def _workspaces(self, request: Request, grant: Grant) -> Response:
        return self._page(request, list(self.workspaces.values()))

    def _rooms(self, request: Request, grant: Grant) -> Response:
        workspace_id = request.path_params["wid"]
        if workspace_id not in self.workspaces:
            return _error(404, "WORKSPACE_NOT_FOUND", "Workspace not found")
        return self._page(request, self.rooms[workspace_id])

    def _workspace_murals(self, request: Request, grant: Grant) -> Response:
        workspace_id = request.path_params["wid"]
        if workspace_id not in self.workspaces:
            return _error(404, "WORKSPACE_NOT_FOUND", "Workspace not found")
        murals = [m for m in self.murals.values() if m["workspaceId"] == workspace_id]
        return self._page(request, self._listed(murals, request))

    def _room_murals(self, request: Request, grant: Grant) -> Response:
        room_id = request.path_params["rid"]
        murals = [m for m in self.murals.values() if str(m["roomId"]) == room_id]
        return self._page(request, self._listed(murals, request))

    def _listed(self, murals: list[Json], request: Request) -> list[Json]:
        # Since 2023-12-06 the list endpoints omit width/height/backgroundColor (D-CL23).
        if request.query_params.get("sortBy") == "lastModified":
            murals = sorted(murals, key=lambda m: -int(m["updatedOn"]))
        thin = ("width", "height", "backgroundColor")
        return [{k: v for k, v in m.items() if k not in thin} for m in murals]

    def _mural(self, request: Request, grant: Grant) -> Response:
        mural = self.murals.get(request.path_params["mid"])
        if mural is None:
            return _error(404, "MURAL_NOT_FOUND", "Mural not found")
        return JSONResponse({"value": mural})

    def _widgets(self, request: Request, grant: Grant) -> Response:
        mural_id = request.path_params["mid"]
        if mural_id not in self.murals:
            return _error(404, "MURAL_NOT_FOUND", "Mural not found")
        widgets = self.widgets[mural_id]
        parent = request.query_params.get("parentId")
        if parent is not None:
            widgets = [w for w in widgets if w.get("parentId") == parent]
        return self._page(request, widgets)

    def _tags(self, request: Request, grant: Grant) -> Response:
        mural_id = request.path_params["mid"]
        if mural_id not in self.murals:
            return _error(404, "MURAL_NOT_FOUND", "Mural not found")
        return self._page(request, self.tags[mural_id])

    def _voting_sessions(self, request: Request, grant: Grant) -> Response:
        mural_id = request.path_params["mid"]
        if mural_id not in self.murals:
            return _error(404, "MURAL_NOT_FOUND", "Mural not found")
        return self._page(request, self.voting_sessions.get(mural_id, []), takes_limit=False)

    def _voting_results(self, request: Request, grant: Grant) -> Response:
        key = (request.path_params["mid"], request.path_params["sid"])
        if key not in self.voting_results:
            return _error(404, "VOTING_SESSION_NOT_FOUND", "Voting session not found")
        return self._page(request, self.voting_results[key], takes_limit=False)

    # ---- OAuth ---------------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        """Consent is automatic (as ``consent_user``); errors before the redirect are 400."""
        params = request.query_params
        redirect_uri = params.get("redirect_uri", "")
        if params.get("client_id") != self.client_id or redirect_uri not in self.redirect_uris:
            return _oauth_error(400, "invalid_request")
        state = params.get("state")

        def back(**query: str) -> Response:
            if state is not None:
                query["state"] = state
            return RedirectResponse(f"{redirect_uri}?{urlencode(query)}", status_code=302)

        scopes = frozenset(params.get("scope", "").split())
        if params.get("response_type") != "code":
            return back(error="unsupported_response_type")
        if not scopes or not scopes <= set(self.app_scopes):
            return back(error="invalid_scope")
        challenge = params.get("code_challenge")
        if challenge is not None and params.get("code_challenge_method") != "S256":
            return back(error="invalid_request")
        if self.consent_user not in self.users:
            self.add_user(self.consent_user)
        code = secrets.token_urlsafe(16)
        self.codes[code] = CodeGrant(
            self.consent_user, self.client_id, redirect_uri, scopes, challenge, self.clock() + 600
        )
        return back(code=code)

    async def _token(self, request: Request) -> Response:
        form = await _form(request)
        if form.get("grant_type") == "refresh_token":
            return self._rotate(request, form)
        if form.get("grant_type") != "authorization_code":
            return _oauth_error(400, "unsupported_grant_type")
        client_id, client_secret = _basic(request) or (
            form.get("client_id"),
            form.get("client_secret"),
        )
        if client_id != self.client_id or client_secret != self.client_secret:
            return _oauth_error(401, "invalid_client")
        code = self.codes.pop(form.get("code", ""), None)
        if code is None or code.expires_at <= self.clock():
            return _oauth_error(400, "invalid_grant")
        if code.redirect_uri != form.get("redirect_uri") or code.client_id != client_id:
            return _oauth_error(400, "invalid_grant")
        if code.challenge is not None:
            # RFC 7636 §4.6: the verifier must be well formed and hash to the challenge.
            verifier = form.get("code_verifier", "")
            if not _VERIFIER.fullmatch(verifier):
                return _oauth_error(400, "invalid_grant")
            digest = hashlib.sha256(verifier.encode()).digest()
            expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if not secrets.compare_digest(expected, code.challenge):
                return _oauth_error(400, "invalid_grant")
        return self._issue_pair(code.user_id, code.client_id, code.scopes)

    async def _refresh(self, request: Request) -> Response:
        form = await _form(request)
        return self._rotate(request, form)

    def _rotate(self, request: Request, form: dict[str, str]) -> Response:
        if "client_secret" in form:
            # Body credentials on refresh were seen refused (mural-api.md §1.4, P-DEVTO).
            return _oauth_error(400, "invalid_client")
        if _basic(request) != (self.client_id, self.client_secret):
            return _oauth_error(401, "invalid_client")
        if form.get("grant_type") != "refresh_token":
            return _oauth_error(400, "unsupported_grant_type")
        grant = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
        if grant is None:
            return _oauth_error(400, "invalid_grant")
        return self._issue_pair(grant.user_id, grant.client_id, grant.scopes)

    def _issue_pair(self, user_id: str, client_id: str, scopes: frozenset[str]) -> Response:
        access = self.issue_token(user_id, sorted(scopes), client_id=client_id)
        refresh_grant = Grant(user_id, client_id, scopes, self.clock() + 90 * 24 * 3600)
        refresh_token = _jwt(
            {"sub": user_id, "exp": int(refresh_grant.expires_at), "typ": "refresh"}
        )
        self.refresh_tokens[refresh_token] = refresh_grant
        return JSONResponse(
            {
                "access_token": access,
                "refresh_token": refresh_token,
                "token_type": "Bearer",
                "expires_in": int(self.access_ttl),
            }
        )


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def _oauth_error(status: int, error: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": error}, status_code=status)


async def _form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.json()
        return {k: str(v) for k, v in body.items()} if isinstance(body, dict) else {}
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:]).decode()
    except ValueError:
        return None
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(claims: Json) -> str:
    """A JWT-shaped token (Mural's tokens are JWTs); the signature is random, never checked."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps({**claims, "jti": secrets.token_hex(8)}).encode())
    return f"{header}.{payload}.{_b64(secrets.token_bytes(32))}"
