"""PostgreSQL drops the connections of real ``vsm worker`` processes and of the API while imports
run (``pg_terminate_backend``, as a failover or an administrator does): every job still ends,
``succeeded`` or ``failed`` with its reason, none is left ``queued`` or ``running``, and none
stores more than one revision."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.db.engine import create_db_engine
from service.settings import Settings
from testkit.service_dumps import stream_dump
from tests.api.conftest import Workspace, make_workspace
from tests.conftest import TestDatabase
from tests.workers.conftest import StartWorker

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

DEADLINE_S = 180.0
JOBS = 12
KILL_ROUNDS = 25


@pytest.fixture
def app_name() -> str:
    """The ``application_name`` of this test's connections: what the terminations select."""
    return f"vsm-fault-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def broker_env(broker_env: dict[str, str], app_name: str) -> dict[str, str]:
    broker_env["VSM_DATABASE_URL"] += f"&application_name={app_name}"
    broker_env["VSM_IMPORT_MAX_RETRIES"] = "5"
    return broker_env


@pytest.fixture
def api(broker_env: dict[str, str]) -> Iterator[TestClient]:
    settings = Settings(
        database_url=broker_env["VSM_DATABASE_URL"],
        broker_url=broker_env["VSM_BROKER_URL"],
        broker_queue=broker_env["VSM_BROKER_QUEUE"],
        log_format="console",
        rate_limit=None,
        max_active_imports=JOBS,
    )
    engine = create_db_engine(settings.database_url)
    app = create_app(settings, engine=engine, migrate=False, configure_logs=False)
    try:
        with TestClient(app) as client:
            yield client
    finally:
        engine.dispose()


def terminate(admin: sa.Engine, app_name: str) -> int:
    with admin.connect() as connection:
        killed = connection.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :name AND pid <> pg_backend_pid()"
            ),
            {"name": app_name},
        ).scalar_one()
    return int(killed)


def statuses(admin: sa.Engine, job_ids: list[int]) -> dict[int, str]:
    with admin.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT id, status FROM import_job WHERE id = ANY(:ids)"), {"ids": job_ids}
        ).all()
    return {row.id: row.status for row in rows}


def post_import(client: TestClient, who: Workspace, n: int) -> Any:
    # The API's own connections are terminated too: a request that lost its connection answers
    # 503 with Retry-After, and the client retries as told.
    for _ in range(20):
        answer = client.post(
            "/v1/imports", json=stream_dump(40, board_id=f"b{n}"), headers=who.headers
        )
        if answer.status_code != 503:
            assert answer.status_code == 202, answer.text
            return answer.json()["id"]
    raise AssertionError("the API kept answering 503")


def test_every_job_ends_when_the_database_drops_the_connections_under_load(
    api: TestClient,
    start_worker: StartWorker,
    postgres: TestDatabase,
    app_name: str,
) -> None:
    admin = postgres.engine
    who = make_workspace(admin, "pg-kill")
    start_worker(concurrency=2)
    job_ids = [post_import(api, who, n) for n in range(JOBS)]

    killed = 0
    for _ in range(KILL_ROUNDS):
        if set(statuses(admin, job_ids).values()) <= {"succeeded", "failed"}:
            break
        killed += terminate(admin, app_name)
        time.sleep(0.2)  # pacing of the fault injection, not a wait for an outcome
    assert killed > 0, "no connection of the workers was terminated"

    deadline = time.monotonic() + DEADLINE_S
    while not set((current := statuses(admin, job_ids)).values()) <= {"succeeded", "failed"}:
        assert time.monotonic() < deadline, f"jobs not ended: {current}"
        time.sleep(0.1)
    with admin.connect() as connection:
        per_job = connection.execute(
            sa.text(
                "SELECT j.id, j.status, j.error, count(r.id) AS revisions FROM import_job j "
                "LEFT JOIN revision r ON r.import_job_id = j.id "
                "WHERE j.id = ANY(:ids) GROUP BY j.id, j.status, j.error"
            ),
            {"ids": job_ids},
        ).all()
    assert len(per_job) == JOBS
    for row in per_job:
        assert row.revisions == (1 if row.status == "succeeded" else 0), row
        assert row.status == "succeeded" or row.error, row  # a failure says why
