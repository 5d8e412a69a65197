"""A live board's fetch runs inside its import job: retried on the same job, failed when refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from connectors.errors import ForbiddenError, TransientError
from connectors.loop import ProviderHttp
from service.db.engine import SessionFactory, create_session_factory
from service.db.tables import (
    Board,
    BoardSource,
    BoardSync,
    BoardSyncStatus,
    Connection,
    ImportJob,
    Workspace,
)
from service.usecases.live_sync import fetch_and_import
from service.usecases.uploads import UploadFolder, job_upload_name
from testkit.service_dumps import stream_dump

EXTERNAL_ID = "uXjVsvc001="


@dataclass
class Recorder:
    """The dispatcher: records what was published instead of running it."""

    published: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def publish(self, name: str, *args: Any, delay_s: float = 0.0) -> None:
        self.published.append((name, args))


@dataclass
class ScriptedLive:
    """A ``LiveSync`` whose fetches answer, in turn, with ``outcomes`` (a dump or an error)."""

    session_factory: SessionFactory
    outcomes: list[Any]
    uploads: UploadFolder
    dispatcher: Recorder = field(default_factory=Recorder)
    provider: str = "miro"
    label: str = "Miro"

    http_factory: ProviderHttp = field(default_factory=lambda: ProviderHttp(httpx.AsyncClient))

    async def fetch_dump(
        self, http: httpx.AsyncClient, connection_id: int, external_id: str
    ) -> dict[str, Any]:
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return dict(outcome)

    async def change_marker(
        self, http: httpx.AsyncClient, connection_id: int, external_id: str
    ) -> str | None:
        return None

    def marker_of(self, dump: dict[str, Any]) -> str | None:
        return None

    def next_check(self, now: datetime) -> datetime:
        return now


@pytest.fixture
def live_board(engine: Engine) -> tuple[SessionFactory, int]:
    sessions = create_session_factory(engine)
    with sessions() as session:
        workspace = Workspace(name="acme")
        session.add(workspace)
        session.flush()
        assert workspace.id is not None
        connection = Connection(workspace_id=workspace.id, provider="miro", access_token=b"x")
        session.add(connection)
        session.flush()
        board = Board(
            workspace_id=workspace.id,
            provider="miro",
            external_id=EXTERNAL_ID,
            name="Service board",
            source=BoardSource.MIRO,
            connection_id=connection.id,
        )
        session.add(board)
        session.flush()
        assert board.id is not None
        session.add(BoardSync(board_id=board.id, connection_id=connection.id))
        session.commit()
        board_id = board.id
    return sessions, board_id


def jobs(sessions: SessionFactory) -> list[ImportJob]:
    with sessions() as session:
        return list(session.exec(select(ImportJob)).all())


def test_a_fetch_retried_after_a_blip_goes_on_with_the_same_job(
    live_board: tuple[SessionFactory, int], uploads: UploadFolder
) -> None:
    sessions, board_id = live_board
    live = ScriptedLive(sessions, [TransientError("502 from Miro"), stream_dump(2)], uploads)

    with pytest.raises(TransientError):
        fetch_and_import(live, board_id, trigger="poll")
    (fetching,) = jobs(sessions)
    job_id = fetch_and_import(live, board_id, trigger="poll")

    (job,) = jobs(sessions)
    assert (fetching.status, fetching.phase) == ("running", "fetching")
    assert job_id == job.id == fetching.id
    assert job.status == "queued"
    assert live.dispatcher.published == [("imports.run", (job_id,))]
    with sessions() as session:
        name = job_upload_name(session, job_id)
        assert name is not None
        assert live.uploads.read(name) is not None
        sync = session.get(BoardSync, board_id)
        assert sync is not None
        assert sync.last_import_job_id == job_id


def test_a_refused_fetch_ends_its_job_failed_with_the_reason(
    live_board: tuple[SessionFactory, int], uploads: UploadFolder
) -> None:
    sessions, board_id = live_board
    live = ScriptedLive(sessions, [ForbiddenError("no access to this board", status=403)], uploads)

    assert fetch_and_import(live, board_id, trigger="poll") is None

    (job,) = jobs(sessions)
    assert job.status == "failed"
    assert job.error is not None
    assert "Miro refused the fetch: no access to this board" in job.error
    assert live.dispatcher.published == []
    with sessions() as session:
        sync = session.get(BoardSync, board_id)
        assert sync is not None
        assert (sync.status, sync.last_import_job_id) == (BoardSyncStatus.FORBIDDEN, None)
