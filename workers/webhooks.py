"""Webhook tasks on Celery and on the embedded scheduler, and the runtime they share.

Celery: ``register_webhook_tasks(app, settings, session_factory)`` registers ``hooks.fire``,
``subscriptions.deliver``, ``hooks.purge`` and ``hooks.sweep`` (late acks, re-queued when a
worker dies; every task is idempotent; the last two on the beat schedule) and listens for
finished ``imports.run`` tasks to emit their events.
Embedded: ``EmbeddedHookScheduler`` runs the same runtime methods on timers in this process.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import structlog
from celery import Celery, Task
from celery.signals import task_postrun

from service.db.engine import SessionFactory
from service.db.tables import utcnow
from service.jobqueue import IMPORT_TASK, JobQueue
from service.settings import Settings
from service.webhooks.config import SecretBox, SecretBoxError
from service.webhooks.egress import EgressPolicy, guarded_client
from service.webhooks.runtime import (
    DELIVER_TASK,
    FIRE_TASK,
    PURGE_TASK,
    TRIGGER,
    HookRuntime,
    HookScheduler,
    LiveFetch,
)

log = structlog.get_logger(__name__)

SWEEP_TASK = "hooks.sweep"
_PURGE_EVERY_S = 600.0
_SWEEP_EVERY_S = 60.0
_SWEEP_WINDOW = timedelta(minutes=5)


def build_runtime(
    settings: Settings,
    session_factory: SessionFactory,
    scheduler: HookScheduler,
    *,
    job_queue: JobQueue | None = None,
    live_fetchers: Mapping[str, LiveFetch] | None = None,
) -> HookRuntime:
    """The runtime for ``settings`` (composition roots only).

    Live boards of the providers configured in ``settings`` (Miro, Mural) are fetched again on
    a trigger, through the same use case the pollers use; ``live_fetchers`` replaces that.
    """
    hooks = settings.webhooks
    try:
        box: SecretBox | None = SecretBox(settings.encryption_keys)
    except SecretBoxError:
        box = None  # webhook routes answer with the reason; nothing can be signed or verified
    policy = EgressPolicy(
        allow_private=hooks.allow_private_targets, follow_redirects=hooks.follow_redirects
    )
    return HookRuntime(
        sessions=session_factory,
        settings=hooks,
        scheduler=scheduler,
        box=box,
        policy=policy,
        client=guarded_client(policy, timeout=hooks.delivery_timeout_s),
        base_url=settings.public_base_url.rstrip("/"),
        job_queue=job_queue,
        live_fetchers=(
            live_fetchers
            if live_fetchers is not None
            else _live_fetchers(settings, session_factory, job_queue)
        ),
    )


def _live_fetchers(
    settings: Settings, session_factory: SessionFactory, job_queue: JobQueue | None
) -> dict[str, LiveFetch]:
    """``fetch_and_import`` bound to each configured provider (none without a job queue)."""
    if job_queue is None:
        return {}
    from service.usecases.live_sync import fetch_and_import
    from workers.live import build_miro_live
    from workers.mural_live import build_mural_live

    fetchers: dict[str, LiveFetch] = {}
    miro, _ = build_miro_live(settings, session_factory, job_queue)
    mural, _ = build_mural_live(settings, session_factory, job_queue)
    for source, live in (("miro", miro), ("mural", mural)):
        if live is not None:
            fetchers[source] = functools.partial(fetch_and_import, live, trigger=TRIGGER)
    return fetchers


class CeleryHookScheduler:
    """Publishes webhook tasks with a countdown to the settings' queue."""

    def __init__(self, app: Celery, queue: str) -> None:
        self._app = app
        self._queue = queue

    def fire(self, board_id: int, delay_s: float) -> None:
        self._app.send_task(FIRE_TASK, args=[board_id], countdown=delay_s, queue=self._queue)

    def deliver(self, delivery_id: int, attempt: int, delay_s: float) -> None:
        self._app.send_task(
            DELIVER_TASK, args=[delivery_id, attempt], countdown=delay_s, queue=self._queue
        )


class _ImportPublisher:
    """Hands an import job to the ``imports.run`` task (when a fire could not run it)."""

    def __init__(self, app: Celery, queue: str) -> None:
        self._app = app
        self._queue = queue

    def enqueue(self, job_id: int) -> None:
        self._app.send_task(IMPORT_TASK, args=[job_id], queue=self._queue)

    def ping(self) -> bool:
        return True

    def start(self) -> None:
        """Nothing to start: the app connects on the first publish."""

    def stop(self) -> None:
        """Nothing to stop: the worker owns the app."""


def celery_publisher(settings: Settings) -> Celery:
    """A Celery app that only publishes webhook tasks (the API process with a broker)."""
    app = Celery("valuestream-hooks", broker=settings.broker_url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True)
    return app


def register_webhook_tasks(
    app: Celery,
    settings: Settings,
    session_factory: SessionFactory,
    *,
    live_fetchers: Mapping[str, LiveFetch] | None = None,
) -> HookRuntime:
    """Register the webhook tasks on ``app`` and emit events after every import task."""
    runtime = build_runtime(
        settings,
        session_factory,
        CeleryHookScheduler(app, settings.broker_queue),
        job_queue=_ImportPublisher(app, settings.broker_queue),
        live_fetchers=live_fetchers,
    )
    # Not shared: a shared task joins every Celery app created later in this process, still
    # bound to this runtime's database.
    options: dict[str, Any] = {
        "bind": True,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "shared": False,
    }

    @app.task(name=FIRE_TASK, **options)  # type: ignore[untyped-decorator]
    def fire_board(self: Task, board_id: int) -> None:
        """Start the debounced import of ``board_id`` (a spare or early call is harmless)."""
        runtime.fire(board_id)

    @app.task(name=DELIVER_TASK, **options)  # type: ignore[untyped-decorator]
    def deliver_subscription(self: Task, delivery_id: int, attempt: int) -> None:
        """Attempt ``attempt`` of delivery ``delivery_id``; a taken attempt is skipped."""
        runtime.deliver(delivery_id, attempt)

    @app.task(name=PURGE_TASK, **options)  # type: ignore[untyped-decorator]
    def purge_hooks(self: Task) -> None:
        """Drop trigger log entries and deliveries past their retention."""
        runtime.purge()

    @app.task(name=SWEEP_TASK, **options)  # type: ignore[untyped-decorator]
    def sweep_events(self: Task) -> None:
        """Emit the events of imports finished in the last minutes that have none yet (a worker
        that died between an import's commit and its events), and fire boards pending past
        their due time; emitting or firing twice adds nothing."""
        runtime.emit_recent(utcnow() - _SWEEP_WINDOW)
        # Triggers accepted while the broker was down: their fire was never published.
        runtime.fire_overdue()

    # Beat (``vsm beat``) runs the housekeeping; without it purging still follows webhook imports.
    schedule: dict[str, Any] = dict(app.conf.beat_schedule or {})
    schedule[PURGE_TASK] = {"task": PURGE_TASK, "schedule": _PURGE_EVERY_S}
    schedule[SWEEP_TASK] = {"task": SWEEP_TASK, "schedule": _SWEEP_EVERY_S}
    app.conf.beat_schedule = schedule

    def on_postrun(sender: Task | None = None, args: Any = None, **_: Any) -> None:
        if sender is None or sender.name != IMPORT_TASK or sender.app is not app or not args:
            return
        try:
            runtime.after_import(int(args[0]))
        except Exception:
            log.exception("import_events_failed", job_id=args[0])

    task_postrun.connect(on_postrun, weak=False)
    _ = (fire_board, deliver_subscription, purge_hooks, sweep_events)
    return runtime


class EmbeddedHookScheduler:
    """Timers in this process for the embedded default (no broker).

    One timer thread hands due calls to a small pool, so a long import never delays a delivery.
    Timers live in memory; ``start`` re-schedules what the database says is pending. Every
    ``poll_s`` it also emits the events of imports the embedded import worker finished.
    """

    def __init__(self, *, poll_s: float = 1.0, workers: int = 4) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._workers = workers
        self._poll_s = poll_s
        self._stopping = False
        self._runtime: HookRuntime | None = None
        self._watermark: datetime = utcnow()

    def bind(self, runtime: HookRuntime) -> None:
        self._runtime = runtime

    def fire(self, board_id: int, delay_s: float) -> None:
        runtime = self._require()
        self._later(delay_s, lambda: runtime.fire(board_id))

    def deliver(self, delivery_id: int, attempt: int, delay_s: float) -> None:
        runtime = self._require()
        self._later(delay_s, lambda: runtime.deliver(delivery_id, attempt))

    def _require(self) -> HookRuntime:
        if self._runtime is None:
            raise RuntimeError("bind() the runtime before scheduling")
        return self._runtime

    def _later(self, delay_s: float, call: Callable[[], None]) -> None:
        with self._wake:
            heapq.heappush(self._heap, (time.monotonic() + delay_s, next(self._counter), call))
            self._wake.notify()

    def start(self) -> None:
        if self._thread is not None:
            return
        runtime = self._require()
        self._stopping = False
        self._watermark = utcnow() - timedelta(minutes=5)
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="vsm-hooks")
        try:
            runtime.recover()
        except Exception:
            log.exception("hook_recovery_failed")
        self._thread = threading.Thread(target=self._run, name="vsm-hook-timers", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        if self._thread is None:
            return
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout)
        self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def idle(self) -> bool:
        """True when no timer is due within the next poll (tests)."""
        with self._wake:
            return not self._heap or self._heap[0][0] > time.monotonic() + self._poll_s

    def _run(self) -> None:
        next_poll = time.monotonic()
        while True:
            with self._wake:
                while not self._stopping:
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        break
                    if now >= next_poll:
                        break
                    until = min(self._heap[0][0] if self._heap else next_poll, next_poll)
                    self._wake.wait(max(0.0, until - now))
                if self._stopping:
                    return
                due: list[Callable[[], None]] = []
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[2])
            for call in due:
                self._submit(call)
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + self._poll_s
                self._submit(self._poll)

    def _submit(self, call: Callable[[], None]) -> None:
        pool = self._pool
        if pool is None:
            return

        def guarded() -> None:
            try:
                call()
            except Exception:
                log.exception("hook_task_failed")

        with contextlib.suppress(RuntimeError):  # the pool is shutting down
            pool.submit(guarded)

    def _poll(self) -> None:
        runtime = self._require()
        self._watermark = runtime.emit_recent(self._watermark - timedelta(seconds=5))
        runtime.maybe_purge()
