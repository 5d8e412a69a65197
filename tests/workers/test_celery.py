"""The Celery wiring, once, with real ``vsm worker`` processes on Redis and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from testkit.service_dumps import stream_dump
from tests.api.conftest import Workspace, import_dump, make_workspace, wait_for_job
from tests.conftest import TestDatabase
from tests.workers.conftest import StartWorker

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]


def job_status(client: TestClient, who: Workspace, job_id: int) -> str:
    return client.get(f"/v1/imports/{job_id}", headers=who.headers).json()["status"]


def test_a_posted_dump_is_imported_by_a_worker_process_and_served(
    broker_client: TestClient,
    start_worker: StartWorker,
    postgres: TestDatabase,
    broker_env: dict[str, str],
) -> None:
    start_worker()
    who = make_workspace(postgres.engine, "e2e")

    response = broker_client.post("/v1/imports", json=stream_dump(4), headers=who.headers)
    job = wait_for_job(broker_client, who, response.json()["id"], timeout=60)

    assert job["status"] == "succeeded"
    # The worker process read the API's file from the shared folder, then deleted it (after
    # the commit that finished the job, which the client may see first).
    folder = Path(broker_env["VSM_UPLOAD_DIR"])
    deadline = time.monotonic() + 30
    while list(folder.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert list(folder.iterdir()) == []
    streams = broker_client.get(f"/v1/boards/{job['board_id']}/streams", headers=who.headers)
    assert [len(s["stream"]["steps"]) for s in streams.json()["items"]] == [4]
    assert broker_client.get("/readyz").json()["checks"]["broker"] == "ok"


def test_an_import_whose_worker_is_killed_completes_once_on_another_worker(
    broker_client: TestClient, start_worker: StartWorker, postgres: TestDatabase
) -> None:
    who = make_workspace(postgres.engine, "sigkill")
    first = start_worker()
    board_id = import_dump(broker_client, who, stream_dump(3))["board_id"]

    # Hold the board row so the worker stops inside the import's final transaction.
    with postgres.engine.connect() as blocker, postgres.engine.connect() as observer:
        blocker.execute(
            sa.text("SELECT id FROM board WHERE id = :id FOR NO KEY UPDATE"), {"id": board_id}
        )
        blocker_pid = blocker.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        job_id = broker_client.post("/v1/imports", json=stream_dump(5), headers=who.headers).json()[
            "id"
        ]
        deadline = time.monotonic() + 60
        # The worker is inside the import's final transaction once it waits for our lock.
        while True:
            waiting = observer.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"
                ),
                {"pid": blocker_pid},
            ).scalar_one()
            observer.rollback()  # pg_stat_activity is a snapshot per transaction
            if waiting:
                break
            assert time.monotonic() < deadline, "the worker never reached the board's lock"
            time.sleep(0.05)
        assert job_status(broker_client, who, job_id) == "running"
        first.kill()
        blocker.rollback()
    assert job_status(broker_client, who, job_id) == "running"  # died mid-import, wrote nothing
    listed = broker_client.get(f"/v1/boards/{board_id}/revisions", headers=who.headers).json()
    assert [r["number"] for r in listed["items"]] == [1]

    start_worker()  # picks the job up once Redis redelivers it (visibility timeout)
    job = wait_for_job(broker_client, who, job_id, timeout=90)

    assert (job["status"], job["revision"], job["attempts"]) == ("succeeded", 2, 2)
    revisions = broker_client.get(f"/v1/boards/{board_id}/revisions", headers=who.headers).json()
    assert [r["number"] for r in revisions["items"]] == [2, 1]
    assert revisions["items"][0]["import_job_id"] == job_id
