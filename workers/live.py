"""Celery tasks and the embedded runner that fetch and poll connected Miro and Mural boards.

Both call :func:`service.usecases.live_sync.fetch_and_import` (a connected board into an import
job) and :func:`service.usecases.live_sync.poll_due_boards` (``modifiedAt`` checks). A rate
limit or transient failure is retried later (Celery: ``retry`` with the rate limit's countdown;
thread: a timer) a bounded number of times, then the board is marked ``failed``.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import structlog
from celery import Celery, Task

from connectors.errors import RateLimitedError, TransientError
from connectors.http import MemoryRateBudget, RateBudget, RedisRateBudget, SyncRedisScripts
from connectors.miro.oauth import MiroApp
from service.db.engine import SessionFactory
from service.db.tables import BoardSync, BoardSyncStatus
from service.jobqueue import JobQueue
from service.settings import Settings
from service.usecases.connections import (
    MIRO,
    EncryptionKeyError,
    HttpFactory,
    TokenCipher,
    provider_label,
)
from service.usecases.live_sync import LiveSync, MiroLive, fetch_and_import, poll_due_boards

log = structlog.get_logger(__name__)

FETCH_TASK = "boards.fetch"
POLL_TASK = "boards.poll"
_STOP = (-1, "")


def _budgets(settings: Settings) -> Callable[[int], RateBudget]:
    """Per-connection budgets: shared through Redis when the broker is Redis (every worker
    using one connection sees one window), else per process (the embedded default)."""
    broker = settings.broker_url or ""
    if broker.startswith(("redis://", "rediss://")):
        import redis

        scripts = SyncRedisScripts(redis.Redis.from_url(broker))

        def redis_budget(connection_id: int) -> RateBudget:
            return RedisRateBudget(scripts, provider=MIRO, identity=f"connection:{connection_id}")

        return redis_budget
    budgets: dict[int, MemoryRateBudget] = {}

    def memory_budget(connection_id: int) -> RateBudget:
        return budgets.setdefault(connection_id, MemoryRateBudget())

    return memory_budget


def default_http() -> httpx.AsyncClient:
    """The providers' HTTP client: redirects are not followed (a token must not go elsewhere)."""
    return httpx.AsyncClient(follow_redirects=False)


def live_cipher(
    settings: Settings, provider: str, *, enabled: bool
) -> tuple[TokenCipher | None, str]:
    """The token cipher of ``provider``'s live sync, or None and the reason the provider is off
    (``enabled`` false: no OAuth app configured; no usable encryption key)."""
    name = provider.upper()
    if not enabled:
        return None, (
            f"{provider_label(provider)} is not configured: "
            f"set VSM_{name}__CLIENT_ID and VSM_{name}__CLIENT_SECRET."
        )
    try:
        return TokenCipher(settings.encryption_keys), ""
    except EncryptionKeyError as exc:
        return None, str(exc)


def build_miro_live(
    settings: Settings,
    session_factory: SessionFactory,
    job_queue: JobQueue,
    *,
    http_factory: HttpFactory = default_http,
) -> tuple[MiroLive | None, str]:
    """The live Miro dependencies from ``settings`` (passed by a composition root), or None and
    the reason Miro is off (no OAuth app, no encryption key)."""
    cipher, reason = live_cipher(settings, MIRO, enabled=settings.miro.enabled)
    if cipher is None:
        return None, reason
    miro = settings.miro
    live = MiroLive(
        session_factory=session_factory,
        cipher=cipher,
        app=MiroApp(
            client_id=miro.client_id,
            client_secret=miro.client_secret.get_secret_value(),
            redirect_uri=miro.redirect_uri,
            api_url=miro.api_url,
            auth_url=miro.auth_url,
        ),
        http_factory=http_factory,
        budget_for=_budgets(settings),
        job_queue=job_queue,
        poll_interval_s=miro.poll_interval_s,
        poll_jitter=miro.poll_jitter,
    )
    return live, ""


def _give_up(live: LiveSync, board_id: int, exc: Exception) -> None:
    with live.session_factory() as session:
        sync = session.get(BoardSync, board_id)
        if sync is not None:
            sync.status = BoardSyncStatus.FAILED
            sync.error = f"gave up after retries: {exc}"[:2000]
            session.add(sync)
            session.commit()


class EmbeddedLiveSync:
    """A daemon thread: runs requested fetches and checks due boards every ``tick_s`` seconds.

    ``request_fetch`` is the fetch port of the API in the embedded default.
    """

    def __init__(
        self,
        live: LiveSync,
        *,
        tick_s: float = 5.0,
        max_retries: int = 5,
        backoff_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._live = live
        self._tick = tick_s
        self._max_retries = max_retries
        self._backoff = backoff_s
        self._clock = clock
        self._requests: queue.Queue[tuple[int, str]] = queue.Queue()
        self._later: list[
            tuple[float, int, int, str, int]
        ] = []  # (due, seq, board, trigger, tries)
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._next_poll = 0.0

    def request_fetch(self, board_id: int, trigger: str) -> None:
        self._requests.put((board_id, trigger))

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="vsm-live-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        if self._thread is None:
            return
        self._requests.put(_STOP)
        self._thread.join(timeout=timeout)
        self._thread = None

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while True:
            now = self._clock()
            waits = [self._tick if self._next_poll > now else 0.0]
            if self._later:
                waits.append(max(self._later[0][0] - now, 0.0))
            try:
                board_id, trigger = self._requests.get(timeout=min(waits))
            except queue.Empty:
                pass
            else:
                if (board_id, trigger) == _STOP:
                    return
                self._fetch(board_id, trigger, 0)
            while self._later and self._later[0][0] <= self._clock():
                _, _, board_id, trigger, tries = heapq.heappop(self._later)
                self._fetch(board_id, trigger, tries)
            if self._clock() >= self._next_poll:
                self._next_poll = self._clock() + self._tick
                self._poll()

    def _fetch(self, board_id: int, trigger: str, tries: int) -> None:
        try:
            fetch_and_import(self._live, board_id, trigger=trigger)
        except (RateLimitedError, TransientError) as exc:
            if tries >= self._max_retries:
                _give_up(self._live, board_id, exc)
                return
            delay = (
                exc.retry_after if isinstance(exc, RateLimitedError) else self._backoff * 2**tries
            )
            due = self._clock() + max(delay, 0.1)
            heapq.heappush(self._later, (due, next(self._order), board_id, trigger, tries + 1))
        except Exception:
            log.exception("live_fetch_crashed", board_id=board_id)

    def _poll(self) -> None:
        try:
            changed = poll_due_boards(self._live)
        except Exception:
            log.exception("live_poll_crashed")
            return
        for board_id in changed:
            self._fetch(board_id, "poll", 0)


def register_live_tasks(
    app: Celery,
    live_factory: Callable[[], LiveSync | None],
    *,
    max_retries: int,
    poll_every_s: float = 30.0,
    fetch_task: str = FETCH_TASK,
    poll_task: str = POLL_TASK,
) -> None:
    """Register ``fetch_task`` and ``poll_task`` (``boards.fetch`` and ``boards.poll`` for Miro)
    on ``app`` and schedule the poll (beat).

    ``live_factory`` builds the use cases' dependencies once per worker process, lazily; None
    (the provider not configured) turns both tasks into no-ops.
    """
    cache: dict[str, LiveSync | None] = {}

    def live() -> LiveSync | None:
        if "live" not in cache:
            cache["live"] = live_factory()
        return cache["live"]

    # shared=False: a shared task joins every Celery app created later in the process, bound to
    # this app's dependencies (tests build several apps in one process).
    @app.task(  # type: ignore[untyped-decorator]
        name=fetch_task,
        shared=False,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        max_retries=max_retries,
    )
    def fetch_board(self: Task, board_id: int, trigger: str = "miro") -> None:
        """Fetch a connected board and queue its import (idempotent: a rerun queues the same
        content, which the import reports as ``unchanged``)."""
        deps = live()
        if deps is None:
            return
        try:
            fetch_and_import(deps, board_id, trigger=trigger)
        except RateLimitedError as exc:
            if self.request.retries >= max_retries:
                _give_up(deps, board_id, exc)
                return
            raise self.retry(exc=exc, countdown=max(1.0, exc.retry_after)) from exc
        except TransientError as exc:
            if self.request.retries >= max_retries:
                _give_up(deps, board_id, exc)
                return
            raise self.retry(exc=exc, countdown=min(600.0, 2.0 * 2**self.request.retries)) from exc

    @app.task(name=poll_task, shared=False, acks_late=True)  # type: ignore[untyped-decorator]
    def poll_boards() -> None:
        """Check due boards' ``modifiedAt``; queue a fetch for each changed one."""
        deps = live()
        if deps is None:
            return
        for board_id in poll_due_boards(deps):
            app.send_task(fetch_task, args=[board_id, "poll"])

    schedule: dict[str, Any] = dict(app.conf.beat_schedule or {})
    schedule[poll_task] = {"task": poll_task, "schedule": poll_every_s}
    app.conf.beat_schedule = schedule
    _ = (fetch_board, poll_boards)


class CeleryLiveFetch:
    """The API's fetch port at scale: publish ``boards.fetch`` for a worker."""

    def __init__(self, app: Celery, task: str = FETCH_TASK) -> None:
        self._app = app
        self._task = task

    def request_fetch(self, board_id: int, trigger: str) -> None:
        self._app.send_task(self._task, args=[board_id, trigger])
