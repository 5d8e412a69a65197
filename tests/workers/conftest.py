"""Real Celery workers (``vsm worker`` processes) on the test Redis and a PostgreSQL schema."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.settings import Settings
from tests.conftest import TestDatabase, clear_tables, postgres_database

REPO = Path(__file__).resolve().parents[2]
VISIBILITY_TIMEOUT_S = 3


@pytest.fixture(scope="module")
def postgres() -> Iterator[TestDatabase]:
    yield from postgres_database()


@pytest.fixture
def broker_env(postgres: TestDatabase, redis_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of this test's API and workers: a queue of its own on the test Redis,
    an upload folder of its own that the API writes and the workers read."""
    env = {
        "VSM_UPLOAD_DIR": str(tmp_path / "uploads"),
        "VSM_DATABASE_URL": postgres.url,
        "VSM_BROKER_URL": redis_url,
        "VSM_BROKER_QUEUE": f"vsm-test-{uuid.uuid4().hex[:10]}",
        "VSM_BROKER_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
        "VSM_LOG_FORMAT": "console",
        "VSM_IMPORT_MAX_RETRIES": "2",
    }
    yield env
    clear_tables(postgres.engine)
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(env["VSM_BROKER_QUEUE"])
    client.close()


@dataclass
class WorkerProcess:
    """A ``vsm worker`` process group; its log goes to ``log_path``."""

    process: subprocess.Popen[bytes]
    log_path: Path
    stopped: bool = field(default=False)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"vsm worker exited early:\n{self.log()[-3000:]}")
            time.sleep(0.1)
        raise AssertionError(f"vsm worker not ready after {timeout} s:\n{self.log()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole group (main process and pool children): no cleanup, no ack."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.stopped = True

    def stop(self) -> None:
        if self.stopped:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        except ProcessLookupError:
            pass
        self.stopped = True


StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def start_worker(broker_env: dict[str, str], tmp_path: Path) -> Iterator[StartWorker]:
    """``start_worker()`` launches ``vsm worker`` (prefork, one child) and waits until ready."""
    started: list[WorkerProcess] = []

    def start(
        concurrency: int = 1, *, beat: bool = False, env: dict[str, str] | None = None
    ) -> WorkerProcess:
        """``beat``: also run beat in the worker (the periodic sweeps), with its schedule file in
        the test's directory; ``env``: more environment for the worker."""
        log_path = tmp_path / f"worker-{len(started)}.log"
        argv = [sys.executable, "-m", "service.cli", "worker", f"--concurrency={concurrency}"]
        if beat:
            argv += ["--beat", f"--schedule={tmp_path / f'beat-{len(started)}'}"]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                argv,
                cwd=REPO,
                env={**os.environ, **broker_env, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = WorkerProcess(process, log_path)
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def broker_client(broker_env: dict[str, str], postgres: TestDatabase) -> Iterator[TestClient]:
    """The API configured for the broker: it only publishes, the workers run the jobs."""
    settings = Settings(
        database_url=broker_env["VSM_DATABASE_URL"],
        broker_url=broker_env["VSM_BROKER_URL"],
        broker_queue=broker_env["VSM_BROKER_QUEUE"],
        upload_dir=Path(broker_env["VSM_UPLOAD_DIR"]),
        log_format="console",
    )
    app = create_app(settings, engine=postgres.engine, migrate=False, configure_logs=False)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def api(
    broker_env: dict[str, str], postgres: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    """The API configured from the module's ``broker_env`` as ``vsm serve`` would read it
    (environment variables), rate limit off: the fault tests send bursts on purpose."""
    for name, value in broker_env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(log_format="console", rate_limit=None)
    app = create_app(settings, engine=postgres.engine, migrate=False, configure_logs=False)
    with TestClient(app) as client:
        yield client
