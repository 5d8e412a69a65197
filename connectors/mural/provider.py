"""Mural behind the provider seam: OAuth with PKCE, the mural dump, ``updatedOn``, browsing.

What Mural does differently from Miro (mural-api.md): the authorization carries a PKCE (S256)
challenge; refreshes send the client credentials as HTTP Basic and always rotate; there is no
revocation endpoint (users revoke at app.mural.co/account/api), so deleting a connection only
forgets its tokens; every call is charged to the user's bucket (25/s, counted by Mural per user
across apps) and to the app's (10,000/min, shared by every tenant: in Redis at scale); the cheap
change check is the mural's ``updatedOn``; browsing walks workspaces, rooms and murals.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
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
from connectors.mural import oauth
from connectors.mural.client import DEFAULT_API_URL, PAGE_LIMIT, MuralClient, change_marker
from connectors.mural.oauth import DEFAULT_SCOPES, MuralTokens
from connectors.oauth import OAuthApp

NAME = "mural"
# "<workspace id>.<numeric id>" (mural-api.md §2.3; R-HVE validates the same pattern).
MURAL_ID = re.compile(r"[A-Za-z0-9]{1,100}\.[A-Za-z0-9-]{1,100}")
KINDS = ("workspaces", "rooms", "murals")
_ITEM_KIND = {"workspaces": "workspace", "rooms": "room", "murals": "board"}


def token_url(app: OAuthApp) -> str:
    """Mural's token endpoint: ``{auth_url}token`` (mural-api.md §1.1)."""
    return f"{app.auth_url.rstrip('/')}/token"


def refresh_url(app: OAuthApp) -> str:
    """Mural's refresh endpoint: ``{auth_url}refresh`` (mural-api.md §1.1)."""
    return f"{app.auth_url.rstrip('/')}/refresh"


class MuralProvider:
    """The :class:`connectors.provider.BoardProvider` of Mural.

    ``user_budget_for`` maps ``user:<Mural user id>`` (``connection:<id>`` while the user is
    unknown) to that user's budget; ``app_budget`` is the one every call of this app shares.
    """

    name = NAME
    label = "Mural"
    pkce = True
    browse_kinds = KINDS

    def __init__(
        self,
        app: OAuthApp,
        user_budget_for: Callable[[str], RateBudget],
        app_budget: RateBudget,
        policy: RetryPolicy = DEFAULT_POLICY,
    ) -> None:
        self.app = app
        self._user_budget_for = user_budget_for
        self._app_budget = app_budget
        self._policy = policy

    def authorize_url(self, state: str, code_verifier: str | None) -> str:
        if code_verifier is None:
            raise ValueError("a Mural authorization needs a PKCE code_verifier")
        return oauth.authorize_url(
            self.app.auth_url, self.app.client_id, self.app.redirect_uri, state, code_verifier
        )

    async def exchange_code(
        self, http: httpx.AsyncClient, code: str, code_verifier: str | None
    ) -> seam.Grant:
        """The code and its verifier for tokens, then ``/users/me`` for whose they are."""
        if code_verifier is None:
            raise ValueError("a Mural code exchange needs the PKCE code_verifier")
        tokens = await oauth.exchange_code(
            http,
            token_url(self.app),
            self.app.client_id,
            self.app.client_secret,
            code,
            self.app.redirect_uri,
            code_verifier,
        )
        client = MuralClient(
            http,
            StaticToken(tokens.access_token),
            MemoryRateBudget(),
            self._app_budget,
            self.app.api_url,
            policy=self._policy,
        )
        me = await client.get_me()
        names = (_text(me.get("firstName"), 100), _text(me.get("lastName"), 100))
        return seam.Grant(
            tokens,
            seam.Identity(
                account_id=_text(me.get("companyId"), 100),
                account_name=_text(me.get("companyName"), 200),
                user_id=_text(me.get("id"), 100),
                user_name=" ".join(n for n in names if n),
                scopes=tokens.scopes or DEFAULT_SCOPES,
            ),
        )

    async def refresh(self, http: httpx.AsyncClient, refresh_token: str) -> MuralTokens:
        return await oauth.refresh(
            http, refresh_url(self.app), self.app.client_id, self.app.client_secret, refresh_token
        )

    async def revoke(self, http: httpx.AsyncClient, access_token: str) -> bool:
        """Mural offers no revocation call (registered not ``revocable``): nothing is sent."""
        return False

    async def change_marker(
        self, http: httpx.AsyncClient, access: seam.Access, external_id: str
    ) -> str | None:
        """The cheap check: one ``GET /murals/{id}`` for its ``updatedOn``."""
        return change_marker(await self.client(http, access).get_mural(external_id))

    async def fetch_dump(
        self, http: httpx.AsyncClient, access: seam.Access, external_id: str
    ) -> seam.Json:
        return await self.client(http, access).fetch_mural(external_id)

    def marker_of(self, dump: seam.Json) -> str | None:
        mural = dump.get("mural")
        return change_marker(mural) if isinstance(mural, dict) else None

    def check_external_id(self, external_id: str) -> None:
        """Raises ``ValueError`` unless ``external_id`` looks like a Mural mural id."""
        if not MURAL_ID.fullmatch(external_id):
            raise ValueError("external_id is not a Mural id (workspace.number)")

    async def browse(
        self, http: httpx.AsyncClient, access: seam.Access, request: seam.Browse
    ) -> seam.RemotePage:
        """Workspaces, rooms of a workspace, or murals of a workspace or room, one page.

        The position carries Mural's ``next`` token and the page size, which Mural wants the
        same on every page of a listing (mural-api.md §2.1); the filters must stay the same.
        """
        kind = request.kind or KINDS[0]
        if kind not in KINDS:
            raise ValueError(f"kind is one of {', '.join(KINDS)}")
        if kind == "rooms" and request.workspace_id is None:
            raise ValueError("rooms are listed per workspace: give workspace_id")
        if kind == "murals" and (request.workspace_id is None) == (request.room_id is None):
            raise ValueError("murals are listed per workspace or room: give one of them")
        next_token, limit = _position(request.position, min(request.limit, PAGE_LIMIT))
        page = await self.client(http, access).get_page(
            kind,
            workspace_id=request.workspace_id,
            room_id=request.room_id,
            next_token=next_token,
            limit=limit,
        )
        raw = page.get("value")
        entries = raw if isinstance(raw, list) else []
        items = [_item(kind, e) for e in entries if isinstance(e, dict) and _id(e.get("id"))]
        following = page.get("next")
        more = isinstance(following, str) and 0 < len(following) <= 2048
        return seam.RemotePage(
            items=items,
            limit=limit,
            next_position={"next": following, "limit": limit} if more else None,
        )

    def client(self, http: httpx.AsyncClient, access: seam.Access) -> MuralClient:
        """A client for the connection: its tokens, its user's and the app's budgets."""
        key = f"user:{access.user_id}" if access.user_id else f"connection:{access.connection_id}"
        return MuralClient(
            http,
            access.tokens,
            self._user_budget_for(key),
            self._app_budget,
            self.app.api_url,
            policy=self._policy,
        )


def _position(position: Mapping[str, Any] | None, limit: int) -> tuple[str | None, int]:
    if position is None:
        return None, limit
    token, size = position.get("next"), position.get("limit")
    if (
        not isinstance(token, str)
        or not 0 < len(token) <= 2048
        or type(size) is not int
        or not 1 <= size <= PAGE_LIMIT
    ):
        raise ValueError("not a position of a Mural listing")
    return token, size


def _item(kind: str, entry: Mapping[str, Any]) -> seam.RemoteItem:
    return seam.RemoteItem(
        kind=_ITEM_KIND[kind],
        id=_id(entry.get("id")),
        name=_text(entry.get("title") if kind == "murals" else entry.get("name"), 500),
        description=_text(entry.get("description"), 2000) or None,
        modified_at=_epoch_ms(entry.get("updatedOn")),
        workspace_id=_text(entry.get("workspaceId"), 200) or None,
        room_id=_id(entry.get("roomId")) or None,
    )


def _epoch_ms(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or not 0 <= value < 253_402_300_800_000:
        return None
    moment = datetime.fromtimestamp(value / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _id(value: object) -> str:
    # Room ids are numbers (mural-api.md §2.3); keep every id as text.
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) and len(value) <= 200 else ""


def _text(value: object, limit: int) -> str:
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)[:limit]
    return value[:limit] if isinstance(value, str) else ""


def build(app: OAuthApp, budgets: seam.BudgetFactory, policy: RetryPolicy) -> MuralProvider:
    """Users' budgets live a minute (Mural's user window is a second), the app's three."""
    return MuralProvider(
        app, budgets("mural-user", 60), budgets("mural-app", 180)(app.client_id), policy
    )


async def fetch_with_token(
    http: httpx.AsyncClient,
    mural_id: str,
    token: str,
    api_url: str,
    policy: RetryPolicy,
    clock: Clock,
) -> seam.Json:
    """The mural as a Mural dump, fetched with one static token (per-process pacing)."""
    client = MuralClient(
        http,
        StaticToken(token),
        MemoryRateBudget(),
        MemoryRateBudget(),
        api_url,
        policy=policy,
        clock=clock,
    )
    return await client.fetch_mural(mural_id)


def _summary(dump: seam.Json) -> str:
    votes = f" and votes on {len(dump['votes'])} widgets" if "votes" in dump else ""
    return f"{len(dump['widgets'])} widgets, {len(dump['tags'])} tags{votes}"


DUMP = seam.DumpCommand(
    help="dump a mural",
    description=(
        "Fetch a mural (widgets, tags, voting results) with an access token that has "
        "murals:read and write the Mural dump."
    ),
    id_dest="mural_id",
    id_metavar="MURAL_ID",
    id_help="Mural id, e.g. acme7380.1754493659737",
    api_name="Mural public API",
    subject="mural",
    not_an_id="a Mural id",
    fetch=fetch_with_token,
    summary=_summary,
)
"""``vsm dump mural``: the words and the static-token fetch."""

REGISTRATION = seam.Registration(
    name=NAME,
    label="Mural",
    resource="murals",
    default_api_url=DEFAULT_API_URL,
    revocable=False,
    build=build,
    dump=DUMP,
)
