"""Inbound board triggers: secrets, verification, replay guard, coalescing state and the log.

Coalescing, per board (``board_webhook.state``)::

    idle --trigger--> pending (due_at = now + debounce; the ONE trigger that flipped it schedules
                               a fire after the debounce)
    pending --trigger--> pending (coalesced: the coming import will read the board anyway)
    pending --fire at due_at--> running (an import job is created and run)
    running --trigger--> running + dirty (coalesced: exactly one more import after this one)
    running --import done--> idle, or pending again when dirty (one follow-up, one schedule)

Every transition is one conditional UPDATE, so concurrent API processes and workers cannot both
win: on PostgreSQL the second writer re-reads the row after the first commits, on SQLite writers
are serialized. Functions here flush or execute but never commit: the caller owns the
transaction and schedules only after its commit.

A trigger's own statements (read the secrets, remember the delivery id, the transition, the
log entry) run for every trigger, so they are compiled once (:class:`TriggerStore`) and run in
one transaction on a DBAPI connection, without a ``Session``. On PostgreSQL the last three are
one statement (``_RECORD``): each statement there is a round trip and 50-90 us of psycopg's
CPU in the API process.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from service.db.engine import (
    PlainQuery,
    plain_transaction,
    sqlite_write_now,
    sqlite_writer_now,
)
from service.db.tables import ImportJob, UTCDateTime
from service.webhooks import signing
from service.webhooks.config import SecretBox
from service.webhooks.tables import (
    BoardWebhook,
    HookDeliverySeen,
    HookState,
    HookTrigger,
    TriggerOutcome,
)

MAX_DELIVERY_ID = 100
# A pending board whose fire is this late, or an import running this long, gets re-armed by the
# next trigger: a lost task (a worker gone with its countdown) must not stall the board for good.
STALE_PENDING = timedelta(seconds=60)
STALE_RUNNING = timedelta(minutes=30)
# Delivery ids are kept a little longer than the time a signature stays valid on either side of
# the server clock, so a replay inside that window is always recognized.
SEEN_MARGIN = timedelta(minutes=5)
_DETAIL_CHARS = 500


class TriggerRejected(Exception):
    """The trigger is refused; ``reason`` is the stable code shown in the delivery log."""

    def __init__(self, reason: str, detail: str, status: int) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.status = status


@dataclass(frozen=True, slots=True)
class TriggerResult:
    """What became of an accepted trigger; ``fire_in_s`` is set when the caller must schedule
    the board's fire after committing (only the trigger that started the window does)."""

    outcome: TriggerOutcome
    detail: str
    fire_in_s: float | None


def rotate_secret(
    session: Session, board_id: int, box: SecretBox, *, overlap_s: int, now: datetime
) -> tuple[str, datetime | None]:
    """Create the board's webhook secret, or replace it; returns ``(secret, old_valid_until)``.

    The previous secret keeps verifying for ``overlap_s`` seconds (``old_valid_until``; None on
    the first secret or with no overlap). The secret is only ever returned here.
    """
    secret = signing.new_secret()
    row = session.get(BoardWebhook, board_id)
    valid_until = None
    if row is None:
        session.add(BoardWebhook(board_id=board_id, secret=box.seal(secret), rotated_at=now))
    else:
        if overlap_s > 0:
            valid_until = now + timedelta(seconds=overlap_s)
            row.previous_secret, row.previous_valid_until = row.secret, valid_until
        else:
            row.previous_secret, row.previous_valid_until = None, None
        row.secret = box.seal(secret)
        row.rotated_at = now
        session.add(row)
    session.flush()
    return secret, valid_until


_SECRETS = sa.select(
    BoardWebhook.__table__.c.secret,  # type: ignore[attr-defined]
    BoardWebhook.__table__.c.previous_secret,  # type: ignore[attr-defined]
    BoardWebhook.__table__.c.previous_valid_until,  # type: ignore[attr-defined]
).where(BoardWebhook.__table__.c.board_id == sa.bindparam("board"))  # type: ignore[attr-defined]


def board_secrets(
    row: tuple[Any, ...] | None, opener: Callable[[bytes], str], now: datetime
) -> list[str] | None:
    """The secrets that verify the board's triggers now, from its ``TriggerStore.secrets``
    row, or None when it has no webhook (no row)."""
    if row is None:
        return None
    secret, previous, until = row
    found = [opener(secret)]
    if previous is not None and until is not None and until > now:
        found.append(opener(previous))
    return found


def verifying_secrets(
    row: BoardWebhook, opener: SecretBox | Callable[[bytes], str], now: datetime
) -> list[str]:
    """The secrets that verify now: the current one, and the previous one during its overlap.

    ``opener`` decrypts a stored secret (a ``SecretBox``, or a cache in front of one)."""
    open_secret = opener.open if isinstance(opener, SecretBox) else opener
    found = [open_secret(row.secret)]
    until = row.previous_valid_until
    if row.previous_secret is not None and until is not None and until > now:
        found.append(open_secret(row.previous_secret))
    return found


def check_delivery_id(value: str | None) -> str:
    """The ``Valuestream-Delivery`` header value, or ``TriggerRejected``."""
    if value is None or not value.strip():
        raise TriggerRejected(
            "delivery_id_missing", f"the {signing.DELIVERY_HEADER} header is missing", 400
        )
    value = value.strip()
    if len(value) > MAX_DELIVERY_ID or not value.isascii() or not value.isprintable():
        raise TriggerRejected(
            "delivery_id_malformed",
            f"the {signing.DELIVERY_HEADER} header must be 1 to {MAX_DELIVERY_ID} printable "
            "ASCII characters",
            400,
        )
    return value


def precheck(header: str | None, now: float, tolerance_s: int) -> None:
    """The checks that need no database: a well-formed header with a fresh timestamp."""
    try:
        timestamp, _ = signing.parse(header)
    except signing.SignatureError as exc:
        raise TriggerRejected(exc.reason, str(exc), 401) from None
    if abs(now - timestamp) > tolerance_s:
        raise TriggerRejected(
            signing.ExpiredTimestamp.reason,
            f"the signature timestamp is more than {tolerance_s} seconds away from the server "
            "clock",
            401,
        )


def verify_trigger(
    secrets: Sequence[str],
    header: str | None,
    body: bytes,
    delivery_id: str,
    now: float,
    tolerance_s: int,
) -> None:
    """Check the signature; a JSON body naming a ``delivery_id`` must name the header's one.

    The signature covers the timestamp and the body, not the delivery id header; a sender that
    also puts the id into the body gets it signed, and then it cannot be swapped.
    """
    try:
        signing.verify(secrets, header, body, now, tolerance_s)
    except signing.SignatureError as exc:
        raise TriggerRejected(exc.reason, str(exc), 401) from None
    named = _body_delivery_id(body)
    if named is not None and named != delivery_id:
        raise TriggerRejected(
            "delivery_id_mismatch",
            f"the body's delivery_id differs from the {signing.DELIVERY_HEADER} header",
            401,
        )


def _body_delivery_id(body: bytes) -> str | None:
    if not body.lstrip().startswith(b"{"):
        return None
    try:
        data: Any = json.loads(body)
    except (ValueError, RecursionError):
        return None
    value = data.get("delivery_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _update(session: Session, statement: Any) -> int:
    result = session.connection().execute(statement)
    return int(result.rowcount or 0)


_table = BoardWebhook.__table__  # type: ignore[attr-defined]
_seen = HookDeliverySeen.__table__  # type: ignore[attr-defined]
_log = HookTrigger.__table__  # type: ignore[attr-defined]


_due = sa.bindparam("due", type_=UTCDateTime())
# One statement moves the board along when a trigger changes something: an idle board becomes
# pending (this trigger's due_at), a running board without a follow-up gets one. SET expressions
# read the old row (SQL standard, also SQLite). A board already pending, or running with a
# follow-up, is not written at all: on PostgreSQL a burst of triggers then takes no row lock,
# and their commits do not queue behind one another.
_TRANSITION = (
    sa.update(_table)
    .where(
        _table.c.board_id == sa.bindparam("board"),
        sa.or_(
            _table.c.state == HookState.IDLE.value,
            sa.and_(_table.c.state == HookState.RUNNING.value, _table.c.dirty == sa.false()),
        ),
    )
    .values(
        state=sa.case(
            (_table.c.state == HookState.IDLE.value, HookState.PENDING.value),
            else_=_table.c.state,
        ),
        due_at=sa.case((_table.c.state == HookState.IDLE.value, _due), else_=_table.c.due_at),
        dirty=sa.case((_table.c.state == HookState.RUNNING.value, sa.true()), else_=_table.c.dirty),
    )
    .returning(_table.c.state, _table.c.due_at, _table.c.running_since)
)
_STATE = sa.select(_table.c.state, _table.c.due_at, _table.c.running_since).where(
    _table.c.board_id == sa.bindparam("board")
)
_REMEMBER = sa.insert(_seen).values(
    board_id=sa.bindparam("board"),
    delivery_id=sa.bindparam("delivery_id"),
    seen_at=sa.bindparam("now", type_=_seen.c.seen_at.type),
)
_LOG = sa.insert(_log).values(
    board_id=sa.bindparam("board"),
    delivery_id=sa.bindparam("delivery_id"),
    received_at=sa.bindparam("now", type_=_log.c.received_at.type),
    outcome=sa.bindparam("outcome"),
    reason=sa.null(),
    detail=sa.bindparam("detail"),
    body_bytes=sa.bindparam("body_bytes"),
)

ACCEPTED_DETAIL = "import in debounce window"
RUNNING_DETAIL = "queued after the running import"
PENDING_DETAIL = "joined the pending import"


def _outcome(state: str, due_at: datetime | None, due: datetime) -> tuple[TriggerOutcome, str]:
    """What became of a trigger that found the board in ``state`` after the transition: it
    started the debounce window when the board is pending until this trigger's ``due``."""
    if state == HookState.PENDING and due_at is not None and due_at == due:
        return TriggerOutcome.ACCEPTED, ACCEPTED_DETAIL
    if state == HookState.RUNNING:
        return TriggerOutcome.COALESCED, RUNNING_DETAIL
    return TriggerOutcome.COALESCED, PENDING_DETAIL


# PostgreSQL records a trigger in one statement (data-modifying WITH; SQLite has none): remember
# the delivery id, the transition, the board's state and the log entry, instead of three to
# five statements, each of which costs psycopg 50-90 us of client CPU and a round trip.
# PostgreSQL runs every data-modifying WITH to completion, whatever the outer query reads, and
# a replay fails the whole statement. When the transition changes nothing, the board's state
# is read as it was when the statement began (one snapshot): if another trigger moved it
# meanwhile (the transition then waited for its row lock), that is the board a moment before,
# whose answer is the same (coalesced, no fire). The log entry's outcome is ``_outcome`` in
# SQL, and the statement returns it: the answer is the one logged.
_moved = _TRANSITION.cte("moved")
_board = (
    sa.select(_moved.c.state, _moved.c.due_at, _moved.c.running_since)
    .union_all(
        sa.select(_table.c.state, _table.c.due_at, _table.c.running_since).where(
            _table.c.board_id == sa.bindparam("board"), ~sa.exists(sa.select(_moved.c.state))
        )
    )
    .add_cte(_REMEMBER.cte("remembered"))
    .cte("board")
)
_started = sa.and_(_board.c.state == HookState.PENDING.value, _board.c.due_at == _due)
_logged = (
    sa.insert(_log)
    .from_select(
        ["board_id", "delivery_id", "received_at", "outcome", "detail", "body_bytes"],
        sa.select(
            sa.bindparam("board", type_=_log.c.board_id.type),
            sa.bindparam("delivery_id", type_=_log.c.delivery_id.type),
            sa.bindparam("now", type_=_log.c.received_at.type),
            sa.case(
                (_started, TriggerOutcome.ACCEPTED.value), else_=TriggerOutcome.COALESCED.value
            ),
            sa.case(
                (_started, ACCEPTED_DETAIL),
                (_board.c.state == HookState.RUNNING.value, RUNNING_DETAIL),
                else_=PENDING_DETAIL,
            ),
            sa.bindparam("body_bytes", type_=_log.c.body_bytes.type),
        ).select_from(_board),
    )
    .returning(_log.c.outcome, _log.c.detail)
    .cte("logged")
)
_RECORD = sa.select(
    _board.c.state, _board.c.due_at, _board.c.running_since, _logged.c.outcome, _logged.c.detail
).select_from(_board.join(_logged, sa.true()))


class TriggerStore:
    """The statements of a trigger, compiled once for ``engine``'s dialect (PlainQuery), and
    the one transaction they run in (:meth:`transaction`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.secrets = PlainQuery(engine, _SECRETS, typed=True)
        self.remember = PlainQuery(engine, _REMEMBER)
        self.transition = PlainQuery(engine, _TRANSITION, typed=True)
        self.state = PlainQuery(engine, _STATE, typed=True)
        self.log = PlainQuery(engine, _LOG)
        self.record = (
            PlainQuery(engine, _RECORD, typed=True) if engine.dialect.name == "postgresql" else None
        )
        self._writer: Any = None

    @contextmanager
    def transaction(self) -> Iterator[TriggerTx]:
        """One writing transaction (SQLite: ``BEGIN IMMEDIATE``), committed when the block
        ends and rolled back when it raises (a refused trigger writes nothing)."""
        with plain_transaction(self._engine) as connection:
            yield TriggerTx(self, connection)

    @contextmanager
    def transaction_now(self) -> Iterator[TriggerTx]:
        """SQLite: :meth:`transaction` on the store's own connection, which never waits:
        ``WriterBusy`` at once when another connection holds the write lock. One thread at a
        time (``HookRuntime.trigger_transaction_now`` sees to it). A database error other than a
        constraint's (a replayed delivery id) closes the connection; the next transaction
        opens another."""
        if self._writer is None:
            self._writer = sqlite_writer_now(self._engine)
        try:
            with sqlite_write_now(self._writer) as connection:
                yield TriggerTx(self, connection)
        except IntegrityError:
            raise
        except sa.exc.DBAPIError:
            self.close()
            raise

    def close(self) -> None:
        """Close the store's own connection (:meth:`transaction_now`), if open."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()


@dataclass(frozen=True, slots=True)
class TriggerTx:
    """A transaction of :class:`TriggerStore`: its statements and the DBAPI connection."""

    store: TriggerStore
    connection: Any


def accept_trigger(
    tx: TriggerTx,
    board_id: int,
    delivery_id: str,
    *,
    now: datetime,
    debounce_s: float,
    body_bytes: int,
) -> TriggerResult:
    """Record a verified trigger: replay guard, coalescing transition and the log entry.

    Raises ``TriggerRejected`` (reason ``replay``; the caller's transaction then rolls back)
    when the board saw ``delivery_id`` before. One statement on PostgreSQL (``_RECORD``, with
    :func:`record_values`; the event loop runs it the same way), three or four on SQLite
    (``_record_one_by_one``).
    """
    store, connection = tx.store, tx.connection
    values = record_values(
        board_id, delivery_id, now=now, debounce_s=debounce_s, body_bytes=body_bytes
    )
    try:
        if store.record is not None:
            row = store.record.first_on(connection, **values)
        else:
            row = _record_one_by_one(tx, board_id, delivery_id, now, values["due"], body_bytes)
    except IntegrityError:
        raise replayed() from None
    return trigger_result(row, now=now, debounce_s=debounce_s)


def record_values(
    board_id: int, delivery_id: str, *, now: datetime, debounce_s: float, body_bytes: int
) -> dict[str, Any]:
    """The values ``TriggerStore.record`` binds."""
    due = now + timedelta(seconds=debounce_s)
    return {
        "board": board_id,
        "delivery_id": delivery_id,
        "now": now,
        "due": due,
        "body_bytes": body_bytes,
    }


def replayed() -> TriggerRejected:
    """The rejection of a delivery id the board saw before (the record's unique constraint)."""
    return TriggerRejected(
        "replay", "this delivery id was accepted before; the trigger is not repeated", 409
    )


def trigger_result(
    row: tuple[Any, ...] | None, *, now: datetime, debounce_s: float
) -> TriggerResult:
    """What became of a recorded trigger, from its record's row (``state, due_at,
    running_since, outcome, detail``); ``TriggerRejected`` when there was none (the board's
    webhook was deleted)."""
    if row is None:
        raise TriggerRejected("no_webhook", "the board's webhook was deleted", 404)
    state, due_at, running_since, outcome, detail = row
    fire_in: float | None = None
    if outcome == TriggerOutcome.ACCEPTED:
        fire_in = debounce_s
    else:
        if state == HookState.RUNNING:
            stale = running_since is not None and running_since + STALE_RUNNING < now
        else:
            stale = due_at is not None and due_at + STALE_PENDING < now
        # A fire far overdue, or an import running far too long, was probably lost with its
        # worker: this trigger schedules another (fires are idempotent, a spare is harmless).
        fire_in = 0.0 if stale else None
    return TriggerResult(TriggerOutcome(outcome), detail, fire_in)


def _record_one_by_one(
    tx: TriggerTx, board: int, delivery_id: str, now: datetime, due: datetime, body_bytes: int
) -> tuple[Any, ...] | None:
    """``_RECORD`` as separate statements: remember the delivery id (``IntegrityError``: seen
    before), the transition, the board's state when the transition changed nothing, the log
    entry. Returns ``(state, due_at, running_since, outcome, detail)``, None without webhook."""
    store, connection = tx.store, tx.connection
    store.remember.run_on(connection, board=board, delivery_id=delivery_id, now=now)
    row = store.transition.first_on(connection, board=board, due=due)
    if row is None:  # nothing to change: say where the board stands
        row = store.state.first_on(connection, board=board)
    if row is None:
        return None
    state, due_at, running_since = row
    outcome, detail = _outcome(state, due_at, due)
    store.log.run_on(
        connection,
        board=board,
        delivery_id=delivery_id,
        now=now,
        outcome=outcome.value,
        detail=detail,
        body_bytes=body_bytes,
    )
    return state, due_at, running_since, outcome, detail


def log_rejection(
    session: Session,
    board_id: int,
    delivery_id: str | None,
    rejected: TriggerRejected,
    *,
    now: datetime,
    body_bytes: int,
) -> None:
    """Note a refused trigger in the board's delivery log (flushes only)."""
    session.add(
        HookTrigger(
            board_id=board_id,
            delivery_id=(delivery_id or None) and delivery_id[:MAX_DELIVERY_ID],
            received_at=now,
            outcome=TriggerOutcome.REJECTED,
            reason=rejected.reason,
            detail=rejected.detail[:_DETAIL_CHARS],
            body_bytes=body_bytes,
        )
    )
    session.flush()


@dataclass(frozen=True, slots=True)
class Claim:
    """What ``claim_fire`` found: ``claimed`` (start an import now), ``early`` (fire again in
    ``wait_s``), ``running`` (``job_id`` runs or ran: finish it), or ``idle`` (nothing to do)."""

    kind: str
    wait_s: float = 0.0
    job_id: int | None = None


def claim_fire(session: Session, board_id: int, *, now: datetime) -> Claim:
    """Move a pending board whose debounce ended to ``running`` (one caller wins)."""
    won = _update(
        session,
        sa.update(_table)
        .where(
            _table.c.board_id == board_id,
            _table.c.state == HookState.PENDING,
            _table.c.due_at <= now,
        )
        .values(state=HookState.RUNNING, running_since=now, dirty=False, running_job_id=None),
    )
    if won:
        return Claim("claimed")
    row = session.get(BoardWebhook, board_id, populate_existing=True)
    if row is None or row.state == HookState.IDLE:
        return Claim("idle")
    if row.state == HookState.PENDING:
        due = row.due_at if row.due_at else now
        return Claim("early", wait_s=max(0.0, (due - now).total_seconds()))
    return Claim("running", job_id=row.running_job_id)


def set_running_job(session: Session, board_id: int, job_id: int | None) -> None:
    _update(
        session,
        sa.update(_table)
        .where(_table.c.board_id == board_id, _table.c.state == HookState.RUNNING)
        .values(running_job_id=job_id),
    )


def settle(
    session: Session, board_id: int, job_id: int | None, *, now: datetime, debounce_s: float
) -> float | None:
    """The import ``job_id`` of the board is over: back to idle, or to pending when a trigger
    came during it. Returns the delay of the one follow-up fire to schedule, else None."""
    dirty = _table.c.dirty
    _update(
        session,
        sa.update(_table)
        .where(
            _table.c.board_id == board_id,
            _table.c.state == HookState.RUNNING,
            _table.c.running_job_id == job_id
            if job_id is not None
            else _table.c.running_job_id.is_(None),
        )
        .values(
            state=sa.case(
                (dirty == sa.true(), HookState.PENDING.value), else_=HookState.IDLE.value
            ),
            due_at=sa.case((dirty == sa.true(), now + timedelta(seconds=debounce_s)), else_=None),
            dirty=False,
            running_job_id=None,
            running_since=None,
        ),
    )
    row = session.get(BoardWebhook, board_id, populate_existing=True)
    if row is not None and row.state == HookState.PENDING:
        return debounce_s
    return None


def job_finished(session: Session, job_id: int | None) -> bool:
    if job_id is None:
        return True
    job = session.get(ImportJob, job_id, populate_existing=True)
    return job is None or job.finished_at is not None


def purge(
    session: Session, *, now: datetime, retention: timedelta, tolerance_s: int
) -> dict[str, int]:
    """Delete log entries older than ``retention`` and delivery ids no replay can reuse."""
    seen_cutoff = now - timedelta(seconds=tolerance_s) - SEEN_MARGIN
    seen = session.exec(delete(HookDeliverySeen).where(col(HookDeliverySeen.seen_at) < seen_cutoff))
    logged = session.exec(delete(HookTrigger).where(col(HookTrigger.received_at) < now - retention))
    return {"delivery_ids": int(seen.rowcount or 0), "trigger_log": int(logged.rowcount or 0)}


def due_boards(session: Session) -> list[tuple[int, str, datetime | None]]:
    """``(board id, state, due_at)`` of boards with a pending or running import (recovery)."""
    rows = session.exec(
        select(BoardWebhook.board_id, BoardWebhook.state, BoardWebhook.due_at).where(
            col(BoardWebhook.state).in_([HookState.PENDING, HookState.RUNNING])
        )
    ).all()
    return [(board_id, state, due) for board_id, state, due in rows]
