"""A provider misbehaving under real ``vsm worker`` processes, against the stand-in Miro on a
socket: eight processes racing to refresh one connection's token, and 429 and 5xx storms
during a live import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlmodel import select

from service.db.engine import create_session_factory
from service.db.tables import Connection
from testkit.builders import miro_dump, miro_frame, miro_sticky
from testkit.standins.miro_server import Fault, MiroStandIn
from testkit.standins.serving import serve
from tests.api import live_flow
from tests.api.conftest import make_workspace, wait_for_job
from tests.conftest import RedisServer, TestDatabase
from tests.workers.conftest import REPO, StartWorker

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

KEY = Fernet.generate_key().decode()
CALLBACK = "http://testserver/v1/oauth/miro/callback"
BOARD = "uXjVOfault0="
RACERS = 8  # in PROCESSES processes: the row lock across them, a thread lock within
PROCESSES = 2
DEADLINE_S = 120.0


def board_dump(stickies: int) -> dict[str, object]:
    frame = miro_frame("9000000", "Current state", 0, 0, 2800, 2800)
    notes = [
        miro_sticky(str(1_000_000 + n), f"Step {n}", 50 + n, 50, parent="9000000")
        for n in range(stickies)
    ]
    return miro_dump([frame, *notes])


@pytest.fixture
def miro() -> MiroStandIn:
    stand_in = MiroStandIn(redirect_uri=CALLBACK)
    stand_in.add_board(board_dump(240) | {"board": {"id": BOARD, "name": "Storm"}})
    return stand_in


@pytest.fixture
def miro_url(miro: MiroStandIn) -> Iterator[str]:
    with serve(miro.app()) as url:
        yield url


@pytest.fixture
def broker_env(
    broker_env: dict[str, str], miro: MiroStandIn, miro_url: str, private_redis: RedisServer
) -> dict[str, str]:
    # A Redis of its own: nothing another test (or engineer) left in the shared one, such as a
    # rate budget's window, can pace this import.
    broker_env.update(
        VSM_BROKER_URL=private_redis.url,
        VSM_ENCRYPTION_KEYS=KEY,
        VSM_IMPORT_MAX_RETRIES="8",
        VSM_MIRO__CLIENT_ID=miro.client_id,
        VSM_MIRO__CLIENT_SECRET=miro.client_secret,
        VSM_MIRO__REDIRECT_URI=CALLBACK,
        VSM_MIRO__API_URL=miro_url,
        VSM_MIRO__AUTH_URL=f"{miro_url}/oauth/authorize",
        VSM_MIRO__POLL_INTERVAL_S="3600",  # only the first fetch: no poll in these tests
    )
    return broker_env


def test_eight_workers_in_two_processes_refreshing_one_token_at_once_refresh_it_once(
    api: TestClient, broker_env: dict[str, str], miro: MiroStandIn, postgres: TestDatabase
) -> None:
    who = make_workspace(postgres.engine, "refresh-race")
    connection = live_flow.connect(api, who, "miro", CALLBACK)
    with create_session_factory(postgres.engine)() as session:
        row = session.exec(select(Connection).where(Connection.id == connection["id"])).one()
        row.expires_at = datetime(2000, 1, 1, tzinfo=UTC)  # due for refresh
        session.add(row)
        session.commit()
    racers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.workers.refresh_probe",
                str(connection["id"]),
                str(RACERS // PROCESSES),
            ],
            cwd=REPO,
            env={**os.environ, **broker_env, "VSM_LOG_LEVEL": "WARNING"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for racer in racers:  # every process is built and its racers are waiting
            assert racer.stdout is not None
            assert racer.stdout.readline().strip() == "ready"
        for racer in racers:  # then all go at once
            assert racer.stdin is not None
            racer.stdin.write("go\n")
            racer.stdin.flush()
        outputs = [racer.communicate(timeout=DEADLINE_S)[0] for racer in racers]
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
    results = [
        json.loads(line)
        for output in outputs
        for line in output.split("results\n", 1)[1].splitlines()
    ]

    assert [r.get("error") for r in results] == [None] * RACERS  # no invalid_grant anywhere
    assert len({r["token"] for r in results}) == 1
    assert miro.refreshes() == 1
    shown = api.get(f"/v1/connections/{connection['id']}", headers=who.headers).json()
    assert shown["status"] == "active"


def test_a_live_import_through_429_and_5xx_storms_completes_within_the_providers_rate(
    api: TestClient, start_worker: StartWorker, miro: MiroStandIn, postgres: TestDatabase
) -> None:
    miro.credits, miro.window = 500, 1.0  # five Level 2 calls a second
    storm = [Fault(503)] * 3 + [None] * 2 + [Fault(429, retry_after=2)] * 2 + [None] * 2
    storm += [Fault(502), Fault(500), Fault(429, retry_after=1)]
    who = make_workspace(postgres.engine, "storm")
    start_worker()
    connection = live_flow.connect(api, who, "miro", CALLBACK)
    miro.inject(storm)  # the import's calls, not the connect's

    board_id = live_flow.connect_board(api, who, connection["id"], BOARD)
    job_id = live_flow.until(
        lambda: live_flow.sync_of(api, who, board_id)["last_import_job_id"], timeout=DEADLINE_S
    )
    job = wait_for_job(api, who, job_id, timeout=DEADLINE_S)

    assert job["status"] == "succeeded", job
    assert miro.injected_faults_left() == 0
    board = api.get(f"/v1/boards/{board_id}", headers=who.headers).json()
    assert board["latest_revision"] == 1
    answers = list(miro.answers)
    for limited in (a for a in answers if a.status == 429 and a.retry_after is not None):
        # The shared budget holds every call back for the Retry-After it was given; only calls
        # already on their way when the 429 went out (a fetch lists the board, its items,
        # connectors and tags at once: three others) may arrive inside that wait.
        early = [
            a
            for a in answers
            if limited.answered < a.arrived < limited.answered + int(limited.retry_after)
        ]
        assert len(early) <= 3, (limited, early)
    # Pacing by the X-RateLimit headers keeps the stand-in's own budget from refusing more
    # than the first burst, sent before any answer reported the budget.
    assert miro.rate_limited <= 5, miro.rate_limited
