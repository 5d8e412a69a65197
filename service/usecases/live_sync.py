"""Live boards: fetch a connected board into an import job, and poll boards for changes.

The provider side is a :class:`LiveSync` (:class:`MiroLive` here, ``MuralLive`` in
:mod:`service.usecases.mural_live`): how to fetch a dump, read the cheap change marker and find
that marker in a dump. The rest is the same for every provider.

Miro retired its REST webhooks on 2025-12-05, so a board stays current by polling: each board's
``modifiedAt`` (one Level 1 call, charged to the connection's rate budget) is read every
``poll_interval_s`` (jittered so boards spread out), and a change queues a fetch. A fetch reads
the whole board through :class:`connectors.miro.client.MiroClient`; only a complete dump becomes
an import job (the same job an uploaded dump makes), so a fetch failing half-way stores nothing.
Provider refusals become board states: ``needs_reauth`` (401 after refresh, ``invalid_grant``),
``forbidden`` (403), ``not_found`` (404); transient failures and rate limits propagate for the
caller's retry.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
import structlog
from sqlmodel import Session, col, select

from connectors.errors import (
    AuthError,
    DumpError,
    ForbiddenError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    TransientError,
)
from connectors.http import DEFAULT_POLICY, RateBudget, RetryPolicy
from connectors.loop import ProviderHttp
from connectors.miro import oauth
from connectors.miro.client import MiroClient
from connectors.miro.oauth import MiroApp, MiroTokens
from service.db.engine import SessionFactory, begin_write
from service.db.tables import (
    Board,
    BoardSync,
    BoardSyncStatus,
    Connection,
    ConnectionStatus,
    utcnow,
)
from service.dispatch import Dispatcher
from service.usecases.connections import (
    MIRO,
    StoredTokens,
    TokenCipher,
    mark_needs_reauth,
)
from service.usecases.imports import hand_over, parse_dump, submit_import

log = structlog.get_logger(__name__)

MAX_ERROR = 2000
# A board left ``pending`` past its next check had its fetch lost or delayed (a worker died, a
# long rate-limit wait): polling it again re-requests the fetch, which is harmless if it ran.
_POLLED = (BoardSyncStatus.OK, BoardSyncStatus.FAILED, BoardSyncStatus.PENDING)


class LiveSync(Protocol):
    """One provider's side of live sync; ``provider`` is the ``Board.provider`` it serves."""

    @property
    def provider(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def session_factory(self) -> SessionFactory: ...
    @property
    def dispatcher(self) -> Dispatcher: ...
    @property
    def http_factory(self) -> ProviderHttp: ...

    async def fetch_dump(
        self, http: httpx.AsyncClient, connection_id: int, external_id: str
    ) -> dict[str, Any]: ...

    async def change_marker(
        self, http: httpx.AsyncClient, connection_id: int, external_id: str
    ) -> str | None: ...

    def marker_of(self, dump: dict[str, Any]) -> str | None: ...

    def next_check(self, now: datetime) -> datetime: ...


def next_poll(
    now: datetime, interval_s: float, jitter: float, rand: Callable[[], float]
) -> datetime:
    """When a board polled at ``now`` is checked next: ``interval_s`` seconds later, spread by
    up to ``jitter`` (a fraction) either way so boards connected together drift apart."""
    spread = 1.0 + jitter * (2.0 * rand() - 1.0)
    return now + timedelta(seconds=interval_s * spread)


@dataclass(frozen=True)
class MiroLive:
    """What the live Miro use cases need; built by a composition root."""

    session_factory: SessionFactory
    cipher: TokenCipher
    app: MiroApp
    http_factory: ProviderHttp
    budget_for: Callable[[int], RateBudget]  # connection id -> its shared rate budget
    dispatcher: Dispatcher
    poll_interval_s: float = 300.0
    poll_jitter: float = 0.2
    policy: RetryPolicy = DEFAULT_POLICY
    rand: Callable[[], float] = random.random

    provider = MIRO
    label = "Miro"

    async def fetch_dump(
        self, http: httpx.AsyncClient, connection_id: int, external_id: str
    ) -> dict[str, Any]:
        return await self.client(http, connection_id).fetch_board(external_id)

    async def change_marker(
        self, http: httpx.AsyncClient, connection_id: int, external_id: str
    ) -> str | None:
        board = await self.client(http, connection_id).get_board(external_id)
        modified = board.get("modifiedAt")
        return modified[:64] if isinstance(modified, str) else None

    def marker_of(self, dump: dict[str, Any]) -> str | None:
        meta = dump.get("board")
        modified = meta.get("modifiedAt") if isinstance(meta, dict) else None
        return modified[:64] if isinstance(modified, str) else None

    async def refresh(self, http: httpx.AsyncClient, refresh_token: str) -> MiroTokens:
        """Miro's rotating refresh (``StoredTokens`` stores the new pair)."""
        return await oauth.refresh(http, self.app, refresh_token)

    def client(self, http: httpx.AsyncClient, connection_id: int) -> MiroClient:
        tokens = StoredTokens(
            self.session_factory, connection_id, self.cipher, self.refresh, self.http_factory
        )
        return MiroClient(
            http,
            tokens,
            self.budget_for(connection_id),
            self.app.api_url,
            policy=self.policy,
        )

    def next_check(self, now: datetime) -> datetime:
        return next_poll(now, self.poll_interval_s, self.poll_jitter, self.rand)


@dataclass(frozen=True, slots=True)
class _Target:
    workspace_id: int
    external_id: str
    connection_id: int


def _target(session: Session, board_id: int, label: str) -> tuple[_Target | None, BoardSync | None]:
    board = session.get(Board, board_id)
    sync = session.get(BoardSync, board_id)
    if board is None or sync is None:
        return None, sync
    if sync.connection_id is None:
        _set(sync, BoardSyncStatus.NEEDS_REAUTH, f"the board has no {label} connection any more")
        session.add(sync)
        return None, sync
    connection = session.get(Connection, sync.connection_id)
    if connection is None or connection.status != ConnectionStatus.ACTIVE:
        reason = connection.status_reason if connection is not None else "connection deleted"
        _set(
            sync,
            BoardSyncStatus.NEEDS_REAUTH,
            f"the {label} connection needs re-authorization: {reason}",
        )
        session.add(sync)
        return None, sync
    return _Target(board.workspace_id, board.external_id, sync.connection_id), sync


def _set(sync: BoardSync, status: BoardSyncStatus, error: str | None) -> None:
    sync.status = status
    sync.error = None if error is None else error[:MAX_ERROR]


def _record_refusal(session: Session, sync: BoardSync, exc: ProviderError, label: str) -> None:
    """A refusal by the provider as the board's (and for 401 the connection's) state."""
    if isinstance(exc, AuthError):
        connection = session.get(Connection, sync.connection_id) if sync.connection_id else None
        if connection is not None and connection.status == ConnectionStatus.ACTIVE:
            mark_needs_reauth(session, connection, str(exc))
        _set(
            sync,
            BoardSyncStatus.NEEDS_REAUTH,
            f"the {label} connection needs re-authorization: {exc}",
        )
    elif isinstance(exc, ForbiddenError):
        _set(
            sync,
            BoardSyncStatus.FORBIDDEN,
            f"{label} does not let this account read the board: {exc}",
        )
    elif isinstance(exc, NotFoundError):
        _set(sync, BoardSyncStatus.NOT_FOUND, f"the board is gone from {label}: {exc}")
    else:
        _set(sync, BoardSyncStatus.FAILED, str(exc))
    session.add(sync)


def fetch_and_import(live: LiveSync, board_id: int, *, trigger: str = "miro") -> int | None:
    """Fetch board ``board_id`` from its provider and queue its import; returns the job id.

    None when the board cannot be fetched now for a reason shown in its sync state (refused,
    forbidden, gone, not a usable board). ``TransientError`` and ``RateLimitedError`` are raised
    after noting them on the board, for the caller to retry (a Celery countdown, or later).
    """
    with live.session_factory() as session:
        begin_write(session)  # _target may note a lost connection on the board
        target, _ = _target(session, board_id, live.label)
        session.commit()
    if target is None:
        return None

    try:
        dump = live.http_factory.run(
            lambda http: live.fetch_dump(http, target.connection_id, target.external_id)
        )
    except (TransientError, RateLimitedError) as exc:
        with live.session_factory() as session:
            begin_write(session)
            sync = session.get(BoardSync, board_id)
            if sync is not None:
                sync.error = f"{live.label} did not answer in time, retrying: {exc}"[:MAX_ERROR]
                session.add(sync)
                session.commit()
        raise
    except ProviderError as exc:
        with live.session_factory() as session:
            begin_write(session)
            sync = session.get(BoardSync, board_id)
            if sync is not None:
                _record_refusal(session, sync, exc, live.label)
                session.commit()
        log.info("live_fetch_refused", board_id=board_id, error=str(exc))
        return None

    raw = json.dumps(dump, ensure_ascii=False, separators=(",", ":")).encode()
    with live.session_factory() as session:
        begin_write(session)
        sync = session.get(BoardSync, board_id)
        if sync is None:
            return None  # the board was deleted while we fetched
        try:
            model = parse_dump(dump)
            if model.id != target.external_id:
                raise DumpError(f"{live.label} answered for board {model.id[:80]!r}")
        except DumpError as exc:
            _set(sync, BoardSyncStatus.FAILED, f"the board could not be read: {exc}")
            session.add(sync)
            session.commit()
            return None
        job, _ = submit_import(session, target.workspace_id, raw, model, trigger=trigger)
        now = utcnow()
        sync.remote_modified_at = live.marker_of(dump)
        sync.last_import_job_id = job.id
        sync.last_checked_at = now
        sync.next_check_at = live.next_check(now)
        _set(sync, BoardSyncStatus.OK, None)
        session.add(sync)
        session.commit()
    assert job.id is not None
    hand_over(live.dispatcher, job.id)
    log.info("live_fetch_queued", board_id=board_id, job_id=job.id, trigger=trigger)
    return job.id


def poll_due_boards(live: LiveSync, *, now: datetime | None = None, limit: int = 100) -> list[int]:
    """Check the change marker (Miro ``modifiedAt``, Mural ``updatedOn``) of ``live``'s
    provider's boards whose next check is due; returns the changed ones.

    Changed boards are left ``pending`` until the caller's fetch runs (and are checked again
    one interval later, should that fetch be lost). Each
    check is one Level 1 call on the board's connection budget. A refusal becomes the board's
    state; a transient failure or rate limit moves the check to its next interval.
    """
    current = now or utcnow()
    with live.session_factory() as session:
        due = session.exec(
            select(BoardSync, Board)
            .join(Board, col(Board.id) == col(BoardSync.board_id))
            .where(
                col(BoardSync.next_check_at) <= current,
                col(BoardSync.status).in_(list(_POLLED)),
                col(BoardSync.connection_id).is_not(None),
                col(Board.provider) == live.provider,
            )
            .order_by(col(BoardSync.next_check_at))
            .limit(limit)
        ).all()
        checks = [(sync.board_id, sync.connection_id, board.external_id) for sync, board in due]
        session.rollback()
    if not checks:
        return []

    async def check_all(http: httpx.AsyncClient) -> list[object]:
        results: list[object] = []
        for _, connection_id, external_id in checks:
            assert connection_id is not None
            try:
                marker = await live.change_marker(http, connection_id, external_id)
            except ProviderError as exc:
                results.append(exc)
            else:
                results.append(marker)
        return results

    outcomes = live.http_factory.run(check_all)
    changed: list[int] = []
    with live.session_factory() as session:
        begin_write(session)
        for (board_id, _, _), outcome in zip(checks, outcomes, strict=True):
            sync = session.get(BoardSync, board_id)
            if sync is None:
                continue
            sync.last_checked_at = current
            sync.next_check_at = live.next_check(current)
            if isinstance(outcome, TransientError | RateLimitedError):
                log.info("live_poll_deferred", board_id=board_id, error=str(outcome))
            elif isinstance(outcome, ProviderError):
                _record_refusal(session, sync, outcome, live.label)
            elif outcome != sync.remote_modified_at:
                _set(sync, BoardSyncStatus.PENDING, None)
                changed.append(board_id)
            session.add(sync)
        session.commit()
    if changed:
        log.info("live_poll_changed", boards=changed)
    return changed
