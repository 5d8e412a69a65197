"""``/v1/boards``: boards, their revisions, streams, report and classification rules."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Response
from sqlmodel import Session, col, select

from service.api.deps import (
    DispatcherDep,
    PageDep,
    RulesBody,
    SessionDep,
    WorkspaceDep,
    keyset_page,
)
from service.api.etags import NOT_MODIFIED, IfNoneMatch, json_bytes_with_etag, json_with_etag
from service.api.problems import ProblemError, responses
from service.api.routes.imports import job_public
from service.api.schemas import (
    BoardPublic,
    ImportJobPublic,
    Page,
    RankedProblem,
    ReportPublic,
    RevisionDetailPublic,
    RevisionPublic,
    RulesPublic,
    StreamMetricsPublic,
    StreamPublic,
    stream_json,
    stream_page,
)
from service.db.engine import begin_write
from service.db.tables import Board, Revision, RevisionContent, RevisionStream, Stream
from service.usecases.errors import ConflictError
from service.usecases.imports import hand_over, stream_key, submit_reclassify

router = APIRouter(prefix="/boards", tags=["boards"])

RevisionQuery = Annotated[
    int | None, Query(ge=1, description="Revision number; default: the latest.")
]


def board_or_404(session: Session, workspace_id: int, board_id: int) -> Board:
    """The board if it is in the workspace; another workspace's board is simply not found."""
    board = session.get(Board, board_id)
    if board is None or board.workspace_id != workspace_id:
        raise ProblemError("not-found", f"No board {board_id}.")
    return board


def board_public(board: Board) -> BoardPublic:
    return BoardPublic.model_validate(
        {
            **board.model_dump(),
            "latest_revision": board.latest_revision_number,
            "has_rules": board.rules is not None,
        }
    )


def revision_number_or_404(board: Board, revision: int | None) -> int:
    number = board.latest_revision_number if revision is None else revision
    if number is None:
        raise ProblemError("not-found", f"Board {board.id} has no revision yet.")
    if board.latest_revision_number is None or number > board.latest_revision_number:
        raise ProblemError("not-found", f"Board {board.id} has no revision {number}.")
    return number


def revision_content_or_404(
    session: Session, board: Board, number: int
) -> tuple[Revision, RevisionContent]:
    """Revision ``number`` of ``board`` with its stored content; a ``not-found`` problem when
    there is none."""
    row = session.exec(
        select(Revision, RevisionContent)
        .join(RevisionContent, col(RevisionContent.revision_id) == col(Revision.id))
        .where(Revision.board_id == board.id, Revision.number == number)
    ).first()
    if row is None:
        raise ProblemError("not-found", f"Board {board.id} has no revision {number}.")
    return row


@router.get(
    "",
    response_model=Page[BoardPublic],
    responses={**responses(400, 401, 422), **NOT_MODIFIED},
)
def list_boards(
    workspace_id: WorkspaceDep,
    session: SessionDep,
    page: PageDep,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The workspace's boards, oldest first."""
    query = select(Board).where(Board.workspace_id == workspace_id)
    boards, following = keyset_page(session, query, col(Board.id), page)
    return json_with_etag(
        Page(items=[board_public(b) for b in boards], limit=page.limit, next_cursor=following),
        if_none_match,
    )


@router.get(
    "/{board_id}",
    response_model=BoardPublic,
    responses={**responses(401, 404), **NOT_MODIFIED},
)
def get_board(
    board_id: int,
    workspace_id: WorkspaceDep,
    session: SessionDep,
    if_none_match: IfNoneMatch = None,
) -> Response:
    return json_with_etag(
        board_public(board_or_404(session, workspace_id, board_id)), if_none_match
    )


@router.get(
    "/{board_id}/revisions",
    response_model=Page[RevisionPublic],
    responses={**responses(400, 401, 404, 422), **NOT_MODIFIED},
)
def list_revisions(
    board_id: int,
    workspace_id: WorkspaceDep,
    session: SessionDep,
    page: PageDep,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The board's revisions, newest first."""
    board = board_or_404(session, workspace_id, board_id)
    query = select(Revision).where(Revision.board_id == board.id)
    revisions, following = keyset_page(
        session, query, col(Revision.number), page, newest_first=True
    )
    return json_with_etag(
        Page(
            items=[RevisionPublic.model_validate(r) for r in revisions],
            limit=page.limit,
            next_cursor=following,
        ),
        if_none_match,
    )


@router.get(
    "/{board_id}/revisions/{number}",
    response_model=RevisionDetailPublic,
    responses=responses(401, 404, 422),
)
def get_revision(
    board_id: int, number: int, workspace_id: WorkspaceDep, session: SessionDep
) -> RevisionDetailPublic:
    """One revision, with the ruleset used and the normalization warnings."""
    board = board_or_404(session, workspace_id, board_id)
    revision, content = revision_content_or_404(session, board, number)
    return RevisionDetailPublic.model_validate(
        {
            **RevisionPublic.model_validate(revision).model_dump(),
            "ruleset": content.ruleset,
            "import_stats": content.board.get("stats", {}),
            "account": content.result.get("account"),
            "warnings": _warnings(content.result),
        }
    )


def _warnings(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The stored document's warnings ([] for documents stored before they existed)."""
    warnings = result.get("warnings")
    return [w for w in warnings if isinstance(w, dict)] if isinstance(warnings, list) else []


@router.get(
    "/{board_id}/streams",
    response_model=Page[StreamPublic],
    responses={**responses(400, 401, 404, 422), **NOT_MODIFIED},
)
def list_streams(
    board_id: int,
    workspace_id: WorkspaceDep,
    session: SessionDep,
    page: PageDep,
    revision: RevisionQuery = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The streams of the latest revision (or of ``revision``) in board order."""
    board = board_or_404(session, workspace_id, board_id)
    number = revision_number_or_404(board, revision)
    query = (
        sa.select(
            col(RevisionStream.stream_id),
            col(RevisionStream.position),
            col(Stream.key),
            sa.cast(col(RevisionStream.data), sa.Text),
        )
        .join(Stream, col(Stream.id) == col(RevisionStream.stream_id))
        .where(col(Stream.board_id) == board.id, col(RevisionStream.revision_number) == number)
    )
    rows, following = keyset_page(
        session, query, col(RevisionStream.position), page, position=lambda row: row[1]
    )
    assert board.id is not None
    return json_bytes_with_etag(
        stream_page(
            [
                stream_json(stream_id, board.id, number, key, document)
                for stream_id, _, key, document in rows
            ],
            page.limit,
            following,
        ),
        if_none_match,
    )


def _ranked_problems(
    streams: list[dict[str, Any]], stream_ids: dict[str, int]
) -> list[RankedProblem]:
    entries: list[tuple[float, int, RankedProblem]] = []
    order = 0
    for position, stream in enumerate(streams):
        key = stream_key(stream.get("id"), position)
        titles = {step.get("id"): step.get("title") for step in stream.get("steps") or []}
        for problem in stream.get("problems") or []:
            weight = problem.get("weight") or 0
            step_id = problem.get("step_id")
            entries.append(
                (
                    -float(weight),
                    order,
                    RankedProblem(
                        rank=0,
                        stream_id=stream_ids.get(key, 0),
                        stream_name=str(stream.get("name") or ""),
                        step_id=step_id,
                        step_title=titles.get(step_id) if step_id is not None else None,
                        id=str(problem.get("id")),
                        text=str(problem.get("text") or ""),
                        weight=weight,
                    ),
                )
            )
            order += 1
    entries.sort(key=lambda entry: (entry[0], entry[1]))
    return [
        problem.model_copy(update={"rank": rank}) for rank, (_, _, problem) in enumerate(entries, 1)
    ]


@router.get(
    "/{board_id}/report",
    response_model=ReportPublic,
    responses={**responses(401, 404, 422), **NOT_MODIFIED},
)
def get_report(
    board_id: int,
    workspace_id: WorkspaceDep,
    session: SessionDep,
    revision: RevisionQuery = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """Metrics per stream, every problem ranked by weight (ties in board order), and the
    current-vs-target comparison of the revision."""
    board = board_or_404(session, workspace_id, board_id)
    number = revision_number_or_404(board, revision)
    rev, content = revision_content_or_404(session, board, number)
    stream_ids = {
        key: stream_id
        for key, stream_id in session.exec(
            select(Stream.key, Stream.id).where(Stream.board_id == board.id)
        ).all()
        if stream_id is not None
    }
    streams: list[dict[str, Any]] = list(content.result.get("streams") or [])
    assert board.id is not None
    return json_with_etag(
        ReportPublic(
            board_id=board.id,
            revision=number,
            created_at=rev.created_at,
            streams=[
                StreamMetricsPublic(
                    stream_id=stream_ids.get(stream_key(s.get("id"), i), 0),
                    key=stream_key(s.get("id"), i),
                    name=str(s.get("name") or ""),
                    state=str(s.get("state") or "unspecified"),
                    metrics=dict(s.get("metrics") or {}),
                )
                for i, s in enumerate(streams)
            ],
            problems=_ranked_problems(streams, stream_ids),
            comparison=content.result.get("comparison"),
            warnings=_warnings(content.result),
            unclassified_count=rev.unclassified_count,
        ),
        if_none_match,
    )


@router.get("/{board_id}/rules", response_model=RulesPublic, responses=responses(401, 404))
def get_rules(board_id: int, workspace_id: WorkspaceDep, session: SessionDep) -> RulesPublic:
    """The board's rules file (null: the defaults apply)."""
    board = board_or_404(session, workspace_id, board_id)
    assert board.id is not None
    return RulesPublic(board_id=board.id, rules=board.rules)


_RULES_BODY = {
    "requestBody": {
        "required": True,
        "description": "The rules file of docs/rules.md, as YAML or as the same structure in JSON.",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/RulesetFile"}},
            "application/yaml": {
                "schema": {"type": "string"},
                "example": "version: 1\ncolors:\n  blue: step\nprecedence: rules\n",
            },
        },
    }
}


@router.put(
    "/{board_id}/rules",
    status_code=202,
    response_model=ImportJobPublic,
    responses=responses(400, 401, 404, 409, 415, 422),
    openapi_extra=_RULES_BODY,
)
def put_rules(
    board_id: int,
    workspace_id: WorkspaceDep,
    stored: RulesBody,
    session: SessionDep,
    dispatcher: DispatcherDep,
) -> ImportJobPublic:
    """Replace the board's rules (the rules file format of docs/rules.md, as YAML with
    ``Content-Type: application/yaml`` or as JSON) and queue a job that classifies the latest
    revision's stored board again into a new revision."""
    begin_write(session)
    board = board_or_404(session, workspace_id, board_id)
    try:
        job = submit_reclassify(session, board, stored)
    except ConflictError as exc:
        raise ProblemError("conflict", str(exc)) from exc
    session.commit()
    assert job.id is not None
    hand_over(dispatcher, job.id)
    return job_public(job)
