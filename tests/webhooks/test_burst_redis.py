"""Webhooks on the real Redis broker with two real Celery workers (``vsm worker`` processes).

The API runs in this process and only publishes. A burst of 1,000 triggers for one board: the
workers run the debounced fire and the import; one or two imports follow (the second when
triggers arrive while the first runs), one more for each further debounce window a slow machine
stretches the burst over, never one per trigger, and no trigger gets an error response.
An import run by a worker is announced to subscribers by a worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from service.api.app import create_app
from service.db.engine import create_session_factory
from service.db.tables import ImportJob
from service.settings import Settings
from service.webhooks.signing import DELIVERY_HEADER, SIGNATURE_HEADER, sign, verify
from service.webhooks.tables import BoardWebhook, DeliveryStatus, SubscriptionDelivery
from testkit.service_dumps import stream_dump
from tests.api.conftest import make_workspace
from tests.conftest import TestDatabase
from tests.webhooks.conftest import KEY

REPO = Path(__file__).resolve().parents[2]
TRIGGERS = 1000
BURST_S = 10.0
DEBOUNCE_S = 10.0  # the default: the whole burst fits in one window

pytestmark = [pytest.mark.slow, pytest.mark.redis]


@pytest.fixture
def broker_env(database: TestDatabase, engine: Engine, redis_url: str) -> Iterator[dict[str, str]]:
    queue = f"vsm-hooks-test-{uuid.uuid4().hex[:10]}"
    env = {
        "VSM_DATABASE_URL": database.url,
        "VSM_BROKER_URL": redis_url,
        "VSM_BROKER_QUEUE": queue,
        "VSM_ENCRYPTION_KEYS": KEY,
        "VSM_WEBHOOKS__DEBOUNCE_S": str(DEBOUNCE_S),
        "VSM_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
        "VSM_LOG_FORMAT": "console",
    }
    yield env
    client = redis.Redis.from_url(redis_url)
    client.delete(queue)
    client.close()


@pytest.fixture
def workers(broker_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[], None]]:
    """Two ``vsm worker`` processes; the fixture value waits until both are ready."""
    processes: list[tuple[subprocess.Popen[bytes], Path]] = []
    for n in range(2):
        log_path = tmp_path / f"worker-{n}.log"
        with log_path.open("wb") as log:
            processes.append(
                (
                    subprocess.Popen(
                        [sys.executable, "-m", "service.cli", "worker", "--concurrency=2"],
                        cwd=REPO,
                        env={**os.environ, **broker_env},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    ),
                    log_path,
                )
            )

    def wait_ready() -> None:
        deadline = time.monotonic() + 60
        for process, log_path in processes:
            while " ready." not in log_path.read_text(errors="replace"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(log_path.read_text(errors="replace")[-3000:])
                time.sleep(0.1)

    yield wait_ready
    for process, _ in processes:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        except ProcessLookupError:
            pass


def test_a_burst_of_1000_triggers_makes_one_or_two_imports(
    broker_env: dict[str, str],
    database: TestDatabase,
    engine: Engine,
    workers: Callable[[], None],
) -> None:
    workers()
    settings = Settings(
        database_url=database.url,
        broker_url=broker_env["VSM_BROKER_URL"],
        broker_queue=broker_env["VSM_BROKER_QUEUE"],
        encryption_keys=[KEY],
        webhooks={"debounce_s": DEBOUNCE_S},
        log_format="console",
    )
    alice = make_workspace(engine, "alice")
    sessions = create_session_factory(engine)
    with TestClient(
        create_app(settings, engine=engine, migrate=False, configure_logs=False)
    ) as client:
        job = client.post("/v1/imports", json=stream_dump(4), headers=alice.headers).json()
        deadline = time.monotonic() + 60
        while (
            board_id := client.get(f"/v1/imports/{job['id']}", headers=alice.headers).json()[
                "board_id"
            ]
        ) is None:
            assert time.monotonic() < deadline, "the first import never ran"
            time.sleep(0.1)
        secret = client.post(f"/v1/boards/{board_id}/webhook-secret", headers=alice.headers).json()[
            "secret"
        ]

        statuses: dict[int, int] = {}
        outcomes: dict[str, int] = {}
        started = time.monotonic()
        for n in range(TRIGGERS):
            # pace the burst evenly over BURST_S so imports overlap with incoming triggers
            pause = started + n * BURST_S / TRIGGERS - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            delivery = f"burst-{n}"
            body = json.dumps({"delivery_id": delivery}).encode()
            response = client.post(
                f"/v1/hooks/boards/{board_id}",
                content=body,
                headers={
                    SIGNATURE_HEADER: sign(secret, body, int(time.time())),
                    DELIVERY_HEADER: delivery,
                },
            )
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code == 202:
                outcome = response.json()["outcome"]
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        # On a busy machine the burst can outlast one debounce window: each further window
        # may open one more import, never one per trigger.
        windows = 1 + int((time.monotonic() - started) // DEBOUNCE_S)

        def settled() -> bool:
            with sessions() as session:
                row = session.get(BoardWebhook, board_id)
                return row is not None and row.state == "idle"

        deadline = time.monotonic() + 90
        while not settled():
            assert time.monotonic() < deadline, "the board never settled"
            time.sleep(0.2)

    with sessions() as session:
        imports = session.exec(
            select(ImportJob).where(ImportJob.trigger == "webhook").order_by(col(ImportJob.id))
        ).all()
    assert statuses == {202: TRIGGERS}
    assert 1 <= len(imports) <= windows + 1, [(j.id, j.status) for j in imports]
    assert all(job.finished_at is not None for job in imports)
    assert sum(outcomes.values()) == TRIGGERS
    assert 1 <= outcomes["accepted"] <= windows + 1


def test_an_import_run_by_a_celery_worker_is_delivered_to_subscribers(
    broker_env: dict[str, str],
    database: TestDatabase,
    engine: Engine,
    workers: Callable[[], None],
) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    received: list[tuple[str, bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers[SIGNATURE_HEADER], body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    Thread(target=server.serve_forever, daemon=True).start()
    workers()
    settings = Settings(
        database_url=database.url,
        broker_url=broker_env["VSM_BROKER_URL"],
        broker_queue=broker_env["VSM_BROKER_QUEUE"],
        encryption_keys=[KEY],
        webhooks={"allow_private_targets": True},
        log_format="console",
    )
    alice = make_workspace(engine, "alice")
    sessions = create_session_factory(engine)

    def pending_deliveries() -> int:
        with sessions() as session:
            rows = session.exec(select(SubscriptionDelivery)).all()
        return sum(1 for row in rows if row.status == DeliveryStatus.PENDING)

    try:
        with TestClient(
            create_app(settings, engine=engine, migrate=False, configure_logs=False)
        ) as client:
            subscription = client.post(
                "/v1/subscriptions",
                json={
                    "url": f"http://127.0.0.1:{server.server_address[1]}/hook",
                    "events": ["revision.created"],
                },
                headers=alice.headers,
            ).json()
            client.post("/v1/imports", json=stream_dump(3), headers=alice.headers)
            deadline = time.monotonic() + 60
            while not received or pending_deliveries():
                assert time.monotonic() < deadline, "the delivery never settled"
                time.sleep(0.1)
    finally:
        server.shutdown()
        server.server_close()

    with sessions() as session:
        assert len(session.exec(select(SubscriptionDelivery)).all()) == 1
    ((header, body),) = received
    verify([subscription["secret"]], header, body, now=time.time())
    assert json.loads(body)["type"] == "revision.created"
