"""One dispatcher: jobs registered by name, run by Celery with a broker or by one in-process
timer heap without, calling the same registered functions.

A job is a plain function of JSON-able arguments (ids, short strings), registered once by the
composition root (:func:`service.bootstrap.build`) as a :class:`Job`. Entry points and use cases
only :meth:`Dispatcher.publish` a job by its name, after the commit that wrote what the job
reads. Transient and rate-limited failures are retried after :meth:`RetryPolicy.delay` (the
provider's wait exactly, else jittered capped backoff) up to ``max_tries``; then ``give_up`` is
called with the arguments and the last error.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from celery import Celery, Task

from connectors.errors import RateLimitedError, TransientError
from connectors.http import RetryPolicy

log = structlog.get_logger(__name__)

RETRYABLE: tuple[type[Exception], ...] = (TransientError, RateLimitedError)
DEFAULT_LANE = "default"


@dataclass(frozen=True, slots=True)
class Job:
    """A registered function and how it is run.

    ``retry``: None runs it once. ``give_up(*args, exc)`` runs after the last failed try.
    ``every_s``: the job also runs on this period (Celery beat; the embedded timer heap).
    ``lane``: embedded only, jobs of one lane share that lane's threads (imports run one at a
    time, as SQLite has one writer).
    """

    name: str
    run: Callable[..., object]
    retry: RetryPolicy | None = None
    give_up: Callable[..., object] | None = None
    every_s: float | None = None
    lane: str = DEFAULT_LANE


class Dispatcher(Protocol):
    """Where jobs go; one per process, built by :func:`service.bootstrap.build`."""

    def register(self, job: Job) -> None:
        """Make ``job`` runnable by name (composition roots, before :meth:`start`)."""

    def publish(self, name: str, *args: Any, delay_s: float = 0.0) -> None:
        """Run the job ``name`` with ``args`` (after ``delay_s`` seconds).

        Call only after the commit that wrote what the job reads: a worker must never look for
        a row that is not there yet. Jobs are idempotent: a duplicate or early run is harmless.
        """

    def ping(self) -> bool:
        """True when jobs can be handed over (broker reachable, timer thread alive)."""

    def start(self) -> None:
        """Begin running (embedded) or nothing (broker); safe to call once per process."""

    def stop(self) -> None:
        """Finish the jobs in hand and stop; what was pending is recovered on the next start."""


def _run_with_retries(
    job: Job, args: tuple[Any, ...], attempt: int, retry_later: Callable[[float], None]
) -> None:
    """Run ``job`` once; on a retryable failure call ``retry_later(delay)`` or give up."""
    try:
        job.run(*args)
    except RETRYABLE as exc:
        policy = job.retry
        if policy is None or policy.gives_up(attempt):
            if policy is not None:
                log.warning("job_gave_up", job=job.name, args=list(args), error=str(exc))
            if job.give_up is not None:
                job.give_up(*args, exc)
            return
        delay = policy.delay(attempt, exc)
        log.info("job_retry", job=job.name, attempt=attempt + 1, delay_s=round(delay, 3))
        retry_later(delay)


@dataclass(order=True, slots=True)
class _Timer:
    due: float
    seq: int
    name: str = ""
    args: tuple[Any, ...] = ()
    attempt: int = 0
    periodic: bool = False


class EmbeddedDispatcher:
    """The embedded default: one timer thread over a heap of due jobs, handing each to its
    lane's threads. Timers live in memory; composition roots recover what the database says is
    pending before :meth:`start` (see :meth:`service.bootstrap.Runtime.start`)."""

    def __init__(
        self,
        *,
        lanes: dict[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._jobs: dict[str, Job] = {}
        self._lane_sizes = {DEFAULT_LANE: 4, **(lanes or {})}
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._heap: list[_Timer] = []
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._clock = clock
        self._outstanding = 0  # published jobs not yet finished (periodic ones not counted)

    def register(self, job: Job) -> None:
        self._jobs[job.name] = job

    def publish(self, name: str, *args: Any, delay_s: float = 0.0) -> None:
        if name not in self._jobs:
            raise KeyError(f"no job registered as {name!r}")
        with self._wake:
            self._outstanding += 1
            self._push(_Timer(self._clock() + max(delay_s, 0.0), 0, name, args))

    def _push(self, timer: _Timer) -> None:
        timer.seq = next(self._seq)
        heapq.heappush(self._heap, timer)
        self._wake.notify()

    def ping(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._pools = {
            lane: ThreadPoolExecutor(size, thread_name_prefix=f"vsm-{lane}")
            for lane, size in self._lane_sizes.items()
        }
        with self._wake:
            # The first run waits one period: a process start is no reason to write.
            for job in self._jobs.values():
                if job.every_s is not None:
                    due = self._clock() + job.every_s
                    self._push(_Timer(due, 0, job.name, (), periodic=True))
        self._thread = threading.Thread(target=self._loop, name="vsm-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        if self._thread is None:
            return
        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout)
        self._thread = None
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        self._pools = {}

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until every published job (and its retries) finished (tests, ``--demo``)."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._outstanding > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(min(left, 0.05))
        return True

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._stopping:
                    now = self._clock()
                    if self._heap and self._heap[0].due <= now:
                        break
                    # A bounded wait keeps an injected clock (tests) moving without a notify.
                    wait = self._heap[0].due - now if self._heap else 1.0
                    self._wake.wait(min(max(wait, 0.0), 1.0))
                if self._stopping:
                    return
                timer = heapq.heappop(self._heap)
            self._submit(timer)

    def _submit(self, timer: _Timer) -> None:
        job = self._jobs[timer.name]
        pool = self._pools.get(job.lane) or self._pools[DEFAULT_LANE]

        def run() -> None:
            retried = False

            def later(delay: float) -> None:
                nonlocal retried
                if self._stopping:
                    return
                retried = True
                with self._wake:
                    self._push(
                        _Timer(self._clock() + delay, 0, timer.name, timer.args, timer.attempt + 1)
                    )

            try:
                _run_with_retries(job, timer.args, timer.attempt, later)
            except Exception:
                # A bug in one job must not kill the threads that run all the others.
                log.exception("job_crashed", job=job.name, args=list(timer.args))
            finally:
                with self._wake:
                    if timer.periodic and not self._stopping:
                        # The next run is timed from the end of this one: a slow poll never
                        # piles up runs of itself in front of the jobs it publishes.
                        every = job.every_s or 1.0
                        self._push(_Timer(self._clock() + every, 0, timer.name, (), periodic=True))
                    elif not timer.periodic and not retried:
                        self._outstanding -= 1
                        self._wake.notify_all()

        try:
            pool.submit(run)
        except RuntimeError:  # the pool is shutting down
            return


WORKER_MAX_MEMORY_KB = 400_000
"""A pool process whose resident memory passed this (KiB) after a task is replaced by a fresh
one (Celery's ``worker_max_memory_per_child``): CPython keeps the arenas a 100,000-sticky import
filled, so the process would hold its peak for good; the next process starts at ~100 MB. The
task that crossed the line finishes first; nothing is retried."""


class CeleryDispatcher:
    """Jobs as Celery tasks on ``settings``' broker: the API publishes, ``vsm worker`` runs.

    Delivery is at least once: a task is acknowledged after it ran (``acks_late``) and put back
    when its worker dies (``task_reject_on_worker_lost``); Redis redelivers an unacknowledged
    task after ``visibility_timeout_s``. Jobs are idempotent, so duplicates are harmless.
    """

    def __init__(self, broker_url: str, *, queue: str, visibility_timeout_s: int) -> None:
        self.app = Celery("valuestream", broker=broker_url, set_as_current=False)
        self._queue = queue
        self.app.conf.update(
            task_acks_late=True,
            task_reject_on_worker_lost=True,
            worker_prefetch_multiplier=1,
            worker_max_memory_per_child=WORKER_MAX_MEMORY_KB,
            task_serializer="json",
            accept_content=["json"],
            result_serializer="json",
            task_ignore_result=True,
            result_backend=None,
            broker_connection_retry_on_startup=True,
            broker_transport_options={
                "visibility_timeout": visibility_timeout_s,
                # Sweep for abandoned deliveries every few seconds: kombu's default sweep runs
                # every 10 s x 10 throttle, which would delay a crash's redelivery by minutes.
                "unacked_restore_interval": max(1, min(10, visibility_timeout_s // 4)),
                "unacked_restore_throttle": 1,
            },
            worker_hijack_root_logger=False,
            worker_redirect_stdouts=False,
            task_default_queue=queue,
            enable_utc=True,
            beat_schedule={},
        )

    def register(self, job: Job) -> None:
        # shared=False: a shared task joins every Celery app created later in the process,
        # bound to this app's dependencies (tests build several apps in one process).
        @self.app.task(  # type: ignore[untyped-decorator]
            name=job.name,
            shared=False,
            bind=True,
            acks_late=True,
            reject_on_worker_lost=True,
            max_retries=None,
        )
        def task(self: Task, *args: Any) -> None:
            def later(delay: float) -> None:
                raise self.retry(countdown=delay, max_retries=None)

            _run_with_retries(job, args, self.request.retries, later)

        if job.every_s is not None:
            schedule = dict(self.app.conf.beat_schedule or {})
            schedule[job.name] = {"task": job.name, "schedule": job.every_s}
            self.app.conf.beat_schedule = schedule
        _ = task

    def publish(self, name: str, *args: Any, delay_s: float = 0.0) -> None:
        self.app.send_task(
            name, args=list(args), countdown=delay_s if delay_s > 0 else None, queue=self._queue
        )

    def ping(self) -> bool:
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
            return True
        except Exception:  # any transport error means "not reachable"
            return False

    def start(self) -> None:
        """Nothing to start: connections are opened on the first publish."""

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.app.close()
