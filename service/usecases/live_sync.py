"""Live boards: fetch a connected board into an import job, and poll boards for changes.

The provider side is a :class:`connectors.provider.BoardProvider` (how to fetch a dump, read the
cheap change marker and find that marker in a dump) inside a :class:`ProviderLive`. The rest is
the same for every provider.

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

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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
from connectors.loop import ProviderHttp
from connectors.progress import FetchTally
from connectors.provider import Access, BoardProvider, TokenPair
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
from service.domain.progress import progress_percent
from service.usecases.connections import (
    StoredTokens,
    TokenCipher,
    mark_needs_reauth,
)
from service.usecases.imports import (
    FETCHING,
    attach_fetched_dump,
    fail_import_job,
    hand_over,
    note_progress,
    open_fetch_job,
    parse_dump,
)
from service.usecases.uploads import UploadFolder

log = structlog.get_logger(__name__)

MAX_ERROR = 2000
# A board left ``pending`` past its next check had its fetch lost or delayed (a worker died, a
# long rate-limit wait): polling it again re-requests the fetch, which is harmless if it ran.
_POLLED = (BoardSyncStatus.OK, BoardSyncStatus.FAILED, BoardSyncStatus.PENDING)


def next_poll(
    now: datetime, interval_s: float, jitter: float, rand: Callable[[], float]
) -> datetime:
    """When a board polled at ``now`` is checked next: ``interval_s`` seconds later, spread by
    up to ``jitter`` (a fraction) either way so boards connected together drift apart."""
    spread = 1.0 + jitter * (2.0 * rand() - 1.0)
    return now + timedelta(seconds=interval_s * spread)


@dataclass(frozen=True)
class ProviderLive:
    """One configured provider's live sync: its :class:`connectors.provider.BoardProvider`
    (``source``) with what the use cases need around it; built by the composition root.

    The same for every provider: the source decides how to fetch, check and browse, this adds
    the stored connection's tokens (refreshed under a row lock) and the polling rhythm.
    """

    source: BoardProvider
    session_factory: SessionFactory
    cipher: TokenCipher
    http_factory: ProviderHttp  # the process's one loop and client for provider calls
    dispatcher: Dispatcher
    uploads: UploadFolder  # where a fetched dump waits for its import
    poll_interval_s: float = 300.0
    poll_jitter: float = 0.2
    rand: Callable[[], float] = random.random

    @property
    def provider(self) -> str:
        return self.source.name

    @property
    def label(self) -> str:
        return self.source.label

    async def refresh(self, http: httpx.AsyncClient, refresh_token: str) -> TokenPair:
        """The provider's refresh (``StoredTokens`` stores the new pair)."""
        return await self.source.refresh(http, refresh_token)

    def tokens(self, connection_id: int) -> StoredTokens:
        return StoredTokens(
            self.session_factory, connection_id, self.cipher, self.refresh, self.http_factory
        )

    def access(self, connection_id: int) -> Access:
        """The connection's token source and user id (one small read)."""
        with self.session_factory() as session:
            row = session.get(Connection, connection_id)
            user = row.user_id if row is not None else ""
            session.rollback()
        return Access(self.tokens(connection_id), connection_id, user)

    async def fetch_dump(
        self, http: httpx.AsyncClient, connection_id: int, external_id: str
    ) -> dict[str, Any]:
        access = await asyncio.to_thread(self.access, connection_id)
        return await self.source.fetch_dump(http, access, external_id)

    async def change_marker(
        self, http: httpx.AsyncClient, connection_id: int, external_id: str
    ) -> str | None:
        access = await asyncio.to_thread(self.access, connection_id)
        return await self.source.change_marker(http, access, external_id)

    def marker_of(self, dump: dict[str, Any]) -> str | None:
        return self.source.marker_of(dump)

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


def fetch_and_import(live: ProviderLive, board_id: int, *, trigger: str = "miro") -> int | None:
    """Fetch board ``board_id`` from its provider and queue its import; returns the job id.

    The job exists from the start of the fetch, ``running`` in phase ``fetching``, with the
    items fetched so far and the provider's total (``fetching 3,200/15,147 items``). None when
    the board cannot be fetched now for a reason shown in its sync state (refused, forbidden,
    gone, not a usable board); the job then ends ``failed`` with it. ``TransientError`` and
    ``RateLimitedError`` are raised after noting them on the board, for the caller to retry (a
    Celery countdown, or later); the retry takes the same job up again.
    """
    with live.session_factory() as session:
        begin_write(session)  # _target may note a lost connection on the board
        target, sync = _target(session, board_id, live.label)
        board = session.get(Board, board_id) if target is not None else None
        job_id = open_fetch_job(session, board, trigger).id if board is not None else None
        previous = sync.last_import_job_id if sync is not None else None
        if sync is not None and job_id is not None:
            sync.last_import_job_id = job_id  # followable from GET .../sync while it fetches
            session.add(sync)
        session.commit()
    if target is None or job_id is None:
        return None
    progress = _FetchProgress(live.session_factory, job_id)

    try:
        dump = live.http_factory.run(
            lambda http: live.fetch_dump(http, target.connection_id, target.external_id),
            on_response=progress.hook,
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
                sync.last_import_job_id = previous  # nothing was imported
                session.commit()
            fail_import_job(session, live.uploads, job_id, f"{live.label} refused the fetch: {exc}")
        log.info("live_fetch_refused", board_id=board_id, error=str(exc))
        return None

    raw = json.dumps(dump, ensure_ascii=False, separators=(",", ":")).encode()
    with live.session_factory() as session:
        begin_write(session)
        sync = session.get(BoardSync, board_id)
        if sync is None:
            return None  # the board was deleted while we fetched (its jobs with it)
        try:
            model = parse_dump(dump)
            if model.id != target.external_id:
                raise DumpError(f"{live.label} answered for board {model.id[:80]!r}")
        except DumpError as exc:
            _set(sync, BoardSyncStatus.FAILED, f"the board could not be read: {exc}")
            sync.last_import_job_id = previous
            session.add(sync)
            session.commit()
            fail_import_job(session, live.uploads, job_id, f"the board could not be read: {exc}")
            return None
        job = attach_fetched_dump(
            session, live.uploads, job_id, target.workspace_id, raw, model, trigger
        )
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


class _FetchProgress:
    """Stores a fetch's progress on its job after each listing page (``FetchTally``)."""

    def __init__(self, sessions: SessionFactory, job_id: int) -> None:
        self._sessions = sessions
        self._job_id = job_id
        self.tally = FetchTally(self._store)

    async def hook(self, response: httpx.Response) -> None:
        await self.tally.on_response(response)

    def _store(self, tally: FetchTally) -> None:
        done, total = tally.items, tally.total
        if total is not None:
            done = min(done, total)
        percent = progress_percent(FETCHING, done, total)
        with self._sessions() as session:
            note_progress(session, self._job_id, FETCHING, done, total, percent)


def poll_due_boards(
    live: ProviderLive, *, now: datetime | None = None, limit: int = 100
) -> list[int]:
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
