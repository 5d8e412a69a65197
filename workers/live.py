"""Runners of the live Miro use cases: a thread for the embedded default, Celery tasks at scale.

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

import structlog
from celery import Celery, Task

from connectors.errors import RateLimitedError, TransientError
from service.db.tables import BoardSync, BoardSyncStatus
from service.usecases.live_sync import MiroLive, fetch_and_import, poll_due_boards

log = structlog.get_logger(__name__)

FETCH_TASK = "boards.fetch"
POLL_TASK = "boards.poll"
_STOP = (-1, "")


def _give_up(live: MiroLive, board_id: int, exc: Exception) -> None:
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
        live: MiroLive,
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
    app: Celery, live_factory: Callable[[], MiroLive], *, max_retries: int, poll_every_s: float
) -> None:
    """Register ``boards.fetch`` and ``boards.poll`` on ``app`` and schedule the poll (beat).

    ``live_factory`` builds the use cases' dependencies once per worker process, lazily.
    """
    cache: dict[str, MiroLive] = {}

    def live() -> MiroLive:
        if "live" not in cache:
            cache["live"] = live_factory()
        return cache["live"]

    @app.task(  # type: ignore[untyped-decorator]
        name=FETCH_TASK,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        max_retries=max_retries,
    )
    def fetch_board(self: Task, board_id: int, trigger: str = "miro") -> None:
        """Fetch a connected board and queue its import (idempotent: a rerun queues the same
        content, which the import reports as ``unchanged``)."""
        try:
            fetch_and_import(live(), board_id, trigger=trigger)
        except RateLimitedError as exc:
            if self.request.retries >= max_retries:
                _give_up(live(), board_id, exc)
                return
            raise self.retry(exc=exc, countdown=max(1.0, exc.retry_after)) from exc
        except TransientError as exc:
            if self.request.retries >= max_retries:
                _give_up(live(), board_id, exc)
                return
            raise self.retry(exc=exc, countdown=min(600.0, 2.0 * 2**self.request.retries)) from exc

    @app.task(name=POLL_TASK, acks_late=True)  # type: ignore[untyped-decorator]
    def poll_boards() -> None:
        """Check due boards' ``modifiedAt``; queue a fetch for each changed one."""
        for board_id in poll_due_boards(live()):
            app.send_task(FETCH_TASK, args=[board_id, "poll"])

    schedule: dict[str, Any] = dict(app.conf.beat_schedule or {})
    schedule[POLL_TASK] = {"task": POLL_TASK, "schedule": poll_every_s}
    app.conf.beat_schedule = schedule
    _ = (fetch_board, poll_boards)


class CeleryLiveFetch:
    """The API's fetch port at scale: publish ``boards.fetch`` for a worker."""

    def __init__(self, app: Celery) -> None:
        self._app = app

    def request_fetch(self, board_id: int, trigger: str) -> None:
        self._app.send_task(FETCH_TASK, args=[board_id, trigger])
