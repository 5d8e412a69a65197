"""Every timestamp a client reads is UTC with ``Z``: each GET route of the API is walked with
real rows behind it (on SQLite, which keeps no zone, and on PostgreSQL), and ``vsm keys list``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from service.cli import main
from service.db.engine import create_session_factory
from service.db.tables import BoardSync, Connection, UTCDateTime
from service.db.tables import Workspace as WorkspaceRow
from testkit.service_dumps import stream_dump
from tests.api.conftest import MakeClient, Workspace, import_dump
from tests.conftest import TestDatabase

# Anything that starts like a date and a time: it must be a UTC instant written with ``Z``.
_LOOKS_LIKE_A_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_UTC_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
# A moment two hours away from UTC in either direction would show a wrong hour if any path
# read it in another zone; the tests run with the process in UTC, so the rows say so.
_STORED = datetime(2026, 12, 2, 7, 30, tzinfo=UTC)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _moments(body: Any) -> list[str]:
    return [text for text in _strings(body) if _LOOKS_LIKE_A_MOMENT.match(text)]


def _connect(engine: Engine, workspace: str, board_id: int) -> int:
    """A connection and the board's sync state, written as the OAuth callback would."""
    with create_session_factory(engine)() as session:
        row = session.exec(select(WorkspaceRow).where(WorkspaceRow.name == workspace)).one()
        connection = Connection(
            workspace_id=row.id or 0,
            provider="miro",
            account_id="team",
            user_id="user",
            access_token=b"sealed",
            expires_at=_STORED + timedelta(hours=1),
        )
        session.add(connection)
        session.flush()
        session.add(
            BoardSync(
                board_id=board_id,
                connection_id=connection.id,
                status="ok",
                last_checked_at=_STORED,
                next_check_at=_STORED + timedelta(minutes=5),
            )
        )
        session.commit()
        return connection.id or 0


@pytest.fixture
def client(make_client: MakeClient) -> Iterator[TestClient]:
    key = Fernet.generate_key().decode()
    with make_client(encryption_keys=[key], webhooks={"allow_private_targets": True}) as client:
        yield client


def test_every_timestamp_of_every_read_route_is_utc_with_z(
    client: TestClient, alice: Workspace, engine: Engine
) -> None:
    job = import_dump(client, alice, stream_dump(3))
    board_id = job["board_id"]
    stream_id = client.get(f"/v1/boards/{board_id}/streams", headers=alice.headers).json()["items"][
        0
    ]["id"]
    hook = client.post(f"/v1/boards/{board_id}/webhook-secret", headers=alice.headers)
    assert hook.status_code == 201, hook.text
    subscription = client.post(
        "/v1/subscriptions",
        json={"url": "http://127.0.0.1:9/hook", "events": ["import.failed"]},
        headers=alice.headers,
    )
    assert subscription.status_code == 201, subscription.text
    connection_id = _connect(engine, alice.name, board_id)
    ids = {
        "board_id": board_id,
        "number": 1,
        "job_id": job["id"],
        "stream_id": stream_id,
        "subscription_id": subscription.json()["id"],
        "connection_id": connection_id,
        "provider": "miro",
    }

    seen: dict[str, list[str]] = {}
    for path, operations in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        if "get" not in operations or "{token}" in path:
            continue
        response = client.get(path.format(**ids), headers=alice.headers)
        if "json" not in response.headers.get("content-type", ""):
            continue
        seen[path] = _moments(response.json())

    wrong = {path: [t for t in found if not _UTC_Z.match(t)] for path, found in seen.items()}
    assert {path: found for path, found in wrong.items() if found} == {}
    shown = {path for path, found in seen.items() if found}
    # The walk reached the routes that carry dates (a renamed route must not silently drop out).
    assert shown >= {
        "/v1/boards",
        "/v1/boards/{board_id}",
        "/v1/boards/{board_id}/revisions",
        "/v1/imports",
        "/v1/imports/{job_id}",
        "/v1/connections",
        "/v1/boards/{board_id}/sync",
        "/v1/boards/{board_id}/webhook",
        "/v1/subscriptions",
    }
    assert _UTC_Z.match(
        client.get(f"/v1/boards/{board_id}/sync", headers=alice.headers).json()["last_checked_at"]
    )
    assert client.get("/v1/connections", headers=alice.headers).json()[0]["expires_at"] == (
        "2026-12-02T08:30:00Z"
    )


def test_the_key_listing_shows_its_dates_in_utc_with_z(
    database: TestDatabase,
    alice: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("VSM_DATABASE_URL", database.url)
    monkeypatch.delenv("VSM_BROKER_URL", raising=False)

    assert main(["keys", "list"]) == 0
    table = capsys.readouterr().out
    assert main(["keys", "list", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    listed = _moments(table.split())
    assert listed
    assert all(_UTC_Z.match(moment) for moment in listed)
    assert lines
    assert all(_UTC_Z.match(line["created_at"]) for line in lines)


def test_a_stored_timestamp_comes_back_aware_utc_and_a_naive_one_is_refused(
    engine: Engine,
) -> None:
    column = UTCDateTime()
    dialect = engine.dialect

    assert column.process_result_value(datetime(2026, 12, 2, 7, 30), dialect) == _STORED
    with pytest.raises(ValueError, match="naive"):
        column.process_bind_param(datetime(2026, 12, 2, 7, 30), dialect)
