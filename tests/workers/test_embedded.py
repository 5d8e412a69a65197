"""The in-process worker: runs queued jobs, resumes unfinished ones on start, retries blips."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

import workers.embedded
from connectors.dump import load_dump
from connectors.errors import TransientError
from service.db.engine import create_session_factory
from service.db.tables import ImportJob, JobStatus, Workspace
from service.usecases.imports import run_import_job, submit_import
from testkit.service_dumps import stream_dump
from workers.embedded import EmbeddedWorker


def queue_job(engine: Engine, steps: int = 3) -> int:
    with create_session_factory(engine)() as session:
        workspace = session.exec(select(Workspace)).first() or Workspace(name="w")
        session.add(workspace)
        session.flush()
        assert workspace.id is not None
        dump = stream_dump(steps)
        job, _ = submit_import(session, workspace.id, json.dumps(dump).encode(), load_dump(dump))
        session.commit()
        assert job.id is not None
        return job.id


def status(engine: Engine, job_id: int) -> tuple[str, int]:
    with create_session_factory(engine)() as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        return job.status, job.attempts


def test_jobs_left_unfinished_by_a_stopped_process_run_when_the_worker_starts(
    engine: Engine,
) -> None:
    job_id = queue_job(engine)  # committed, but never handed to a worker
    worker = EmbeddedWorker(create_session_factory(engine))

    worker.start()
    try:
        assert worker.wait_idle(30)
    finally:
        worker.stop()

    assert status(engine, job_id) == (JobStatus.SUCCEEDED, 1)


def test_a_transient_error_is_retried_with_backoff(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def flaky(session, job_id):  # two blips, then the real use case
        calls.append(job_id)
        if len(calls) <= 2:
            raise TransientError("502 from the provider", status=502)
        return run_import_job(session, job_id)

    monkeypatch.setattr(workers.embedded, "run_import_job", flaky)
    worker = EmbeddedWorker(create_session_factory(engine), backoff_s=0.01)
    worker.start()
    try:
        job_id = queue_job(engine)
        worker.enqueue(job_id)
        assert worker.wait_idle(30)
    finally:
        worker.stop()

    assert len(calls) == 3
    assert status(engine, job_id)[0] == JobStatus.SUCCEEDED


def test_a_job_that_keeps_failing_transiently_is_failed_after_the_retries(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(session, job_id):
        raise TransientError("timeout")

    monkeypatch.setattr(workers.embedded, "run_import_job", down)
    worker = EmbeddedWorker(create_session_factory(engine), max_retries=2, backoff_s=0.01)
    worker.start()
    try:
        job_id = queue_job(engine)
        worker.enqueue(job_id)
        assert worker.wait_idle(30)
    finally:
        worker.stop()

    with create_session_factory(engine)() as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        assert (job.status, job.error) == (JobStatus.FAILED, "gave up after retries: timeout")
