"""The broker (Redis) dies and comes back while imports and webhook triggers arrive: the API
answers 202 throughout and every piece of work runs once Redis is back, with real ``vsm worker``
processes on a private ``redis-server`` (killed with SIGKILL: its queue is gone with it).

The outbox sweeps run every half second here (``VSM_OUTBOX_SWEEP_S``) and hand over what is one
second late (``VSM_OUTBOX_STALE_AFTER_S``); the defaults are a minute and two.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from testkit.service_dumps import stream_dump
from tests.api.conftest import Workspace, import_dump, make_workspace, wait_for_job
from tests.conftest import RedisServer, TestDatabase
from tests.webhooks.conftest import HookedBoard, wait_until
from tests.workers.conftest import StartWorker

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

KEY = Fernet.generate_key().decode()
# Generous: a worker that lost its broker reconnects with kombu's growing back-off (2, 4, 6 s...).
DEADLINE_S = 120.0


@pytest.fixture
def broker_env(broker_env: dict[str, str], private_redis: RedisServer) -> dict[str, str]:
    """The workers' and the API's environment on the private Redis, with fast outbox sweeps."""
    broker_env.update(
        VSM_BROKER_URL=private_redis.url,
        VSM_OUTBOX_SWEEP_S="0.5",
        VSM_OUTBOX_STALE_AFTER_S="1",
        VSM_ENCRYPTION_KEYS=KEY,
        VSM_WEBHOOKS__DEBOUNCE_S="0.3",
    )
    return broker_env


def revisions(client: TestClient, who: Workspace, board_id: int) -> list[int]:
    listed = client.get(f"/v1/boards/{board_id}/revisions", headers=who.headers).json()
    return [r["number"] for r in listed["items"]]


def test_imports_posted_while_the_broker_is_down_all_run_once_it_is_back(
    api: TestClient, start_worker: StartWorker, private_redis: RedisServer, postgres: TestDatabase
) -> None:
    who = make_workspace(postgres.engine, "broker-down")
    start_worker(beat=True)
    assert import_dump(api, who, stream_dump(2, board_id="before"))["status"] == "succeeded"

    private_redis.kill()
    answers = [
        api.post("/v1/imports", json=stream_dump(n, board_id=f"b{n}"), headers=who.headers)
        for n in (2, 3, 4)
    ]
    assert [a.status_code for a in answers] == [202, 202, 202], [a.text for a in answers]
    statuses = [
        api.get(f"/v1/imports/{a.json()['id']}", headers=who.headers).json()["status"]
        for a in answers
    ]
    assert statuses == ["queued", "queued", "queued"]  # stored, waiting for the broker
    private_redis.start()  # empty: nothing published during the outage survived

    jobs = [wait_for_job(api, who, a.json()["id"], timeout=DEADLINE_S) for a in answers]

    assert [j["status"] for j in jobs] == ["succeeded", "succeeded", "succeeded"]
    assert [revisions(api, who, j["board_id"]) for j in jobs] == [[1], [1], [1]]


def test_a_trigger_sent_while_the_broker_is_down_imports_the_board_once_it_is_back(
    api: TestClient, start_worker: StartWorker, private_redis: RedisServer, postgres: TestDatabase
) -> None:
    who = make_workspace(postgres.engine, "trigger-down")
    start_worker(beat=True)
    job = import_dump(api, who, stream_dump(3))
    hooked = HookedBoard(api, who, job["board_id"], "")
    hooked.secret = hooked.rotate()["secret"]

    private_redis.kill()
    answer = hooked.post(delivery_id="during-outage")
    assert answer.status_code == 202, answer.text
    private_redis.start()

    def fired() -> list[dict[str, Any]]:
        return [j for j in hooked.jobs() if j["status"] not in ("queued", "running")]

    wait_until(lambda: bool(fired()), timeout=DEADLINE_S)
    # One re-import, of unchanged content and rules (a trigger on a dump-imported board
    # reclassifies its stored revision).
    assert [j["status"] for j in fired()] == ["unchanged"]
    wait_until(
        lambda: (
            hooked.client.get(f"/v1/boards/{hooked.board_id}/webhook", headers=who.headers).json()[
                "state"
            ]
            == "idle"
        ),
        timeout=DEADLINE_S,
    )
    # The sender's retry of the same delivery is a replay now: the first one was not lost.
    assert hooked.post(delivery_id="during-outage").status_code == 409
