"""``vsm serve --demo`` starts with a portfolio, a trend and a recurring problem."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import select

from service.cli.server import _run_demo
from service.db.engine import create_session_factory
from service.db.tables import Board, Workspace
from service.domain.portfolio import board_rows
from service.domain.recurring import group_problems
from service.settings import Settings
from service.usecases.portfolio import board_trends, load_portfolio, load_problems
from tests.conftest import TestDatabase


def test_the_demo_has_a_labelled_portfolio_a_trend_and_a_recurring_problem(
    database: TestDatabase, engine: Engine
) -> None:
    lines = _run_demo(Settings(database_url=database.url), engine, "http://127.0.0.1:8000")

    with create_session_factory(engine)() as session:
        workspace = session.exec(select(Workspace).where(Workspace.name == "demo")).one()
        assert workspace.id is not None
        boards = load_portfolio(session, workspace.id, {})
        allied = load_portfolio(session, workspace.id, {"client": "allied-medien"})
        abo = session.exec(select(Board).where(Board.external_id == "uXjVN4pQ2kE=")).one()
        trends = board_trends(session, abo)
        groups = group_problems(load_problems(session, workspace.id, {}))

    rows = [row for board, rules in boards for row in board_rows(board, rules)]
    assert sorted((r.board_name, r.name, r.revision) for r in rows) == [
        ("Allied Medien AG – VSM Digital-Abo", "Ist-Zustand", 2),  # noqa: RUF001
        ("App release value stream – workshop", "Current state", 1),  # noqa: RUF001
    ]
    assert [board.board_id for board, _ in allied] == [abo.id]
    assert [len(t.points) for t in trends] == [2, 2]
    assert groups[0].title == "Bestätigungs-E-Mail landet immer noch im Spam-Ordner"
    assert any("/v1/portfolio/problems" in line for line in lines)
