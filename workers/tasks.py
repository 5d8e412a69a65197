"""Thin Celery tasks: take an id, call the use case with a fresh session."""

from __future__ import annotations

from typing import Any

import structlog
from celery import Celery, Task

from connectors.errors import RateLimitedError, TransientError
from service.db.engine import SessionFactory
from service.jobqueue import IMPORT_TASK
from service.usecases.imports import fail_import_job, run_import_job

log = structlog.get_logger(__name__)


def register_tasks(app: Celery, session_factory: SessionFactory, *, max_retries: int) -> None:
    """Register the tasks on ``app``; they reach the database through ``session_factory``."""

    @app.task(  # type: ignore[untyped-decorator]
        name=IMPORT_TASK,
        # Not shared: a shared task would be copied into every later app of the process, bound
        # to the first app's database.
        shared=False,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        autoretry_for=(TransientError,),
        retry_backoff=True,
        retry_backoff_max=600,
        retry_jitter=True,
        max_retries=max_retries,
    )
    def run_import(self: Task, job_id: int) -> None:
        """Run import job ``job_id``; a finished job is left alone (redelivery is harmless)."""
        structlog.contextvars.bind_contextvars(job_id=job_id, task_id=self.request.id)
        try:
            with session_factory() as session:
                run_import_job(session, job_id)
        except RateLimitedError as exc:
            # A long wait goes back to the broker instead of blocking this worker.
            if self.request.retries >= max_retries:
                _give_up(session_factory, job_id, exc)
                return
            raise self.retry(exc=exc, countdown=max(1.0, exc.retry_after)) from exc
        except TransientError as exc:
            if self.request.retries >= max_retries:
                _give_up(session_factory, job_id, exc)
                return
            raise  # autoretry_for schedules the retry with backoff and jitter
        finally:
            structlog.contextvars.unbind_contextvars("job_id", "task_id")

    _ = run_import


def _give_up(session_factory: SessionFactory, job_id: int, exc: Exception) -> Any:
    log.warning("import_job_gave_up", job_id=job_id, error=str(exc))
    with session_factory() as session:
        return fail_import_job(session, job_id, f"gave up after retries: {exc}")
