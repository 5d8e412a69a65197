"""Miro behind the provider seam: OAuth, the board dump, ``modifiedAt``, browsing boards.

What Miro does its own way (miro-api.md): no PKCE (its reference documents none; the client
secret authenticates the exchange); the account is read from ``GET /v1/oauth-token``; tokens are
revoked with ``POST /v2/oauth/revoke``; every call is charged to the connection's credits
(Miro meters each user token); the cheap change check is the board's ``modifiedAt``; browsing
is ``GET /v2/boards`` with offset paging (1..50 per page).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from connectors import provider as seam
from connectors.http import (
    DEFAULT_POLICY,
    Clock,
    MemoryRateBudget,
    RateBudget,
    RetryPolicy,
    StaticToken,
)
from connectors.miro import oauth
from connectors.miro.client import DEFAULT_API_URL, PAGE_LIMIT, MiroClient
from connectors.miro.oauth import MiroTokens
from connectors.oauth import OAuthApp

NAME = "miro"
KINDS = ("boards",)
_MAX_OFFSET = 1_000_000


class MiroProvider:
    """The :class:`connectors.provider.BoardProvider` of Miro; ``budget_for`` maps
    ``connection:<id>`` to that connection's rate budget."""

    name = NAME
    label = "Miro"
    pkce = False
    browse_kinds = KINDS

    def __init__(
        self,
        app: OAuthApp,
        budget_for: Callable[[str], RateBudget],
        policy: RetryPolicy = DEFAULT_POLICY,
    ) -> None:
        self.app = app
        self._budget_for = budget_for
        self._policy = policy

    def authorize_url(self, state: str, code_verifier: str | None) -> str:
        return oauth.authorize_url(self.app, state)

    async def exchange_code(
        self, http: httpx.AsyncClient, code: str, code_verifier: str | None
    ) -> seam.Grant:
        """The code for tokens, then ``GET /v1/oauth-token`` for the team and user."""
        tokens = await oauth.exchange_code(http, self.app, code)
        info = await oauth.get_token_info(http, self.app.api_url, tokens.access_token)
        return seam.Grant(
            tokens,
            seam.Identity(
                account_id=info.team_id or tokens.team_id or "",
                account_name=info.team_name or "",
                user_id=info.user_id or tokens.user_id or "",
                user_name=info.user_name or "",
                scopes=info.scopes or tokens.scopes,
            ),
        )

    async def refresh(self, http: httpx.AsyncClient, refresh_token: str) -> MiroTokens:
        """Miro's rotating refresh (the caller stores the new pair)."""
        return await oauth.refresh(http, self.app, refresh_token)

    async def revoke(self, http: httpx.AsyncClient, access_token: str) -> bool:
        return await oauth.revoke(http, self.app, access_token)

    async def fetch_dump(
        self, http: httpx.AsyncClient, access: seam.Access, external_id: str
    ) -> seam.Json:
        return await self.client(http, access).fetch_board(external_id)

    async def change_marker(
        self, http: httpx.AsyncClient, access: seam.Access, external_id: str
    ) -> str | None:
        board = await self.client(http, access).get_board(external_id)
        modified = board.get("modifiedAt")
        return modified[:64] if isinstance(modified, str) else None

    def marker_of(self, dump: seam.Json) -> str | None:
        meta = dump.get("board")
        modified = meta.get("modifiedAt") if isinstance(meta, dict) else None
        return modified[:64] if isinstance(modified, str) else None

    def check_external_id(self, external_id: str) -> None:
        """Miro board ids are opaque (``uXjVO1a2b3c=``): the shared path-safety check is all."""

    async def browse(
        self, http: httpx.AsyncClient, access: seam.Access, request: seam.Browse
    ) -> seam.RemotePage:
        """One page of the account's boards (``query`` searches names and descriptions)."""
        if (request.kind or KINDS[0]) not in KINDS:
            raise ValueError("a Miro account lists boards only")
        offset = _offset(request.position)
        limit = min(request.limit, PAGE_LIMIT)
        page = await self.client(http, access).get_boards_page(
            query=request.query, offset=offset, limit=limit
        )
        raw = page.get("data")
        data = [b for b in raw if isinstance(b, dict)] if isinstance(raw, list) else []
        items = [_board(b) for b in data if isinstance(b.get("id"), str) and b["id"]]
        total = page.get("total")
        following = offset + len(data)
        more = bool(data) and isinstance(total, int) and following < min(total, _MAX_OFFSET)
        return seam.RemotePage(
            items=items, limit=limit, next_position={"offset": following} if more else None
        )

    def client(self, http: httpx.AsyncClient, access: seam.Access) -> MiroClient:
        return MiroClient(
            http,
            access.tokens,
            self._budget_for(f"connection:{access.connection_id}"),
            self.app.api_url,
            policy=self._policy,
        )


def _offset(position: Mapping[str, Any] | None) -> int:
    if position is None:
        return 0
    offset = position.get("offset")
    if type(offset) is not int or not 0 <= offset <= _MAX_OFFSET:
        raise ValueError("not a position of a Miro board listing")
    return offset


def _board(board: Mapping[str, Any]) -> seam.RemoteItem:
    def text(key: str, limit: int) -> str | None:
        value = board.get(key)
        return value[:limit] if isinstance(value, str) else None

    return seam.RemoteItem(
        kind="board",
        id=str(board["id"]),
        name=text("name", 500) or "",
        description=text("description", 2000),
        modified_at=text("modifiedAt", 64),
        view_link=text("viewLink", 2000),
    )


def build(app: OAuthApp, budgets: seam.BudgetFactory, policy: RetryPolicy) -> MiroProvider:
    """A budget per connection (Miro meters each user token); kept three minutes."""
    return MiroProvider(app, budgets(NAME, 180), policy)


async def fetch_with_token(
    http: httpx.AsyncClient,
    board_id: str,
    token: str,
    api_url: str,
    policy: RetryPolicy,
    clock: Clock,
) -> seam.Json:
    """The board as a Miro dump, fetched with one static token."""
    client = MiroClient(
        http, StaticToken(token), MemoryRateBudget(), api_url, policy=policy, clock=clock
    )
    return await client.fetch_board(board_id)


def _summary(dump: seam.Json) -> str:
    return (
        f"{len(dump['items'])} items, {len(dump['connectors'])} connectors and "
        f"{len(dump['tags'])} tags"
    )


DUMP = seam.DumpCommand(
    help="dump a Miro board",
    description=(
        "Fetch a Miro board (items, connectors, tags) with an access token that has "
        "boards:read and write the Miro dump."
    ),
    id_dest="board_id",
    id_metavar="BOARD_ID",
    id_help="Miro board id, e.g. uXjVO1a2b3c=",
    api_name="Miro REST API",
    subject="Miro board",
    not_an_id="a Miro board id",
    fetch=fetch_with_token,
    summary=_summary,
)
"""``vsm dump miro``: the words and the static-token fetch."""

REGISTRATION = seam.Registration(
    name=NAME,
    label="Miro",
    resource="boards",
    default_api_url=DEFAULT_API_URL,
    revocable=True,
    build=build,
    dump=DUMP,
)
