"""Database fixtures: migrated SQLite and PostgreSQL databases, clean per test, and the rule for
servers that are absent (skip locally, fail in CI).

``database`` is parametrized over both backends; every test using ``engine`` or ``db_session``
runs once on SQLite and once on PostgreSQL. The schema is built by running the migrations once
per backend and session; PostgreSQL gets a schema of its own per session, dropped at the end.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
import stamina
import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

import service.logs
from service.db.engine import create_db_engine
from service.db.migrate import upgrade_database
from service.usecases.uploads import UploadFolder

POSTGRES_URL = os.environ.get(
    "VSM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("VSM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def no_retry_waits() -> Iterator[None]:
    """Retry loops (stamina) keep their tries but do not wait: a test never sleeps on a backoff.
    What a loop would have waited is asserted on its log line (``seconds``)."""
    with stamina.set_testing(True, attempts=1_000, cap=True):
        yield


@pytest.fixture(scope="session", autouse=True)
def upload_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The upload folder of every app, runtime and worker process the tests start
    (``VSM_UPLOAD_DIR``, inherited by subprocesses): never the repository's ``var/``."""
    folder = tmp_path_factory.mktemp("uploads")
    previous = os.environ.get("VSM_UPLOAD_DIR")
    os.environ["VSM_UPLOAD_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("VSM_UPLOAD_DIR", None)
    else:
        os.environ["VSM_UPLOAD_DIR"] = previous


@pytest.fixture
def uploads(tmp_path: Path) -> UploadFolder:
    """An upload folder of the test's own, for use cases called directly."""
    return UploadFolder(tmp_path / "uploads")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Every test starts with the logging it found: an app or a CLI command a test builds
    configures the process's logging (level, handler, structlog), and a test after it on the
    same process would otherwise get its lines, e.g. httpx's INFO lines on a captured stderr."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quieted = {name: logging.getLogger(name).level for name in service.logs.QUIETED_LOGGERS}
    access = service.logs._access
    yield
    root.handlers[:], root.level = handlers, level
    service.logs._access = access
    for name, previous in quieted.items():
        logging.getLogger(name).setLevel(previous)
    structlog.reset_defaults()


def require_service(name: str, reason: str) -> None:
    """A server the test needs is unreachable: skip locally, fail in CI (``CI=true``)."""
    message = f"{name} unreachable ({reason})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI must provide it", pytrace=False)
    pytest.skip(f"{message}; set the VSM_TEST_* URL or start it to run this test")


def with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


@dataclass(frozen=True)
class TestDatabase:
    __test__ = False  # a fixture value, not a test class

    backend: str
    url: str  # what a subprocess needs in VSM_DATABASE_URL to see the same tables
    engine: Engine


def postgres_database() -> Iterator[TestDatabase]:
    """A migrated PostgreSQL schema of its own (generator: dropped when resumed)."""
    admin = create_db_engine(POSTGRES_URL, pool_size=1)
    try:
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        require_service("PostgreSQL", str(exc.orig).splitlines()[0] if exc.orig else str(exc))
    schema = f"vsm_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = with_search_path(POSTGRES_URL, schema)
    engine = create_db_engine(url)
    try:
        upgrade_database(engine)
        yield TestDatabase("postgresql", url, engine)
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestDatabase]:
    """A migrated database per backend, shared by the session's tests."""
    if request.param == "postgresql":
        yield from postgres_database()
        return
    path = tmp_path_factory.mktemp("db") / "valuestream.db"
    url = f"sqlite:///{path}"
    engine = create_db_engine(url)
    upgrade_database(engine)
    try:
        yield TestDatabase("sqlite", url, engine)
    finally:
        engine.dispose()


# Ids start at 1 again in every test, as on a fresh database.
_RESTART_SEQUENCES = sa.text(
    "SELECT setval(c.oid, 1, false) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'S' AND n.nspname = current_schema()"
)


def clear_tables(engine: Engine) -> None:
    """Empty every table, children first. DELETE, not TRUNCATE: a test leaves a few rows, and
    PostgreSQL's TRUNCATE of 25 tables took 0.4 to 0.8 s per test on a loaded 2-core machine
    against 0.02 s for these DELETEs and the sequence reset."""
    tables = [t.name for t in SQLModel.metadata.sorted_tables]
    with engine.begin() as connection:
        for name in reversed(tables):
            connection.execute(sa.text(f'DELETE FROM "{name}"'))
        if engine.dialect.name == "postgresql":
            connection.execute(_RESTART_SEQUENCES)


@pytest.fixture
def engine(database: TestDatabase) -> Iterator[Engine]:
    """The backend's engine; every table is emptied after the test (for tests whose code
    commits from several threads or processes, where one rolled-back transaction cannot work)."""
    yield database.engine
    clear_tables(database.engine)


@pytest.fixture
def db_session(database: TestDatabase) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test; the code under test
    may commit (its commits become savepoints)."""
    connection = database.engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis (``VSM_TEST_REDIS_URL``), checked once per session."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", str(exc))
    finally:
        client.close()
    return REDIS_URL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RedisServer:
    """A private ``redis-server`` (no persistence) that a test may kill and start again on the
    same port, as a broker outage; the shared test Redis is never touched."""

    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(
                            f"redis-server did not start:\n{self.log_path.read_text()[-2000:]}"
                        ) from None
                    time.sleep(0.05)
        finally:
            client.close()

    def pause(self) -> None:
        """SIGSTOP: connections are still accepted (by the kernel) but nothing is answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: every connection drops, every queued message is gone (no persistence)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A started private Redis on a free port, stopped after the test."""
    if shutil.which("redis-server") is None:
        require_service("redis-server", "the redis-server executable is not on PATH")
    server = RedisServer(free_port(), tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.kill()
