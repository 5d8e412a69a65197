"""The in-process worker of the embedded default: one thread draining a queue of job ids.

It calls the same use case as the Celery task. Jobs still queued or running when the process
stopped are picked up again on start, so a restart loses nothing.
"""

from __future__ import annotations

import queue
import random
import threading
import time

import structlog
from sqlalchemy.exc import SQLAlchemyError

from connectors.errors import RateLimitedError, TransientError
from service.db.engine import SessionFactory
from service.metrics import Metrics
from service.usecases.imports import fail_import_job, run_import_job, unfinished_job_ids

log = structlog.get_logger(__name__)

_STOP = -1


class EmbeddedWorker:
    """A ``JobQueue`` that runs jobs on a daemon thread of this process."""

    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        max_retries: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._sessions = session_factory
        self._timer = (metrics or Metrics()).time_job
        self._queue: queue.Queue[int] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._stopping = threading.Event()

    def enqueue(self, job_id: int) -> None:
        self._queue.put(job_id)

    def ping(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        try:
            with self._sessions() as session:
                for job_id in unfinished_job_ids(session):
                    self._queue.put(job_id)
        except SQLAlchemyError as exc:
            # Serve anyway: /readyz reports the database, and new jobs are queued as they come.
            log.warning("embedded_recovery_skipped", error=type(exc).__name__)
        self._thread = threading.Thread(target=self._run, name="vsm-embedded-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until every enqueued job was handled (tests, ``vsm serve --demo``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def _run(self) -> None:
        while True:
            job_id = self._queue.get()
            try:
                if job_id == _STOP:
                    return
                self._run_one(job_id)
            except Exception:
                # A bug in one job must not kill the thread that runs all the others.
                log.exception("embedded_job_crashed", job_id=job_id)
            finally:
                self._queue.task_done()

    def _run_one(self, job_id: int) -> None:
        for attempt in range(self._max_retries + 1):
            try:
                with self._sessions() as session, self._timer() as timer:
                    done = run_import_job(session, job_id)
                    timer.outcome = done.status if done is not None else "missing"
                return
            except (TransientError, RateLimitedError) as exc:
                if attempt == self._max_retries or self._stopping.is_set():
                    with self._sessions() as session:
                        fail_import_job(session, job_id, f"gave up after retries: {exc}")
                    return
                delay = getattr(exc, "retry_after", None) or min(
                    self._max_backoff_s, self._backoff_s * 2**attempt
                )
                delay *= random.uniform(0.5, 1.0)  # noqa: S311  (jitter, not cryptography)
                log.info("embedded_job_retry", job_id=job_id, attempt=attempt + 1, delay_s=delay)
                if self._stopping.wait(delay):
                    return
