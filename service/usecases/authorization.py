"""Connecting and disconnecting a provider account, the same for every provider.

Begin: a single-use signed state (with a fresh PKCE verifier kept server-side when the provider
takes PKCE) and the provider's authorize URL. Complete: the state used up, the code (and
verifier) traded for tokens and the account, the connection stored. Delete: the token revoked
at the provider where it offers a revocation call, then forgotten here.
"""

from __future__ import annotations

import structlog
from sqlmodel import Session

from connectors.errors import AuthError
from connectors.oauth import new_code_verifier
from connectors.provider import Grant
from service.db.tables import Connection
from service.usecases.connections import (
    begin_authorization,
    consume_callback,
    forget_connection,
    store_connection,
)
from service.usecases.live_sync import ProviderLive

log = structlog.get_logger(__name__)


def begin_provider_authorization(session: Session, live: ProviderLive, workspace_id: int) -> str:
    """Store a single-use state for ``workspace_id`` and return the provider's authorize URL.
    Flushes; the caller commits."""
    verifier = new_code_verifier() if live.source.pkce else None
    state = begin_authorization(
        session, live.cipher, workspace_id, live.provider, code_verifier=verifier
    )
    return live.source.authorize_url(state, verifier)


def complete_authorization(
    session: Session, live: ProviderLive, *, code: str | None, state: str | None
) -> Connection:
    """The callback: consume ``state``, trade ``code`` for tokens and the account, store the
    connection.

    Raises ``StateError`` (nothing stored), ``AuthError`` when the provider refuses the code
    (or a PKCE state lost its verifier), ``TransientError``/``RateLimitedError`` when the
    provider fails. The state is used up either way. Flushes; the caller commits.
    """
    granted, code = consume_callback(session, live.cipher, live.provider, code=code, state=state)
    if live.source.pkce and not granted.code_verifier:
        raise AuthError("the authorization request has no PKCE verifier: start again")
    verifier = granted.code_verifier
    grant: Grant = live.http_factory.run(
        lambda http: live.source.exchange_code(http, code, verifier)
    )
    who = grant.identity
    return store_connection(
        session,
        live.cipher,
        granted,
        grant.tokens,
        account_id=who.account_id,
        account_name=who.account_name,
        user_id=who.user_id,
        user_name=who.user_name,
        scopes=who.scopes,
    )


def delete_connection(
    session: Session, live: ProviderLive, connection: Connection, *, revocable: bool
) -> bool:
    """Revoke the token at the provider (when it is ``revocable``), then delete the
    connection; its boards stop syncing.

    Returns whether the provider revoked it (False: it had no revocation call, or already
    considered the token invalid). A token that cannot be decrypted any more is deleted without
    a revocation. ``TransientError`` leaves everything as it was. Flushes; the caller commits.
    """
    revoked = False
    access: str | None = None
    if revocable:
        try:
            access = live.cipher.decrypt(connection.access_token)
        except AuthError:
            access = None
    if access is not None:
        token = access
        try:
            revoked = live.http_factory.run(lambda http: live.source.revoke(http, token))
        except AuthError:
            revoked = False
    forget_connection(session, connection)
    log.info(
        "connection_deleted", connection_id=connection.id, provider=live.provider, revoked=revoked
    )
    return revoked
