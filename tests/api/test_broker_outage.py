"""POST /v1/imports while the broker is down: the job is stored and answered 202, and the sweep
hands it over once the broker takes tasks again; a database outage stores nothing and says 503."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from service.db.engine import create_session_factory
from service.db.tables import ImportJob, ImportUpload, utcnow
from service.usecases import imports as imports_usecase
from service.usecases.imports import IMPORT_TASK, QUEUED_REPUBLISH_AFTER, republish_stale_jobs
from service.usecases.uploads import UploadFolder
from testkit.service_dumps import stream_dump
from tests.api.conftest import Workspace


class Published:
    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def publish(self, name: str, *args: Any, delay_s: float = 0.0) -> None:
        if self.fail:
            raise ConnectionRefusedError(111, "Connection refused")
        self.calls.append((name, args))


def test_an_import_posted_while_the_broker_is_down_is_stored_and_accepted(
    client: TestClient, alice: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = Published(fail=True)
    monkeypatch.setattr(client.app.state.runtime.dispatcher, "publish", broker.publish)  # type: ignore[attr-defined]

    response = client.post("/v1/imports", json=stream_dump(2), headers=alice.headers)

    assert response.status_code == 202, response.text
    job = client.get(f"/v1/imports/{response.json()['id']}", headers=alice.headers).json()
    assert job["status"] == "queued"


def test_the_sweep_hands_over_jobs_queued_longer_than_the_bound_and_only_those(
    engine: Engine, uploads: UploadFolder
) -> None:
    sessions = create_session_factory(engine)
    with sessions() as session:
        from service.db.tables import Workspace as WorkspaceRow

        workspace = WorkspaceRow(name="sweep")
        session.add(workspace)
        session.commit()
        assert workspace.id is not None
        ids = []
        for n in (2, 3):
            job, _ = imports_usecase.submit_import(
                session,
                uploads,
                workspace.id,
                json.dumps(stream_dump(n, board_id=f"b{n}")).encode(),
                imports_usecase.parse_dump(stream_dump(n, board_id=f"b{n}")),
            )
            session.commit()
            ids.append(job.id)
        old = session.get(ImportJob, ids[0])
        assert old is not None
        old.created_at = utcnow() - QUEUED_REPUBLISH_AFTER - timedelta(seconds=1)
        session.add(old)
        session.commit()
    broker = Published()

    with sessions() as session:
        handed = republish_stale_jobs(session, broker, now=utcnow())

    assert handed == [ids[0]]
    assert broker.calls == [(IMPORT_TASK, (ids[0],))]


def test_an_import_that_cannot_be_stored_answers_503_with_retry_after_and_stores_nothing(
    client: TestClient, alice: Workspace, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def database_down(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("INSERT", {}, ConnectionError("server closed the connection"))

    monkeypatch.setattr("service.api.routes.imports.submit_upload", database_down)

    response = client.post("/v1/imports", json=stream_dump(2), headers=alice.headers)

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    with create_session_factory(engine)() as session:
        assert session.exec(select(ImportJob)).all() == []
        assert session.exec(select(ImportUpload)).all() == []
    folder = client.app.state.runtime.uploads.path  # type: ignore[attr-defined]
    assert list(folder.iterdir()) == []  # the written file is deleted


def test_the_sweep_hands_over_jobs_left_running_past_the_visibility_timeout_and_only_those(
    engine: Engine, uploads: UploadFolder
) -> None:
    """A job whose last try could not record its failure (database down longer than the
    retries) stays ``running`` with no message left to run it: the sweep hands it over."""
    sessions = create_session_factory(engine)
    timeout = timedelta(hours=1)
    with sessions() as session:
        from service.db.tables import Workspace as WorkspaceRow

        workspace = WorkspaceRow(name="abandoned")
        session.add(workspace)
        session.commit()
        assert workspace.id is not None
        ids = []
        for n, started in ((2, timeout + timedelta(seconds=1)), (3, timeout / 2)):
            dump = stream_dump(n, board_id=f"b{n}")
            job, _ = imports_usecase.submit_import(
                session,
                uploads,
                workspace.id,
                json.dumps(dump).encode(),
                imports_usecase.parse_dump(dump),
            )
            job.status = "running"
            job.started_at = utcnow() - started
            session.add(job)
            session.commit()
            ids.append(job.id)
    broker = Published()

    with sessions() as session:
        handed = republish_stale_jobs(
            session, broker, now=utcnow(), older_than=timedelta(days=1), running_older_than=timeout
        )

    assert handed == [ids[0]]
    assert broker.calls == [(IMPORT_TASK, (ids[0],))]
