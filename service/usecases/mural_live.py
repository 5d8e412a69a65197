"""Live Mural: OAuth with PKCE into a stored connection, and the provider side of live sync.

The shared machinery of :mod:`service.usecases.connections` (signed single-use state, encrypted
tokens refreshed under a row lock, ``needs_reauth``, board registration) and of
:mod:`service.usecases.live_sync` (fetch into an import job, polling) runs murals through
:class:`MuralLive`; this module adds only what Mural does differently:

* the authorization request carries a PKCE (S256) challenge; its verifier is kept with the
  single-use state and sent with the code exchange;
* refreshes send the client credentials as HTTP Basic and always rotate the refresh token;
* Mural has no revocation endpoint (users revoke at app.mural.co/account/api), so deleting a
  connection forgets its tokens;
* every call is charged to the user's bucket (25/s) and to the app's (10,000/min, shared by every
  tenant: in Redis at scale), see :class:`connectors.mural.client.MuralClient`;
* the poller's cheap check is the mural's ``updatedOn`` (``GET /murals/{id}``).
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import structlog
from sqlmodel import Session

from connectors.errors import AuthError
from connectors.http import DEFAULT_POLICY, MemoryRateBudget, RateBudget, RetryPolicy, StaticToken
from connectors.loop import ProviderHttp
from connectors.mural import oauth
from connectors.mural.client import MuralClient, change_marker
from connectors.mural.oauth import MuralTokens
from service.db.engine import SessionFactory
from service.db.tables import Connection
from service.dispatch import Dispatcher
from service.usecases.connections import (
    StoredTokens,
    TokenCipher,
    begin_authorization,
    consume_callback,
    forget_connection,
    store_connection,
)
from service.usecases.live_sync import next_poll

log = structlog.get_logger(__name__)

MURAL = "mural"
# "<workspace id>.<numeric id>" (mural-api.md §2.3; R-HVE validates the same pattern).
MURAL_ID = re.compile(r"[A-Za-z0-9]{1,100}\.[A-Za-z0-9-]{1,100}")


@dataclass(frozen=True, slots=True)
class MuralApp:
    """The OAuth app registered at Mural, as the composition root reads it from settings."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    api_url: str
    auth_url: str

    @property
    def token_url(self) -> str:
        return f"{self.auth_url.rstrip('/')}/token"

    @property
    def refresh_url(self) -> str:
        return f"{self.auth_url.rstrip('/')}/refresh"


@dataclass(frozen=True)
class MuralLive:
    """What the live Mural use cases need; built by a composition root.

    ``user_budget_for`` maps a user key to that user's rate budget (``user:<Mural user id>``:
    Mural counts a user's requests across apps, so all connections of one user share it;
    ``connection:<id>`` while the user is unknown), ``app_budget`` returns the budget every
    Mural call of this app shares.
    """

    session_factory: SessionFactory
    cipher: TokenCipher
    app: MuralApp
    http_factory: ProviderHttp
    user_budget_for: Callable[[str], RateBudget]
    app_budget: Callable[[], RateBudget]
    dispatcher: Dispatcher
    poll_interval_s: float = 300.0
    poll_jitter: float = 0.2
    policy: RetryPolicy = DEFAULT_POLICY
    rand: Callable[[], float] = random.random

    provider = MURAL
    label = "Mural"

    async def refresh(self, http: httpx.AsyncClient, refresh_token: str) -> MuralTokens:
        """Mural's refresh (client credentials as HTTP Basic; always rotates)."""
        return await oauth.refresh(
            http, self.app.refresh_url, self.app.client_id, self.app.client_secret, refresh_token
        )

    def tokens(self, connection_id: int) -> StoredTokens:
        return StoredTokens(
            self.session_factory, connection_id, self.cipher, self.refresh, self.http_factory
        )

    def user_key(self, connection_id: int) -> str:
        """The rate-budget key of the connection's Mural user (one small read)."""
        with self.session_factory() as session:
            row = session.get(Connection, connection_id)
            user = row.user_id if row is not None else ""
            session.rollback()
        return f"user:{user}" if user else f"connection:{connection_id}"

    async def client(self, http: httpx.AsyncClient, connection_id: int) -> MuralClient:
        """A client for the connection: its stored tokens, its user's and the app's budgets."""
        key = await asyncio.to_thread(self.user_key, connection_id)
        return MuralClient(
            http,
            self.tokens(connection_id),
            self.user_budget_for(key),
            self.app_budget(),
            self.app.api_url,
            policy=self.policy,
        )

    async def fetch_dump(
        self, http: httpx.AsyncClient, connection_id: int, external_id: str
    ) -> dict[str, Any]:
        return await (await self.client(http, connection_id)).fetch_mural(external_id)

    async def change_marker(
        self, http: httpx.AsyncClient, connection_id: int, external_id: str
    ) -> str | None:
        """The cheap check: one ``GET /murals/{id}`` for its ``updatedOn``."""
        client = await self.client(http, connection_id)
        return change_marker(await client.get_mural(external_id))

    def marker_of(self, dump: dict[str, Any]) -> str | None:
        mural = dump.get("mural")
        return change_marker(mural) if isinstance(mural, dict) else None

    def check_external_id(self, external_id: str) -> None:
        """Raises ``ValueError`` unless ``external_id`` looks like a Mural mural id."""
        if not MURAL_ID.fullmatch(external_id):
            raise ValueError("external_id is not a Mural id (workspace.number)")

    def next_check(self, now: datetime) -> datetime:
        return next_poll(now, self.poll_interval_s, self.poll_jitter, self.rand)


def begin_mural_authorization(session: Session, live: MuralLive, workspace_id: int) -> str:
    """A single-use state with a fresh PKCE verifier; returns Mural's authorize URL. Flushes."""
    verifier, challenge = oauth.new_pkce()
    state = begin_authorization(session, live.cipher, workspace_id, MURAL, code_verifier=verifier)
    return oauth.authorize_url(
        live.app.auth_url, live.app.client_id, live.app.redirect_uri, state, challenge
    )


async def _exchange(
    live: MuralLive, http: httpx.AsyncClient, code: str, verifier: str
) -> tuple[MuralTokens, dict[str, Any]]:
    tokens = await oauth.exchange_code(
        http,
        live.app.token_url,
        live.app.client_id,
        live.app.client_secret,
        code,
        live.app.redirect_uri,
        verifier,
    )
    client = MuralClient(
        http,
        StaticToken(tokens.access_token),
        MemoryRateBudget(),
        live.app_budget(),
        live.app.api_url,
        policy=live.policy,
    )
    me = await client.get_me()
    return tokens, me


def complete_mural_authorization(
    session: Session, live: MuralLive, *, code: str | None, state: str | None
) -> Connection:
    """The callback: consume ``state``, trade ``code`` (with the PKCE verifier) for tokens, read
    the user (``/users/me``) and store the connection.

    Raises ``StateError`` (nothing stored), ``AuthError`` when Mural refuses the code,
    ``TransientError``/``RateLimitedError`` when Mural fails. Flushes; the caller commits.
    """
    granted, code = consume_callback(session, live.cipher, MURAL, code=code, state=state)
    if not granted.code_verifier:
        raise AuthError("the authorization request has no PKCE verifier: start again")
    verifier = granted.code_verifier
    tokens, me = live.http_factory.run(lambda http: _exchange(live, http, code, verifier))
    names = (_text(me.get("firstName"), 100), _text(me.get("lastName"), 100))
    return store_connection(
        session,
        live.cipher,
        granted,
        tokens,
        account_id=_text(me.get("companyId"), 100),
        account_name=_text(me.get("companyName"), 200),
        user_id=_text(me.get("id"), 100),
        user_name=" ".join(n for n in names if n),
        scopes=tokens.scopes or oauth.DEFAULT_SCOPES,
    )


def delete_mural_connection(session: Session, connection: Connection) -> None:
    """Forget the connection's tokens (Mural offers no revocation call); its boards stop syncing.

    Flushes; the caller commits.
    """
    forget_connection(session, connection)
    log.info("connection_deleted", connection_id=connection.id, provider=MURAL)


def _text(value: object, limit: int) -> str:
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)[:limit]
    return value[:limit] if isinstance(value, str) else ""
