"""``vsm beat`` on the real Redis broker: it publishes the live boards' polls for the workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.workers.conftest import REPO

POLL_TASK, MURAL_POLL_TASK = "boards.poll", "murals.poll"

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]


def queued_tasks(client: redis.Redis, queue: str) -> set[str]:
    """The task names of the messages waiting in ``queue`` (kombu's Redis list)."""
    messages = client.lrange(queue, 0, -1)
    return {json.loads(raw)["headers"]["task"] for raw in messages}


def test_vsm_beat_publishes_the_miro_and_mural_polls_to_the_queue(
    broker_env: dict[str, str], tmp_path: Path
) -> None:
    client = redis.Redis.from_url(broker_env["VSM_BROKER_URL"])
    log_path = tmp_path / "beat.log"
    with log_path.open("wb") as log:
        beat = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "beat", f"--schedule={tmp_path / 'schedule'}"],
            cwd=REPO,
            env={
                **os.environ,
                **broker_env,
                "VSM_MIRO__POLL_INTERVAL_S": "1",
                "VSM_MURAL__POLL_INTERVAL_S": "1",
            },
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        seen: set[str] = set()
        while time.monotonic() < deadline and not {POLL_TASK, MURAL_POLL_TASK} <= seen:
            assert beat.poll() is None, log_path.read_text(errors="replace")[-3000:]
            seen = queued_tasks(client, broker_env["VSM_BROKER_QUEUE"])
            time.sleep(0.2)
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(20)
        client.close()

    assert {POLL_TASK, MURAL_POLL_TASK} <= seen, log_path.read_text(errors="replace")[-3000:]
