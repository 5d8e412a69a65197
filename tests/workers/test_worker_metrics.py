"""``vsm worker`` with ``VSM_WORKER_METRICS_PORT``: the pool children's figures, summed."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from testkit.service_dumps import stream_dump
from tests.api.conftest import make_workspace, wait_for_job
from tests.conftest import TestDatabase
from tests.workers.conftest import StartWorker

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_workers_port_shows_the_jobs_its_pool_processes_ran(
    broker_client: TestClient, start_worker: StartWorker, postgres: TestDatabase, tmp_path: Path
) -> None:
    port = free_port()
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_1.db").write_bytes(b"")  # a figure left by an earlier run: dropped
    start_worker(
        concurrency=2,
        env={"PROMETHEUS_MULTIPROC_DIR": str(folder), "VSM_WORKER_METRICS_PORT": str(port)},
    )
    who = make_workspace(postgres.engine, "worker-metrics")
    for steps in (3, 4):
        response = broker_client.post("/v1/imports", json=stream_dump(steps), headers=who.headers)
        assert wait_for_job(broker_client, who, response.json()["id"], timeout=60)["status"] in (
            "succeeded",
            "unchanged",
        )

    wanted = 'vsm_import_job_duration_seconds_count{outcome="succeeded"} 2.0'
    deadline = time.monotonic() + 30  # the figure is written just after the job's commit
    text = ""
    while wanted not in text and time.monotonic() < deadline:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        time.sleep(0.1)

    assert wanted in text
    assert "vsm_job_process_peak_memory_bytes" in text
