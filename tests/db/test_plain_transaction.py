"""PlainQuery statements in plain_transaction: one commit, rollback on error, typed values and
SQLAlchemy's exceptions, as a Session would give them (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from service.db.engine import PlainQuery, plain_transaction
from service.db.tables import Board, Workspace
from service.webhooks.tables import HookDeliverySeen

_seen = HookDeliverySeen.__table__  # type: ignore[attr-defined]
_REMEMBER = sa.insert(_seen).values(
    board_id=sa.bindparam("board"),
    delivery_id=sa.bindparam("delivery"),
    seen_at=sa.bindparam("at", type_=_seen.c.seen_at.type),
)
_READ = sa.select(_seen.c.delivery_id, _seen.c.seen_at).where(
    _seen.c.delivery_id == sa.bindparam("delivery")
)


@pytest.fixture
def board_id(engine: Engine) -> int:
    with Session(engine) as session:
        workspace = Workspace(name="plain")
        session.add(workspace)
        session.flush()
        assert workspace.id is not None
        board = Board(workspace_id=workspace.id, provider="miro", external_id="b", name="b")
        session.add(board)
        session.commit()
        assert board.id is not None
        return board.id


def seen(engine: Engine) -> list[tuple[str, datetime]]:
    with Session(engine) as session:
        rows = session.exec(select(HookDeliverySeen).order_by(HookDeliverySeen.delivery_id)).all()
        return [(row.delivery_id, utc(row.seen_at)) for row in rows]


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def test_statements_commit_together_with_their_types(engine: Engine, board_id: int) -> None:
    at = datetime(2026, 12, 2, 10, 30, 15, 123456, tzinfo=UTC)
    remember, read = PlainQuery(engine, _REMEMBER), PlainQuery(engine, _READ, typed=True)

    with plain_transaction(engine) as connection:
        remember.run_on(connection, board=board_id, delivery="a", at=at)
        remember.run_on(connection, board=board_id, delivery="b", at=at)
        row = read.first_on(connection, delivery="a")

    assert row is not None
    assert utc(row[1]) == at
    assert seen(engine) == [("a", at), ("b", at)]


def test_an_error_rolls_back_everything_and_comes_as_sqlalchemys(
    engine: Engine, board_id: int
) -> None:
    at = datetime(2026, 12, 2, tzinfo=UTC)
    remember = PlainQuery(engine, _REMEMBER)
    with plain_transaction(engine) as connection:
        remember.run_on(connection, board=board_id, delivery="kept", at=at)

    def duplicate() -> None:
        with plain_transaction(engine) as connection:
            remember.run_on(connection, board=board_id, delivery="new", at=at)
            remember.run_on(connection, board=board_id, delivery="kept", at=at)

    def failing() -> None:
        with plain_transaction(engine) as connection:
            remember.run_on(connection, board=board_id, delivery="other", at=at)
            raise LookupError

    with pytest.raises(IntegrityError):
        duplicate()
    with pytest.raises(LookupError):
        failing()

    assert [delivery for delivery, _ in seen(engine)] == ["kept"]
    with plain_transaction(engine) as connection:  # the pool's connection is usable again
        remember.run_on(connection, board=board_id, delivery="after", at=at)
    assert [delivery for delivery, _ in seen(engine)] == ["after", "kept"]
