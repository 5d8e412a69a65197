"""API fixtures: the app on each test database with its embedded worker, and two workspaces."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from service.api.app import create_app
from service.db.engine import create_session_factory
from service.settings import Settings
from service.usecases.keys import create_api_key
from tests.conftest import TestDatabase


@dataclass(frozen=True)
class Workspace:
    name: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_workspace(engine: Engine, name: str) -> Workspace:
    with create_session_factory(engine)() as session:
        new = create_api_key(session, name)
        session.commit()
    return Workspace(name, new.secret)


MakeClient = Callable[..., AbstractContextManager[TestClient]]


@pytest.fixture
def make_client(database: TestDatabase, engine: Engine, tmp_path: Path) -> MakeClient:
    """``with make_client(max_dump_bytes=...) as client:`` an app with changed settings; its
    upload folder is the test's own (``client.app.state.runtime.uploads``)."""

    @contextmanager
    def make(**overrides: Any) -> Iterator[TestClient]:
        overrides.setdefault("rate_limit", None)  # tests poll jobs fast; limits: test_fairness
        overrides.setdefault("upload_dir", tmp_path / "uploads")
        settings = Settings(database_url=database.url, log_format="console", **overrides)
        app = create_app(settings, engine=engine, migrate=False, configure_logs=False)
        with TestClient(app) as client:
            yield client

    return make


@pytest.fixture
def client(make_client: MakeClient) -> Iterator[TestClient]:
    with make_client() as client:
        yield client


@pytest.fixture(scope="module")
def shared_client(database: TestDatabase) -> Iterator[TestClient]:
    """One app for all of a module's tests on a backend (an app's start costs about 0.1 s),
    for modules whose tests keep the default settings and wait for the work they start. The
    tables are still emptied after each test: override ``client`` with ``shared_app_client``."""
    settings = Settings(database_url=database.url, log_format="console", rate_limit=None)
    app = create_app(settings, engine=database.engine, migrate=False, configure_logs=False)
    with TestClient(app) as client:
        yield client


def shared_app_client(shared_client: TestClient, engine: Engine) -> TestClient:
    """``client`` for a module that shares one app (``client = pytest.fixture(...)``)."""
    shared_client.cookies.clear()
    return shared_client


@pytest.fixture
def alice(engine: Engine) -> Workspace:
    return make_workspace(engine, "alice")


@pytest.fixture
def bob(engine: Engine) -> Workspace:
    return make_workspace(engine, "bob")


def wait_for_job(client: TestClient, who: Workspace, job_id: int, timeout: float = 30.0) -> Any:
    """Poll ``GET /v1/imports/{id}`` until the job is finished; returns its JSON."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/imports/{job_id}", headers=who.headers).json()
        if job["status"] not in ("queued", "running"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")
        time.sleep(0.02)


def import_dump(client: TestClient, who: Workspace, dump: dict[str, Any]) -> Any:
    """Post ``dump`` and wait for its job; returns the finished job's JSON."""
    response = client.post("/v1/imports", json=dump, headers=who.headers)
    assert response.status_code == 202, response.text
    return wait_for_job(client, who, response.json()["id"])
