"""Live Miro at scale, once: a real Celery worker on Redis fetches, imports and re-imports a
board connected through the API (PostgreSQL, the stand-in Miro on a real socket)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from celery.contrib.testing.worker import start_worker
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.settings import Settings
from tests.api.conftest import make_workspace, wait_for_job
from tests.api.live_flow import connect, connect_board, sync_of, until
from tests.api.test_connections import BOARD, CALLBACK, miro_settings, miro_stand_in, workshop
from tests.conftest import TestDatabase
from tests.standins.miro_server import MiroStandIn
from tests.standins.serving import serve
from workers.celery_app import create_celery

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture
def miro() -> MiroStandIn:
    return miro_stand_in()


@pytest.fixture
def settings(broker_env: dict[str, str], miro: MiroStandIn) -> Iterator[Settings]:
    with serve(miro.app()) as url:
        yield Settings(
            database_url=broker_env["VSM_DATABASE_URL"],
            broker_url=broker_env["VSM_BROKER_URL"],
            broker_queue=broker_env["VSM_BROKER_QUEUE"],
            log_format="console",
            import_max_retries=2,
            encryption_keys=[Fernet.generate_key().decode()],
            miro=miro_settings(miro, url),
        )


def test_a_celery_worker_fetches_imports_and_reimports_a_connected_board(
    settings: Settings, postgres: TestDatabase, miro: MiroStandIn
) -> None:
    worker_app = create_celery(settings)
    api = create_app(settings, engine=postgres.engine, migrate=False, configure_logs=False)
    who = make_workspace(postgres.engine, "live-celery")

    with (
        start_worker(worker_app, pool="solo", perform_ping_check=False, shutdown_timeout=30),
        TestClient(api) as client,
    ):
        connection = connect(client, who, "miro", CALLBACK)
        board_id = connect_board(client, who, connection["id"], BOARD)

        def sync() -> dict[str, object]:
            return sync_of(client, who, board_id)

        first_id = until(lambda: sync()["last_import_job_id"], timeout=60)
        first = wait_for_job(client, who, int(first_id), timeout=60)  # type: ignore[arg-type]
        assert first["status"] == "succeeded"

        miro.boards[BOARD]["items"] = workshop("Credit check\nLT 3 d")["items"]
        miro.touch(BOARD, "2026-03-03T08:00:00Z")
        until(lambda: sync()["next_check_at"] and sync()["status"] == "ok", timeout=30)
        time.sleep(1.1)  # the board's next check is due
        worker_app.send_task("boards.poll")  # what Celery beat sends every 30 s
        second_id = until(lambda: (j := sync()["last_import_job_id"]) != first_id and j, timeout=60)
        second = wait_for_job(client, who, int(second_id), timeout=60)  # type: ignore[arg-type]

    assert second["status"] == "succeeded"
    assert second["trigger"] == "poll"
