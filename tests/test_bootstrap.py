"""The composition root: one runtime per process, its jobs, its providers, and what it builds."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import select

import service.bootstrap
import service.dispatch
import service.providers
from connectors.dump import load_dump
from connectors.errors import TransientError
from connectors.http import RateSnapshot, RetryPolicy
from connectors.mural.provider import token_url
from service.api.app import create_app
from service.bootstrap import Runtime, build
from service.db.engine import create_db_engine, create_session_factory
from service.db.tables import ImportJob, JobStatus, Workspace
from service.dispatch import CeleryDispatcher, EmbeddedDispatcher
from service.providers import ProviderContext, default_http
from service.settings import MuralSettings, Settings
from service.usecases.imports import run_import_job, submit_import
from service.usecases.uploads import UploadFolder
from testkit.service_dumps import stream_dump
from workers.celery_app import create_celery

FAST = RetryPolicy(max_tries=3, base_delay=0.01, max_delay=0.02)


def queue_job(engine: Engine, uploads: UploadFolder, steps: int = 3) -> int:
    with create_session_factory(engine)() as session:
        workspace = session.exec(select(Workspace)).first() or Workspace(name="w")
        session.add(workspace)
        session.flush()
        assert workspace.id is not None
        dump = stream_dump(steps)
        raw = json.dumps(dump).encode()
        job, _ = submit_import(session, uploads, workspace.id, raw, load_dump(dump))
        session.commit()
        assert job.id is not None
        return job.id


def job_of(engine: Engine, job_id: int) -> ImportJob:
    with create_session_factory(engine)() as session:
        job = session.get(ImportJob, job_id)
        assert job is not None
        return job


def run_until_idle(runtime: Runtime, *job_ids: int) -> None:
    runtime.start()
    try:
        for job_id in job_ids:
            runtime.dispatcher.publish("imports.run", job_id)
        assert isinstance(runtime.dispatcher, EmbeddedDispatcher)
        assert runtime.dispatcher.wait_idle(30)
    finally:
        runtime.stop()


def test_jobs_left_unfinished_by_a_stopped_process_run_when_the_runtime_starts(
    engine: Engine,
) -> None:
    runtime = build(Settings(), engine=engine)
    job_id = queue_job(engine, runtime.uploads)  # committed, but never handed to a worker

    run_until_idle(runtime)

    job = job_of(engine, job_id)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1)


def test_a_transient_error_of_an_import_is_retried(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def flaky(session: Any, uploads: UploadFolder, job_id: int) -> Any:  # two blips, then real
        calls.append(job_id)
        if len(calls) <= 2:
            raise TransientError("502 from the provider", status=502)
        return run_import_job(session, uploads, job_id)

    monkeypatch.setattr(service.bootstrap, "run_import_job", flaky)
    runtime = build(Settings(), engine=engine, retry=FAST)
    job_id = queue_job(engine, runtime.uploads)
    calls.clear()  # the start-up recovery may pick the job up too; count from here

    run_until_idle(runtime, job_id)

    assert job_of(engine, job_id).status == JobStatus.SUCCEEDED
    assert len(calls) >= 3


def test_an_import_that_keeps_failing_transiently_is_failed_after_the_retries(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(session: Any, uploads: UploadFolder, job_id: int) -> Any:
        raise TransientError("timeout")

    monkeypatch.setattr(service.bootstrap, "run_import_job", down)
    runtime = build(Settings(), engine=engine, retry=FAST)
    job_id = queue_job(engine, runtime.uploads)

    run_until_idle(runtime, job_id)

    job = job_of(engine, job_id)
    assert (job.status, job.error) == (JobStatus.FAILED, "gave up after retries: timeout")


def test_the_celery_app_runs_the_live_jobs_of_both_providers_and_schedules_their_polls(
    tmp_path: Path,
) -> None:
    app = create_celery(Settings(broker_url="memory://", database_url=f"sqlite:///{tmp_path}/x.db"))

    names = {"boards.fetch", "boards.poll", "murals.fetch", "murals.poll", "imports.run"}
    assert names <= set(app.tasks)
    assert {"boards.poll", "murals.poll", "hooks.purge", "hooks.sweep"} <= set(
        app.conf.beat_schedule
    )
    assert app.conf.beat_schedule["murals.poll"]["schedule"] == 30.0
    # Neither provider is configured: their jobs do nothing instead of failing.
    assert app.tasks["boards.fetch"].run(1) is None
    assert app.tasks["murals.poll"].run() is None


def test_a_provider_stays_off_with_a_reason_until_its_app_and_a_key_are_set(
    tmp_path: Path,
) -> None:
    configured = MuralSettings(client_id="c", client_secret=SecretStr("s"))
    key = Fernet.generate_key().decode()
    url = f"sqlite:///{tmp_path}/x.db"

    off = build(Settings(database_url=url)).providers["mural"]
    no_key = build(Settings(database_url=url, mural=configured)).providers["mural"]
    on = build(Settings(database_url=url, mural=configured, encryption_keys=[key])).providers[
        "mural"
    ]

    assert (off.live, no_key.live) == (None, None)
    assert "VSM_MURAL__CLIENT_ID" in off.disabled_reason
    assert "VSM_ENCRYPTION_KEYS" in no_key.disabled_reason
    assert on.live is not None
    assert token_url(on.live.source.app) == (  # type: ignore[attr-defined]
        "https://app.mural.co/api/public/v1/authorization/oauth2/token"
    )


def test_the_api_with_a_broker_builds_one_celery_app_and_one_engine_and_runs_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    celery_apps: list[object] = []
    engines: list[object] = []
    real_celery, real_engine = service.dispatch.Celery, service.bootstrap.create_db_engine

    def counting_celery(*args: Any, **kwargs: Any) -> Any:
        celery_apps.append(args)
        return real_celery(*args, **kwargs)

    def counting_engine(*args: Any, **kwargs: Any) -> Any:
        engines.append(args)
        return real_engine(*args, **kwargs)

    monkeypatch.setattr(service.dispatch, "Celery", counting_celery)
    monkeypatch.setattr(service.bootstrap, "create_db_engine", counting_engine)
    settings = Settings(broker_url="memory://", database_url=f"sqlite:///{tmp_path}/x.db")

    app = create_app(settings, migrate=False, configure_logs=False)

    runtime: Runtime = app.state.runtime
    assert (len(celery_apps), len(engines)) == (1, 1)
    assert isinstance(runtime.dispatcher, CeleryDispatcher)


@pytest.mark.redis
@pytest.mark.anyio
async def test_deployments_sharing_a_redis_keep_apart_the_budgets_of_their_connections(
    redis_url: str, tmp_path: Path
) -> None:
    """Connection ids start at 1 in every database: only the queue tells deployments apart."""

    def miro_budget(queue: str) -> Any:
        """Connection 1's Miro budget as a process of the deployment with ``queue`` builds it."""
        settings = Settings(broker_url=redis_url, broker_queue=queue)
        runtime = build(settings, engine=create_db_engine(f"sqlite:///{tmp_path / 'unused.db'}"))
        context = ProviderContext(
            settings,
            runtime.sessions,
            runtime.dispatcher,
            default_http,
            runtime.redis,
            runtime.uploads,
        )
        return service.providers._budgets(context)("miro", 180)("connection:1")

    prefix = f"q-{uuid.uuid4().hex[:8]}"
    ours, same, other = (
        miro_budget(f"{prefix}-a"),
        miro_budget(f"{prefix}-a"),
        miro_budget(f"{prefix}-b"),
    )
    now = time.time()
    await ours.observe(RateSnapshot(remaining=0, reset_at=now + 50, limit=100), now)

    assert await same.reserve(1, now) > 0  # the same deployment waits for its window
    assert await other.reserve(1, now) == 0  # another deployment's connection 1 does not
