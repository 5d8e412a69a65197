"""``service.metrics``: the figures an operator reads, each checked where it is recorded."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine

import service.providers
from connectors.http import RateSnapshot
from service.bootstrap import provider_hosts
from service.db.engine import create_session_factory
from service.db.tables import ImportJob, JobStatus, Workspace, utcnow
from service.dispatch import EmbeddedDispatcher
from service.metrics import Metrics
from service.providers import ProviderContext
from service.settings import Settings
from service.usecases.uploads import UploadFolder

ROOT = Path(__file__).resolve().parent.parent


def line(text: str, name: str) -> float | None:
    """The value of the sample ``name`` (with its labels as printed), None when absent."""
    for row in text.splitlines():
        if row.startswith(name + " "):
            return float(row.rsplit(" ", 1)[1])
    return None


def test_provider_calls_are_counted_by_provider_and_status() -> None:
    metrics = Metrics()
    answers = iter([200, 200, 429, 503])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers))

    async def call() -> None:
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(handler), event_hooks=metrics.http_hooks("miro")
        ) as http:
            for _ in range(4):
                await http.get("https://api.miro.com/v2/boards")

    asyncio.run(call())
    text = metrics.render().decode()

    assert line(text, 'vsm_provider_calls_total{provider="miro",status="2xx"}') == 2
    assert line(text, 'vsm_provider_calls_total{provider="miro",status="429"}') == 1
    assert line(text, 'vsm_provider_calls_total{provider="miro",status="5xx"}') == 1


class _Budget:
    def __init__(self, waits: list[float]) -> None:
        self.waits = waits
        self.observed: list[RateSnapshot] = []

    async def reserve(self, cost: int, now: float) -> float:
        return self.waits.pop(0)

    async def observe(self, snapshot: RateSnapshot, now: float) -> None:
        self.observed.append(snapshot)


def test_pacing_waits_are_counted_with_their_seconds_per_provider() -> None:
    metrics = Metrics()
    inner = _Budget([2.5, 0.0, 0.5])
    budget = metrics.metered("mural", inner)

    async def run() -> list[float]:
        waits = [await budget.reserve(1, 0.0) for _ in range(3)]
        await budget.observe(RateSnapshot(remaining=3, reset_at=None), 0.0)
        return waits

    assert asyncio.run(run()) == [2.5, 0.0, 0.5]  # the budget's answers, unchanged
    text = metrics.render().decode()

    assert line(text, 'vsm_provider_rate_limit_waits_total{provider="mural"}') == 2
    assert line(text, 'vsm_provider_rate_limit_wait_seconds_total{provider="mural"}') == 3.0
    assert inner.observed == [RateSnapshot(remaining=3, reset_at=None)]


def test_the_process_provider_client_counts_each_answer_for_the_provider_of_its_host(
    tmp_path: Path,
) -> None:
    metrics = Metrics()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}")

    def http() -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(429)))

    make = metrics.counting(http, provider_hosts(settings))

    async def call() -> None:
        async with make() as client:
            await client.get(f"{settings.miro.api_url}/v2/boards/x")
            await client.get(f"{settings.mural.api_url}/murals/x")
            await client.get("https://elsewhere.test/x")

    asyncio.run(call())
    text = metrics.render().decode()

    assert line(text, 'vsm_provider_calls_total{provider="miro",status="429"}') == 1
    assert line(text, 'vsm_provider_calls_total{provider="mural",status="429"}') == 1
    assert line(text, 'vsm_provider_calls_total{provider="other",status="429"}') == 1


def test_the_providers_budgets_count_their_waits_for_their_provider(tmp_path: Path) -> None:
    metrics = Metrics()
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'x.db'}",
        encryption_keys=[Fernet.generate_key().decode()],
        miro={"client_id": "app", "client_secret": "secret"},
    )
    uploads = UploadFolder(tmp_path / "uploads")
    ctx = ProviderContext(settings, None, EmbeddedDispatcher(), None, None, uploads, metrics)  # type: ignore[arg-type]
    budget = service.providers._budgets(ctx, "miro")("miro", 180)("connection:1")

    async def run() -> float:
        await budget.observe(RateSnapshot(remaining=0, reset_at=100.0, limit=10), 40.0)
        return await budget.reserve(1, 40.0)

    assert asyncio.run(run()) == 60.0
    text = metrics.render().decode()

    assert line(text, 'vsm_provider_rate_limit_waits_total{provider="miro"}') == 1
    assert line(text, 'vsm_provider_rate_limit_wait_seconds_total{provider="miro"}') == 60.0


@pytest.mark.parametrize("queued", [0, 2])
def test_the_queue_depth_and_the_oldest_queued_jobs_age_are_read_when_scraped(
    engine: Engine, queued: int
) -> None:
    now = utcnow()
    with create_session_factory(engine)() as session:
        workspace = Workspace(name="queue")
        session.add(workspace)
        session.flush()
        assert workspace.id is not None
        for age in range(queued):
            session.add(
                ImportJob(workspace_id=workspace.id, created_at=now - timedelta(seconds=90 - age))
            )
        session.add(ImportJob(workspace_id=workspace.id, status=JobStatus.FAILED))
        session.commit()
    metrics = Metrics()
    metrics.watch_database(engine, clock=lambda: now)

    text = metrics.render().decode()

    assert line(text, 'vsm_import_jobs{status="queued"}') == queued
    assert line(text, 'vsm_import_jobs{status="failed"}') == 1
    assert line(text, "vsm_import_queue_oldest_age_seconds") == (90.0 if queued else 0.0)


def test_a_timed_job_records_its_outcome_duration_and_the_process_peak_memory() -> None:
    metrics = Metrics()

    with metrics.time_job() as timer:
        timer.outcome = "succeeded"
    with pytest.raises(RuntimeError), metrics.time_job():
        raise RuntimeError("crashed")
    text = metrics.render().decode()

    assert line(text, 'vsm_import_job_duration_seconds_count{outcome="succeeded"}') == 1
    assert line(text, 'vsm_import_job_duration_seconds_count{outcome="error"}') == 1
    peak = line(text, "vsm_job_process_peak_memory_bytes")
    assert peak is not None
    assert peak > 10 * 2**20


def test_figures_of_forked_worker_processes_are_summed_for_the_worker_port(
    tmp_path: Path,
) -> None:
    # PROMETHEUS_MULTIPROC_DIR must be set before prometheus_client is imported: a fresh
    # process, as `vsm worker` is; its Celery children are forks, as here.
    script = textwrap.dedent(
        """
        import os, sys
        from pathlib import Path
        from prometheus_client import generate_latest
        from service.metrics import Metrics, worker_registry

        metrics = Metrics()
        for _ in range(2):
            pid = os.fork()
            if pid == 0:
                with metrics.time_job() as timer:
                    timer.outcome = "succeeded"
                metrics.provider_calls.labels("mural", "429").inc()
                os._exit(0)
            os.waitpid(pid, 0)
        sys.stdout.write(generate_latest(worker_registry(Path(sys.argv[1]))).decode())
        """
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    text = done.stdout
    assert line(text, 'vsm_import_job_duration_seconds_count{outcome="succeeded"}') == 2
    assert line(text, 'vsm_provider_calls_total{provider="mural",status="429"}') == 2
    peak = line(text, "vsm_job_process_peak_memory_bytes")
    assert peak is not None
    assert peak > 0
