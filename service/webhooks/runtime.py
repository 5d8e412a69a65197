"""What the webhook tasks do, whoever runs them: a Celery worker or the in-process scheduler.

``HookRuntime`` holds what the tasks need (built by a composition root) and has one method per
task: ``fire`` (the debounced import of a board), ``deliver`` (one attempt of an outbound
delivery), ``after_import`` (the events of a finished import job) and ``purge``. Scheduling goes
through a ``HookScheduler``: Celery tasks with a countdown, or timers of the embedded scheduler.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Protocol

import httpx
import structlog
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from connectors.http import RetryPolicy
from service.db.engine import SessionFactory, WriterBusy
from service.db.tables import Board, ImportJob, JobStatus, utcnow
from service.dispatch import Dispatcher
from service.settings import WebhookSettings
from service.usecases.errors import ConflictError
from service.usecases.imports import hand_over, run_import_job, submit_reclassify
from service.usecases.uploads import UploadFolder
from service.webhooks import notify, signing, triggers
from service.webhooks.config import SecretBox, SecretBoxError
from service.webhooks.egress import EgressPolicy
from service.webhooks.tables import HookState, Subscription

log = structlog.get_logger(__name__)

FIRE_TASK = "hooks.fire"
DELIVER_TASK = "subscriptions.deliver"
PURGE_TASK = "hooks.purge"
SWEEP_TASK = "hooks.sweep"
TRIGGER = "webhook"
_PURGE_EVERY = timedelta(minutes=10)
_SECRET_CACHE = 512
# SQLite refuses a write for a moment ("database is locked") while other triggers commit.
_RUN_RETRY = RetryPolicy(max_tries=5, base_delay=0.05, max_delay=1.0)
REJECTIONS_LOGGED_PER_MINUTE = 120
# How long past its due time a pending board waits before the sweep fires it again.
FIRE_GRACE = timedelta(seconds=60)
CHECKPOINT_EVERY = 64
"""One SQLite trigger in this many is written by a pooled connection, whose commit checkpoints
the log once it passes SQLite's 1,000 pages (the others are written by a connection that never
checkpoints, see ``HookRuntime.trigger_transaction_now``): a trigger writes a few pages, so the
log stays within about 1,000 + 64 x 4 pages however long a burst of triggers lasts."""

LiveFetch = Callable[[int], "int | None"]
"""``board id -> import job id`` (None: not fetched now, the board's sync state says why): fetch
a live board from its provider into an import job."""


class HookScheduler(Protocol):
    """Runs a task later; every task tolerates running twice or early."""

    def fire(self, board_id: int, delay_s: float) -> None: ...

    def deliver(self, delivery_id: int, attempt: int, delay_s: float) -> None: ...


@dataclass(frozen=True, slots=True)
class DispatchedHooks:
    """The :class:`HookScheduler` of a process: webhook jobs published by name."""

    dispatcher: Dispatcher

    def fire(self, board_id: int, delay_s: float) -> None:
        self.dispatcher.publish(FIRE_TASK, board_id, delay_s=delay_s)

    def deliver(self, delivery_id: int, attempt: int, delay_s: float) -> None:
        self.dispatcher.publish(DELIVER_TASK, delivery_id, attempt, delay_s=delay_s)


@dataclass
class HookRuntime:
    sessions: SessionFactory
    settings: WebhookSettings
    scheduler: HookScheduler
    box: SecretBox | None
    policy: EgressPolicy
    client: httpx.Client
    uploads: UploadFolder  # where an import's dump waits (imports run here, debounced)
    base_url: str = "http://127.0.0.1:8000"
    # Fetchers per board source ("miro", "mural"): a trigger on a live board of a configured
    # provider fetches it again; every other board re-imports its latest stored board with the
    # board's current rules.
    live_fetchers: Mapping[str, LiveFetch] = field(default_factory=dict)
    # Where an import goes when it cannot run inline (see ``_run``).
    dispatcher: Dispatcher | None = None
    clock: Callable[[], datetime] = utcnow
    # Verifies triggers of boards without a (readable) webhook secret: the check runs and
    # fails as for a wrong signature, so the answer does not tell which boards have a webhook.
    decoy_secret: str = field(default_factory=signing.new_secret, repr=False)
    # The first purge waits one period: a process start is no reason to write.
    _last_purge: datetime = field(default_factory=utcnow, init=False)
    _opened: dict[bytes, str] = field(default_factory=dict, init=False, repr=False)
    _write_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _written_now: int = field(default=0, init=False, repr=False)
    _rejections: dict[int, tuple[int, int]] = field(default_factory=dict, init=False, repr=False)

    def writing(self) -> AbstractContextManager[object]:
        """Hold while writing a trigger on SQLite: one writer at a time inside this process.

        SQLite has one writer; contending threads fall into its busy handler, which sleeps in
        steps of up to 100 ms, and a burst of triggers then stalls for seconds. Waiting on a
        lock instead costs microseconds. PostgreSQL needs no such lock.
        """
        return self._write_lock if self.is_sqlite else nullcontext()

    @contextmanager
    def trigger_transaction(self) -> Iterator[triggers.TriggerTx]:
        """A trigger's transaction, waiting for the write lock as long as it takes (a worker
        thread's way)."""
        with self.writing(), self.store.transaction() as tx:
            yield tx

    @contextmanager
    def trigger_transaction_now(self) -> Iterator[triggers.TriggerTx]:
        """A trigger's transaction on the calling thread when it can begin without waiting:
        the event loop's way on SQLite, where a thread hop costs the trigger a third of its
        CPU (bench/webhook_ack.py). ``WriterBusy``, before the block, when it would wait: on
        PostgreSQL; while another thread of this process writes a trigger; while another
        connection (an import, another process) holds SQLite's write lock; and for one
        transaction in ``CHECKPOINT_EVERY``, which goes the waiting way so that a pooled
        connection's commit checkpoints the log (this way's connection never does: a
        checkpoint flushes up to megabytes, not on the event loop)."""
        if not self.is_sqlite or not self._write_lock.acquire(blocking=False):
            raise WriterBusy
        try:
            self._written_now = (self._written_now + 1) % CHECKPOINT_EVERY
            if self._written_now == 0:
                raise WriterBusy
            with self.store.transaction_now() as tx:
                yield tx
        finally:
            self._write_lock.release()

    def close(self) -> None:
        """Close the trigger store's own connection (``trigger_transaction_now``), once no
        trigger uses it."""
        if "store" in self.__dict__:
            with self._write_lock:
                self.store.close()

    def may_log_rejection(self, board_id: int) -> bool:
        """True for the first ``REJECTIONS_LOGGED_PER_MINUTE`` rejected triggers of a board in
        the current minute (per process): anyone can send rejected triggers, and they must not
        be able to fill the database through the log. Rejections are answered either way."""
        minute = int(time.monotonic() // 60)
        # Unlocked on purpose: two threads racing may log one rejection more, nothing worse.
        seen_minute, count = self._rejections.get(board_id, (minute, 0))
        if seen_minute != minute:
            count = 0
        if len(self._rejections) > _SECRET_CACHE:
            self._rejections.clear()
        self._rejections[board_id] = (minute, count + 1)
        return count < REJECTIONS_LOGGED_PER_MINUTE

    @cached_property
    def store(self) -> triggers.TriggerStore:
        """The triggers' statements, compiled for this runtime's database (on first use)."""
        return triggers.TriggerStore(self.sessions.kw["bind"])

    @property
    def is_sqlite(self) -> bool:
        bind = self.sessions.kw.get("bind")
        return bind is not None and bind.dialect.name == "sqlite"

    def open_secret(self, blob: bytes) -> str:
        """Decrypt a stored secret, remembering the last few hundred: every trigger needs its
        board's secret, and Fernet costs more than the rest of the signature check."""
        secret = self._opened.get(blob)
        if secret is None:
            if self.box is None:
                raise SecretBoxError("VSM_ENCRYPTION_KEYS is not set")
            secret = self.box.open(blob)
            if len(self._opened) >= _SECRET_CACHE:
                self._opened.clear()
            self._opened[blob] = secret
        return secret

    def fire(self, board_id: int) -> None:
        """Start the board's import once its debounce ended, run it, then settle and notify."""
        with self.sessions() as session:
            claim = triggers.claim_fire(session, board_id, now=self.clock())
            job_id = claim.job_id
            live: str | None = None
            if claim.kind == "claimed":
                job_id, live = self._submit(session, board_id)
                triggers.set_running_job(session, board_id, job_id)
            session.commit()
        if claim.kind == "idle":
            return
        if claim.kind == "early":
            self.scheduler.fire(board_id, claim.wait_s)
            return
        if live:
            job_id = self._fetch_live(board_id, live)
        if job_id is not None:
            self._run(job_id)
        self._settle(board_id, job_id)
        if job_id is not None:
            self.after_import(job_id)
        self.maybe_purge()

    def _submit(self, session: Session, board_id: int) -> tuple[int | None, str | None]:
        """The reclassify job of a stored board, or ``(None, source)`` for a live fetch."""
        board = session.get(Board, board_id)
        if board is None:
            return None, None
        if board.source in self.live_fetchers:
            return None, board.source
        try:
            job = submit_reclassify(session, board, board.rules, trigger=TRIGGER)
        except ConflictError:
            log.info("hook_fire_no_revision", board_id=board_id)
            return None, None
        return job.id, None

    def _fetch_live(self, board_id: int, source: str) -> int | None:
        try:
            job_id = self.live_fetchers[source](board_id)
        except Exception as exc:
            # The provider's answer is recorded on the board's sync state by the fetch itself.
            log.warning("hook_live_fetch_failed", board_id=board_id, error=type(exc).__name__)
            job_id = None
        with self.sessions() as session:
            triggers.set_running_job(session, board_id, job_id)
            session.commit()
        return job_id

    def _run(self, job_id: int) -> None:
        """Run the import here; a job that cannot run now goes to the import queue instead.

        SQLite may refuse a write for a moment ("database is locked") while other triggers
        commit; that is retried briefly. Whatever still fails is published as an
        ``imports.run`` job (the jobs' own retries apply there) so the board never waits on a
        job nobody runs.
        """
        try:
            for attempt in _RUN_RETRY.retrying(lambda exc: isinstance(exc, OperationalError)):
                with attempt, self.sessions() as session:
                    run_import_job(session, self.uploads, job_id)
            return
        except OperationalError:
            pass
        except Exception:
            log.exception("hook_import_crashed", job_id=job_id)
        log.warning("hook_import_handed_over", job_id=job_id)
        if self.dispatcher is not None:
            hand_over(self.dispatcher, job_id)

    def _settle(self, board_id: int, job_id: int | None) -> None:
        with self.sessions() as session:
            delay = triggers.settle(
                session, board_id, job_id, now=self.clock(), debounce_s=self.settings.debounce_s
            )
            session.commit()
        if delay is not None:
            self.scheduler.fire(board_id, delay)

    def after_import(self, job_id: int) -> None:
        """Emit the events of finished job ``job_id`` and schedule their first attempts."""
        with self.sessions() as session:
            created = notify.emit_job_events(
                session, job_id, base_url=self.base_url, now=self.clock()
            )
        for delivery_id in created:
            self.scheduler.deliver(delivery_id, 1, 0.0)

    def deliver(self, delivery_id: int, attempt: int) -> None:
        """Make one attempt; schedule the next one when it failed and time is left."""
        if self.box is None:
            log.warning("delivery_without_keys", delivery_id=delivery_id)
            return
        with self.sessions() as session:
            result = notify.attempt_delivery(
                session,
                delivery_id,
                attempt,
                client=self.client,
                policy=self.policy,
                box=self.box,
                window_s=self.settings.delivery_window_s,
                now=self.clock,
            )
        log.info(
            "delivery_attempted",
            delivery_id=delivery_id,
            attempt=attempt,
            status=result.status,
            status_code=result.status_code,
        )
        if result.retry_in_s is not None:
            self.scheduler.deliver(delivery_id, attempt + 1, result.retry_in_s)

    def purge(self) -> dict[str, int]:
        now = self.clock()
        retention = timedelta(days=self.settings.log_retention_days)
        with self.sessions() as session:
            counts = triggers.purge(
                session, now=now, retention=retention, tolerance_s=self.settings.tolerance_s
            )
            counts["deliveries"] = notify.purge_deliveries(session, now=now, retention=retention)
            session.commit()
        self._last_purge = now
        return counts

    def maybe_purge(self) -> None:
        """Purge when the last purge of this process is older than ten minutes."""
        if self.clock() - self._last_purge > _PURGE_EVERY:
            try:
                self.purge()
            except Exception:
                log.exception("hook_purge_failed")

    def recover(self) -> None:
        """Schedule what a stopped process left behind: pending and running boards, due
        deliveries (the embedded scheduler's timers live in memory only)."""
        now = self.clock()
        with self.sessions() as session:
            boards = triggers.due_boards(session)
            deliveries = notify.due_deliveries(session, now=now + timedelta(days=2))
            session.rollback()
        for board_id, state, due in boards:
            wait = 0.0
            if state == HookState.PENDING and due is not None:
                wait = max(0.0, (due - now).total_seconds())
            self.scheduler.fire(board_id, wait)
        for delivery_id, attempt, when in deliveries:
            self.scheduler.deliver(delivery_id, attempt, max(0.0, (when - now).total_seconds()))

    def fire_overdue(self, grace: timedelta = FIRE_GRACE) -> list[int]:
        """Fire the boards whose import is pending longer than ``grace`` past its due time: their
        fire was never published (broker down when the trigger came) or was lost. Firing twice
        is harmless. Returns the board ids fired."""
        now = self.clock()
        with self.sessions() as session:
            boards = triggers.due_boards(session)
            session.rollback()
        overdue = [
            board_id
            for board_id, state, due in boards
            if state == HookState.PENDING and due is not None and due + grace < now
        ]
        for board_id in overdue:
            self.scheduler.fire(board_id, 0.0)
        if overdue:
            log.info("hook_fire_overdue", boards=len(overdue))
        return overdue

    def emit_recent(self, since: datetime) -> datetime:
        """Emit events of jobs finished since ``since`` (imports the embedded worker ran);
        returns the new watermark. Cheap when nobody subscribed."""
        with self.sessions() as session:
            if session.exec(select(Subscription.id).limit(1)).first() is None:
                session.rollback()
                return self.clock()
            rows = session.exec(
                select(ImportJob.id, ImportJob.finished_at)
                .where(
                    col(ImportJob.finished_at) >= since,
                    col(ImportJob.status).in_([JobStatus.SUCCEEDED, JobStatus.FAILED]),
                )
                .order_by(col(ImportJob.finished_at))
                .limit(500)
            ).all()
            session.rollback()
        watermark = since
        for job_id, finished_at in rows:
            if job_id is not None:
                self.after_import(job_id)
            if finished_at is not None:
                watermark = max(watermark, finished_at)
        return watermark
