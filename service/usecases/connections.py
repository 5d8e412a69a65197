"""Live connections of every provider: OAuth state, encrypted tokens, refresh under a lock.

Tokens are stored Fernet-encrypted (``VSM_ENCRYPTION_KEYS``, newest key first; MultiFernet
decrypts with any listed key, so keys rotate without re-consent). An authorization ``state`` is
``[workspace, nonce]`` signed and timestamped by itsdangerous under the newest encryption key
(salted per provider), stored until its callback consumes it (deleted: single use) and valid for
ten minutes. Refreshing rotates both tokens; :class:`StoredTokens` locks the connection row
(and, for SQLite's sake, an in-process lock), re-reads it and refreshes only when the stored
token is still the one that expired or was refused, so two workers never spend one refresh
token twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlmodel import Session, col, delete, select

from connectors.errors import AuthError
from connectors.loop import ProviderHttp
from connectors.provider import TokenPair
from service.crypto import Keyring, KeyringError
from service.db.engine import SessionFactory, begin_write
from service.db.tables import (
    Board,
    BoardSync,
    BoardSyncStatus,
    Connection,
    ConnectionStatus,
    OAuthState,
    utcnow,
)
from service.usecases.errors import ConflictError

log = structlog.get_logger(__name__)

STATE_TTL = timedelta(minutes=10)
REFRESH_MARGIN_S = 120.0  # refresh this long before expiry, as Miro's own clients do
MAX_REASON = 500

# What makes the providers' client (tests pass one with a mock transport); the composition
# root wraps it in the process's ``ProviderHttp``.
HttpFactory = Callable[[], httpx.AsyncClient]


Refresher = Callable[[httpx.AsyncClient, str], Awaitable[TokenPair]]


class StateError(Exception):
    """The authorization state is missing, forged, reused or expired."""


class EncryptionKeyError(Exception):
    """``VSM_ENCRYPTION_KEYS`` is missing or holds something that is not a Fernet key."""


class TokenCipher:
    """Encrypts tokens at rest and signs authorization states (keys newest first)."""

    def __init__(self, keys: Sequence[str]) -> None:
        try:
            self._keyring = Keyring(keys)
        except KeyringError as exc:
            raise EncryptionKeyError(str(exc)) from None
        self._state_secret = self._keyring.newest

    def encrypt(self, text: str) -> bytes:
        return self._keyring.encrypt(text)

    def decrypt(self, blob: bytes) -> str:
        """The stored token; :class:`AuthError` when no configured key opens it."""
        try:
            return self._keyring.decrypt(blob, what="the stored token")
        except KeyringError as exc:
            raise AuthError(f"{exc}: connect again") from None

    def state_serializer(self, provider: str) -> URLSafeTimedSerializer:
        """Signs and timestamps ``provider``'s authorization states (HMAC-SHA256; the salt
        keeps one provider's states, share links and session cookies apart)."""
        return URLSafeTimedSerializer(
            self._state_secret,
            salt=f"vsm-oauth-state:{provider}",
            signer_kwargs={"digest_method": hashlib.sha256},
        )


def begin_authorization(
    session: Session,
    cipher: TokenCipher,
    workspace_id: int,
    provider: str,
    *,
    code_verifier: str | None = None,
    now: datetime | None = None,
) -> str:
    """Store a fresh single-use state for ``workspace_id`` and return it. Flushes only."""
    current = now or utcnow()
    # Expired states of anyone are garbage now; keep the table small.
    session.exec(delete(OAuthState).where(col(OAuthState.expires_at) < current))
    nonce = secrets.token_urlsafe(24)
    session.add(
        OAuthState(
            nonce=nonce,
            workspace_id=workspace_id,
            provider=provider,
            code_verifier=code_verifier,
            expires_at=current + STATE_TTL,
        )
    )
    session.flush()
    return str(cipher.state_serializer(provider).dumps([workspace_id, nonce]))


def consume_state(
    session: Session,
    cipher: TokenCipher,
    provider: str,
    state: str | None,
    *,
    now: datetime | None = None,
) -> OAuthState:
    """Check and use up ``state``; raises :class:`StateError`. Flushes the deletion only."""
    if not state or len(state) > 300:
        raise StateError("the authorization state is missing or malformed")
    try:
        signed = cipher.state_serializer(provider).loads(
            state, max_age=int(STATE_TTL.total_seconds())
        )
    except SignatureExpired:
        raise StateError("the authorization state expired: start again") from None
    except BadSignature:
        raise StateError("the authorization state is not ours") from None
    if (
        not isinstance(signed, list)
        or len(signed) != 2
        or type(signed[0]) is not int
        or not isinstance(signed[1], str)
    ):
        raise StateError("the authorization state is missing or malformed")
    workspace_id, nonce = signed
    row = session.get(OAuthState, nonce)
    # Deleting by key is the single-use guarantee: of two callbacks racing, one deletes the row.
    deleted = session.exec(delete(OAuthState).where(col(OAuthState.nonce) == nonce))
    session.flush()
    if row is None or deleted.rowcount != 1:
        raise StateError("the authorization state was already used or never issued")
    if row.workspace_id != workspace_id or row.provider != provider:
        raise StateError("the authorization state belongs to another request")
    if row.expires_at < (now or utcnow()):
        raise StateError("the authorization state expired: start again")
    return row


def _expiry(tokens: TokenPair) -> datetime | None:
    if tokens.expires_at is None:
        return None
    return datetime.fromtimestamp(tokens.expires_at, UTC)


def consume_callback(
    session: Session,
    cipher: TokenCipher,
    provider: str,
    *,
    code: str | None,
    state: str | None,
) -> tuple[OAuthState, str]:
    """The callback's used-up ``state`` and its authorization ``code``.

    Raises :class:`StateError` for the state, then :class:`AuthError` when there is no usable
    code (the state is used up either way). Flushes the state's deletion only.
    """
    granted = consume_state(session, cipher, provider, state)
    if not code or len(code) > 2000:
        raise AuthError("the callback carries no authorization code")
    return granted, code


def store_connection(
    session: Session,
    cipher: TokenCipher,
    granted: OAuthState,
    tokens: TokenPair,
    *,
    account_id: str,
    account_name: str,
    user_id: str,
    user_name: str,
    scopes: Sequence[str],
) -> Connection:
    """Store the connection ``granted`` authorized, active, with ``tokens``; its boards that
    waited for re-authorization are ``ok`` again.

    One connection per workspace, provider, account and user: connecting again updates it.
    Ids are cut to 100 characters, names to 200, the scopes to 1000. Flushes; the caller commits.
    """
    provider = granted.provider
    account = account_id[:100]
    user = user_id[:100]
    row = session.exec(
        select(Connection).where(
            Connection.workspace_id == granted.workspace_id,
            Connection.provider == provider,
            Connection.account_id == account,
            Connection.user_id == user,
        )
    ).first()
    if row is None:
        row = Connection(
            workspace_id=granted.workspace_id,
            provider=provider,
            account_id=account,
            user_id=user,
            access_token=b"",
        )
    row.account_name = account_name[:200]
    row.user_name = user_name[:200]
    row.scopes = " ".join(scopes)[:1000]
    store_tokens(row, cipher, tokens, previous_refresh=None)
    row.status = ConnectionStatus.ACTIVE
    row.status_reason = None
    session.add(row)
    session.flush()
    set_boards_status(session, row, BoardSyncStatus.OK, None, only_if=BoardSyncStatus.NEEDS_REAUTH)
    log.info("connection_stored", connection_id=row.id, provider=provider)
    return row


def store_tokens(
    row: Connection, cipher: TokenCipher, tokens: TokenPair, previous_refresh: bytes | None
) -> None:
    """Encrypt a new token pair into ``row`` (the caller adds and commits)."""
    row.access_token = cipher.encrypt(tokens.access_token)
    # A refresh response without a new refresh token leaves the old one the only one there is.
    row.refresh_token = (
        cipher.encrypt(tokens.refresh_token) if tokens.refresh_token else previous_refresh
    )
    row.expires_at = _expiry(tokens)
    row.updated_at = utcnow()


def set_boards_status(
    session: Session,
    connection: Connection,
    status: BoardSyncStatus,
    reason: str | None,
    *,
    only_if: BoardSyncStatus | None = None,
) -> None:
    query = select(BoardSync).where(BoardSync.connection_id == connection.id)
    if only_if is not None:
        query = query.where(BoardSync.status == only_if)
    for sync in session.exec(query).all():
        sync.status = status
        sync.error = reason
        session.add(sync)


def provider_label(provider: str) -> str:
    """``"miro"`` -> ``"Miro"``, ``"mural"`` -> ``"Mural"``: for messages."""
    return provider.capitalize()


def mark_needs_reauth(session: Session, connection: Connection, reason: str) -> None:
    """The provider refused this connection's tokens: say so on it and on its boards."""
    text = reason[:MAX_REASON]
    connection.status = ConnectionStatus.NEEDS_REAUTH
    connection.status_reason = text
    connection.updated_at = utcnow()
    session.add(connection)
    set_boards_status(
        session,
        connection,
        BoardSyncStatus.NEEDS_REAUTH,
        f"the {provider_label(connection.provider)} connection needs re-authorization: {text}",
    )
    log.info("connection_needs_reauth", connection_id=connection.id)


_PROCESS_LOCKS: dict[int, threading.Lock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def _process_lock(connection_id: int) -> threading.Lock:
    # SQLite ignores SELECT ... FOR UPDATE; within one process this lock does its job.
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(connection_id, threading.Lock())


@dataclass
class StoredTokens:
    """The :class:`connectors.http.TokenProvider` of one stored connection (thread-safe).

    Returns the stored access token, refreshing it first when it expires within
    ``REFRESH_MARGIN_S`` or when ``force_refresh`` reports that the token it handed out was
    refused. ``invalid_grant`` marks the connection ``needs_reauth`` and raises ``AuthError``.
    Provider-neutral: ``refresher`` is the provider's refresh call (its live sync's
    ``refresh``).
    """

    session_factory: SessionFactory
    connection_id: int
    cipher: TokenCipher
    refresher: Refresher
    http_factory: ProviderHttp
    clock: Callable[[], float] = time.time
    _handed_out: str | None = field(default=None, repr=False)

    async def __call__(self, *, force_refresh: bool = False) -> str:
        return await asyncio.to_thread(self._current, force_refresh)

    def _usable(self, row: Connection | None, force_refresh: bool) -> str | None:
        """The row's access token when it needs no refresh, else None; raises ``AuthError``
        for a deleted or refused connection."""
        if row is None:
            raise AuthError("the connection was deleted")
        if row.status != ConnectionStatus.ACTIVE:
            raise AuthError(f"the connection needs re-authorization: {row.status_reason}")
        access = self.cipher.decrypt(row.access_token)
        expires = row.expires_at.timestamp() if row.expires_at else None
        expiring = expires is not None and expires - self.clock() < REFRESH_MARGIN_S
        refused = force_refresh and access == self._handed_out
        return None if expiring or refused else access

    def _current(self, force_refresh: bool) -> str:
        query = select(Connection).where(Connection.id == self.connection_id)
        row: Connection | None = None
        with _process_lock(self.connection_id), self.session_factory() as session:
            # Most calls find a usable token: read it without taking SQLite's write lock.
            access = self._usable(session.exec(query).first(), force_refresh)
            session.rollback()
            if access is None:
                # Refresh: a write transaction (SQLite BEGIN IMMEDIATE; PostgreSQL row lock)
                # re-reads the row, so the refresh token spent is the one stored last.
                begin_write(session)
                row = session.exec(query.with_for_update()).first()
                access = self._usable(row, force_refresh)
            if access is not None:
                session.rollback()
                self._handed_out = access
                return access
            assert row is not None
            if row.refresh_token is None:
                reason = "the access token was refused and there is no refresh token"
                mark_needs_reauth(session, row, reason)
                session.commit()
                raise AuthError(reason)
            refresh_token = self.cipher.decrypt(row.refresh_token)
            try:
                tokens = self.http_factory.run(lambda http: self.refresher(http, refresh_token))
            except AuthError as exc:
                mark_needs_reauth(session, row, str(exc))
                session.commit()
                raise
            except BaseException:
                session.rollback()
                raise
            store_tokens(row, self.cipher, tokens, previous_refresh=row.refresh_token)
            session.add(row)
            session.commit()
            log.info("connection_refreshed", connection_id=self.connection_id)
            self._handed_out = tokens.access_token
            return tokens.access_token


def connection_in_workspace(
    session: Session, workspace_id: int, connection_id: int
) -> Connection | None:
    row = session.get(Connection, connection_id)
    if row is None or row.workspace_id != workspace_id:
        return None
    return row


def forget_connection(session: Session, connection: Connection) -> None:
    """Delete the connection and its tokens; its boards stay, detached and ``needs_reauth``.

    Revoking the token at the provider first is the caller's part. Flushes; the caller commits.
    """
    set_boards_status(
        session,
        connection,
        BoardSyncStatus.NEEDS_REAUTH,
        f"the {provider_label(connection.provider)} connection was deleted",
    )
    for board in session.exec(select(Board).where(Board.connection_id == connection.id)).all():
        board.connection_id = None
        session.add(board)
    session.delete(connection)
    session.flush()


_ID_FORBIDDEN = set("/?#%\\ \t\r\n")


def connect_board(
    session: Session,
    workspace_id: int,
    connection: Connection,
    external_id: str,
    *,
    recheck_after: timedelta = timedelta(minutes=5),
    check_id: Callable[[str], None] | None = None,
) -> tuple[Board, BoardSync]:
    """Register the board ``external_id`` of the connection's provider under ``connection``
    (or re-attach it).

    Raises ``ValueError`` for an id that cannot be a board id (``check_id`` checks it for
    providers other than Miro) and ``ConflictError`` when the connection needs
    re-authorization. Flushes; the caller commits, then queues the fetch. The board is due for a
    check ``recheck_after`` from now (one poll interval).
    """
    provider = connection.provider
    if not external_id or len(external_id) > 200 or any(c in _ID_FORBIDDEN for c in external_id):
        raise ValueError(f"external_id is not a {provider_label(provider)} board id")
    if check_id is not None:
        check_id(external_id)
    if connection.status != ConnectionStatus.ACTIVE:
        raise ConflictError("the connection needs re-authorization first")
    board = session.exec(
        select(Board).where(
            Board.workspace_id == workspace_id,
            Board.provider == provider,
            Board.external_id == external_id,
        )
    ).first()
    if board is None:
        board = Board(workspace_id=workspace_id, provider=provider, external_id=external_id)
    board.source = provider
    board.connection_id = connection.id
    board.updated_at = utcnow()
    session.add(board)
    session.flush()
    assert board.id is not None
    sync = session.get(BoardSync, board.id) or BoardSync(board_id=board.id)
    sync.connection_id = connection.id
    sync.status = BoardSyncStatus.PENDING
    sync.error = None
    # Should the first fetch get lost, the poll finds the board due and asks again.
    sync.next_check_at = utcnow() + recheck_after
    session.add(sync)
    session.flush()
    return board, sync


def connection_summary(row: Connection) -> dict[str, Any]:
    """What the API shows of a connection: never a token."""
    return {
        "id": row.id,
        "provider": row.provider,
        "account_id": row.account_id,
        "account_name": row.account_name,
        "user_id": row.user_id,
        "user_name": row.user_name,
        "scopes": row.scopes.split(),
        "status": row.status,
        "status_reason": row.status_reason,
        "expires_at": row.expires_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
