"""An API app over the test database with one board whose revision holds a hand-built contract
document, and a second workspace to prove isolation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service.api.app import create_app
from service.db.tables import Board, Revision, RevisionContent, RevisionStream, Stream
from service.settings import Settings
from service.usecases.keys import create_api_key
from tests.domain.render.contracts import abo_stream, document

ENCRYPTION_KEY = "render-tests-key-0123456789abcdef"
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>'


class IdleQueue:
    """No jobs run in these tests: the data is written straight into the tables."""

    def register(self, job: object) -> None:
        return None

    def publish(self, name: str, *args: object, delay_s: float = 0.0) -> None:
        raise AssertionError(f"no job should be published (got {name}{args})")

    def ping(self) -> bool:
        return True

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


@dataclass(frozen=True)
class Seeded:
    key: str
    other_key: str
    board_id: int
    stream_id: int
    other_board_id: int
    other_stream_id: int
    workspace_id: int


def seed_board(
    session: Session, workspace_id: int, doc: dict[str, Any], external_id: str
) -> tuple[int, int]:
    board = Board(
        workspace_id=workspace_id,
        provider="miro",
        external_id=external_id,
        name=doc["board"]["name"],
        latest_revision_number=1,
    )
    session.add(board)
    session.flush()
    assert board.id is not None
    revision = Revision(
        board_id=board.id, number=1, content_hash="c" * 64, rules_hash="r" * 64, trigger="api"
    )
    session.add(revision)
    session.flush()
    assert revision.id is not None
    session.add(RevisionContent(revision_id=revision.id, board={}, ruleset={}, result=doc))
    stream = doc["streams"][0]
    row = Stream(board_id=board.id, key=stream["id"])
    session.add(row)
    session.flush()
    assert row.id is not None
    session.add(
        RevisionStream(
            revision_id=revision.id,
            stream_id=row.id,
            revision_number=1,
            position=0,
            name=stream["name"],
            state=stream["state"],
            step_count=len(stream["steps"]),
            etag="e" * 64,
            data=stream,
        )
    )
    session.flush()
    return board.id, row.id


def hostile_document() -> dict[str, Any]:
    stream = abo_stream()
    stream["steps"][0]["title"] = HOSTILE
    stream["problems"][0]["text"] = HOSTILE
    return document([stream])


@pytest.fixture
def seeded(engine: Engine) -> Seeded:
    with Session(engine) as session:
        mine = create_api_key(session, "acme")
        theirs = create_api_key(session, "globex")
        assert mine.workspace.id is not None
        assert theirs.workspace.id is not None
        board_id, stream_id = seed_board(session, mine.workspace.id, hostile_document(), "b1")
        other_board, other_stream = seed_board(
            session, theirs.workspace.id, document([abo_stream()]), "b2"
        )
        session.commit()
        return Seeded(
            key=mine.secret,
            other_key=theirs.secret,
            board_id=board_id,
            stream_id=stream_id,
            other_board_id=other_board,
            other_stream_id=other_stream,
            workspace_id=mine.workspace.id,
        )


def make_client(engine: Engine, **settings: Any) -> TestClient:
    values = {
        "encryption_keys": [ENCRYPTION_KEY],
        "public_base_url": "https://vsm.example.test",
        **settings,
    }
    app = create_app(
        Settings(**values),
        engine=engine,
        dispatcher=IdleQueue(),
        migrate=False,
        configure_logs=False,
    )
    return TestClient(app)


@pytest.fixture
def client(engine: Engine, seeded: Seeded) -> Iterator[TestClient]:
    with make_client(engine) as test_client:
        yield test_client


@pytest.fixture
def auth(seeded: Seeded) -> dict[str, str]:
    return {"Authorization": f"Bearer {seeded.key}"}
