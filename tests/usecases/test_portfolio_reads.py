"""Portfolio reads from stored revisions: latest revision, labels, workspaces, odd documents."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from service.db.tables import Board, BoardLabel, Revision, RevisionStream, Stream, Workspace
from service.usecases.portfolio import board_trends, load_portfolio, load_problems


def store(
    session: Session, workspace: int, name: str, revisions: list[list[dict[str, Any]]]
) -> int:
    """A board with ``revisions`` (each a list of contract stream documents)."""
    board = Board(
        workspace_id=workspace, provider="miro", external_id=name, name=name,
        latest_revision_number=len(revisions),
    )  # fmt: skip
    session.add(board)
    session.flush()
    assert board.id is not None
    streams: dict[str, int] = {}
    for number, documents in enumerate(revisions, 1):
        revision = Revision(
            board_id=board.id, number=number, content_hash="0" * 64, rules_hash="0" * 64,
            trigger="test",
        )  # fmt: skip
        session.add(revision)
        session.flush()
        assert revision.id is not None
        for position, document in enumerate(documents):
            if document["id"] not in streams:
                stream = Stream(board_id=board.id, key=document["id"])
                session.add(stream)
                session.flush()
                assert stream.id is not None
                streams[document["id"]] = stream.id
            session.add(
                RevisionStream(
                    revision_id=revision.id, stream_id=streams[document["id"]],
                    revision_number=number, position=position, name=document["name"],
                    state=document["state"], etag="e", data=document,
                    metrics=document["metrics"],
                )
            )  # fmt: skip
    session.flush()
    return board.id


def document(key: str, lead: Any, problems: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "id": key,
        "name": "Ist",
        "state": "current",
        "frame_id": f"frame-{key}",
        "steps": [{"id": "st-1", "title": "Freigabe"}],
        "problems": [
            {"id": f"p{i}", "text": text, "step_id": "st-1", "weight": 2}
            for i, text in enumerate(problems)
        ],
        "metrics": {"total_lead_time_min": lead, "total_process_time_min": 10.0, "handoffs": 1},
    }


def workspace(session: Session, name: str) -> int:
    row = Workspace(name=name)
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def test_only_the_latest_revision_of_the_workspaces_boards_counts(db_session: Session) -> None:
    mine, theirs = workspace(db_session, "mine"), workspace(db_session, "theirs")
    board = store(db_session, mine, "b1", [[document("s1", 900.0)], [document("s1", 300.0)]])
    store(db_session, theirs, "b2", [[document("s9", 10.0)]])

    loaded = load_portfolio(db_session, mine, {})

    assert [(b.board_id, b.revision) for b, _ in loaded] == [(board, 2)]
    assert [s.figures.total_lead_time_min for s in loaded[0][0].streams] == [300.0]


def test_a_malformed_stored_figure_is_unknown_and_the_others_are_kept(db_session: Session) -> None:
    mine = workspace(db_session, "mine")
    store(db_session, mine, "b1", [[document("s1", "three days")]])

    stream = load_portfolio(db_session, mine, {})[0][0].streams[0]

    assert stream.figures.total_lead_time_min is None
    assert stream.figures.total_process_time_min == 10.0
    assert stream.figures.handoffs == 1


def test_labels_filter_boards_and_problems(db_session: Session) -> None:
    mine = workspace(db_session, "mine")
    acme = store(db_session, mine, "b1", [[document("s1", 60.0, ("Freigabe fehlt",))]])
    store(db_session, mine, "b2", [[document("s2", 60.0, ("Freigabe fehlt",))]])
    db_session.add(BoardLabel(board_id=acme, key="client", value="acme"))
    db_session.flush()

    boards = load_portfolio(db_session, mine, {"client": "acme"})
    problems = load_problems(db_session, mine, {"client": "acme"})

    assert [b.board_id for b, _ in boards] == [acme]
    assert boards[0][0].labels == {"client": "acme"}
    assert [(p.board_id, p.text, p.step_title, p.votes) for p in problems] == [
        (acme, "Freigabe fehlt", "Freigabe", 2)
    ]


def test_a_boards_trend_follows_its_stream_through_the_stored_revisions(
    db_session: Session,
) -> None:
    mine = workspace(db_session, "mine")
    board_id = store(db_session, mine, "b1", [[document("s1", 900.0)], [document("s1", 600.0)]])
    board = db_session.get(Board, board_id)
    assert board is not None

    trends = board_trends(db_session, board)
    first_only = board_trends(db_session, board, upto=1)

    assert [
        (p.revision, p.matched_by, p.figures.total_lead_time_min) for p in trends[0].points
    ] == [
        (1, "first", 900.0),
        (2, "frame", 600.0),
    ]
    assert [len(t.points) for t in first_only] == [1]
