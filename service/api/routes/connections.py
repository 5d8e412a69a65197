"""Live Miro routes: OAuth connect, connections, remote-board browsing and connecting a board.

The app factory lists these routes; their dependencies come from the process's runtime
(:func:`service.bootstrap.build`). The OAuth callback is the one ``/v1`` route without an API
key: Miro's redirect carries no key, so the signed, single-use, workspace-bound ``state`` is
what ties it to a workspace.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlmodel import col, select

from connectors.miro.oauth import authorize_url
from service.api.deps import SessionDep, WorkspaceDep, runtime_of
from service.api.problems import ProblemError, responses
from service.api.routes.live_common import (
    AuthorizePublic,
    CodeQuery,
    ConnectionPublic,
    ErrorQuery,
    StateQuery,
    authorize_answer,
    callback_answer,
    connection_or_404,
    live_for,
    provider_call,
    provider_for,
)
from service.api.schemas import _Public
from service.db.engine import PORTABLE_MAX_ID, begin_write
from service.db.tables import Board, BoardSync, Connection
from service.usecases.connections import (
    MIRO,
    begin_authorization,
    complete_miro_authorization,
    connect_board,
    connection_summary,
    delete_connection,
)
from service.usecases.errors import ConflictError
from service.usecases.live_sync import MiroLive

log = structlog.get_logger(__name__)

router = APIRouter(tags=["connections"])


class ConnectBoard(BaseModel):
    connection_id: int = Field(ge=1, le=PORTABLE_MAX_ID)
    external_id: str = Field(min_length=1, max_length=200, description="The Miro board id.")


class BoardSyncPublic(_Public):
    board_id: int
    provider: str
    external_id: str
    connection_id: int | None
    status: str = Field(
        description="`pending`, `ok`, `failed`, `needs_reauth`, `forbidden` or `not_found`"
    )
    error: str | None
    remote_modified_at: str | None
    last_checked_at: datetime | None
    next_check_at: datetime | None
    last_import_job_id: int | None


def _miro(request: Request) -> MiroLive:
    live = live_for(request, MIRO)
    assert isinstance(live, MiroLive)
    return live


def _sync_public(board: Board, sync: BoardSync) -> BoardSyncPublic:
    assert board.id is not None
    return BoardSyncPublic(
        board_id=board.id,
        provider=board.provider,
        external_id=board.external_id,
        connection_id=sync.connection_id,
        status=sync.status,
        error=sync.error,
        remote_modified_at=sync.remote_modified_at,
        last_checked_at=sync.last_checked_at,
        next_check_at=sync.next_check_at,
        last_import_job_id=sync.last_import_job_id,
    )


@router.get(
    "/connections/miro/authorize",
    response_model=AuthorizePublic,
    summary="Start connecting a Miro account",
    description=(
        "Answers with Miro's authorization URL (valid 10 minutes, single use, bound to your "
        "workspace); a browser asking for HTML is redirected there (302)."
    ),
    responses=responses(401, 503),
)
def authorize_miro(
    request: Request, workspace_id: WorkspaceDep, session: SessionDep
) -> AuthorizePublic | RedirectResponse:
    live = _miro(request)
    return authorize_answer(
        request,
        session,
        lambda: authorize_url(
            live.app, begin_authorization(session, live.cipher, workspace_id, MIRO)
        ),
    )


@router.get(
    "/oauth/miro/callback",
    response_model=ConnectionPublic,
    summary="Miro's redirect back: store the connection",
    description="Needs no API key; the `state` issued by the authorize route identifies you.",
    responses=responses(400, 502, 503),
)
def miro_callback(
    request: Request,
    session: SessionDep,
    code: CodeQuery = None,
    state: StateQuery = None,
    error: ErrorQuery = None,
) -> ConnectionPublic | Response:
    live = _miro(request)
    return callback_answer(
        session,
        MIRO,
        error,
        lambda: complete_miro_authorization(
            session, live.cipher, live.app, live.http_factory, code=code, state=state
        ),
        request=request,
    )


@router.get("/connections", response_model=list[ConnectionPublic], responses=responses(401))
def list_connections(workspace_id: WorkspaceDep, session: SessionDep) -> list[ConnectionPublic]:
    rows = session.exec(
        select(Connection)
        .where(Connection.workspace_id == workspace_id)
        .order_by(col(Connection.id))
        .limit(500)
    ).all()
    return [ConnectionPublic(**connection_summary(row)) for row in rows]


@router.get(
    "/connections/{connection_id}",
    response_model=ConnectionPublic,
    responses=responses(401, 404),
)
def get_connection(
    connection_id: int, workspace_id: WorkspaceDep, session: SessionDep
) -> ConnectionPublic:
    return ConnectionPublic(
        **connection_summary(connection_or_404(session, workspace_id, connection_id))
    )


@router.delete(
    "/connections/{connection_id}",
    status_code=204,
    summary="Revoke the token at the provider (Miro) and delete the connection",
    description="Mural has no revocation call: its tokens are deleted here only.",
    responses=responses(401, 404, 502, 503),
)
def remove_connection(
    request: Request, connection_id: int, workspace_id: WorkspaceDep, session: SessionDep
) -> Response:
    begin_write(session)
    row = connection_or_404(session, workspace_id, connection_id)
    if row.provider != MIRO:
        forget = provider_for(request, row.provider).forget
        if forget is None:
            raise ProblemError("provider-not-configured", f"{row.provider} is not configured")
        forget(session, row)
        session.commit()
        return Response(status_code=204)
    live = _miro(request)
    # A provider failure leaves everything as it was: the session rolls back when it closes.
    delete_connection(session, live.cipher, live.app, live.http_factory, row)
    session.commit()
    return Response(status_code=204)


@router.get(
    "/connections/{connection_id}/remote-boards",
    summary="Browse the connected account's Miro boards",
    description="Miro's own offset paging, passed through (`offset`, `limit` 1..50, `total`).",
    responses=responses(401, 404, 409, 502, 503),
)
def remote_boards(
    request: Request,
    connection_id: int,
    workspace_id: WorkspaceDep,
    session: SessionDep,
    query: Annotated[str | None, Query(max_length=500)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> dict[str, Any]:
    live = _miro(request)
    row = connection_or_404(session, workspace_id, connection_id)
    if row.provider != MIRO:
        # A Mural connection's token must never be sent to Miro.
        raise ProblemError("not-found", f"Connection {connection_id} is not a Miro connection.")
    session.rollback()  # no transaction held while Miro answers
    assert row.id is not None
    connection = row.id

    async def fetch() -> dict[str, Any]:
        async with live.http_factory() as http:
            client = live.client(http, connection)
            return await client.get_boards_page(query=query, offset=offset, limit=limit)

    page = provider_call(fetch)
    raw = page.get("data")
    data: list[Any] = raw if isinstance(raw, list) else []
    boards = [
        {
            key: board.get(key)
            for key in ("id", "name", "description", "viewLink", "createdAt", "modifiedAt")
        }
        for board in data
        if isinstance(board, dict)
    ]
    return {
        "data": boards,
        "total": page.get("total") if isinstance(page.get("total"), int) else None,
        "offset": offset,
        "limit": limit,
    }


@router.post(
    "/boards",
    status_code=202,
    response_model=BoardSyncPublic,
    summary="Connect a Miro board or a mural and queue its first import",
    description="`external_id` is a Miro board id or a Mural mural id, after the connection's "
    "provider.",
    responses=responses(401, 404, 409, 422, 503),
)
def create_live_board(
    request: Request, body: ConnectBoard, workspace_id: WorkspaceDep, session: SessionDep
) -> BoardSyncPublic:
    begin_write(session)
    connection = connection_or_404(session, workspace_id, body.connection_id)
    live = live_for(request, connection.provider)
    try:
        board, sync = connect_board(
            session,
            workspace_id,
            connection,
            body.external_id,
            recheck_after=timedelta(seconds=getattr(live, "poll_interval_s", 300.0)),
            check_id=getattr(live, "check_external_id", None),
        )
    except ValueError as exc:
        session.rollback()
        raise ProblemError(
            "validation-error",
            str(exc),
            errors=[{"field": "body.external_id", "message": str(exc)}],
        ) from None
    except ConflictError as exc:
        session.rollback()
        raise ProblemError("connection-needs-reauth", str(exc)) from None
    session.commit()
    assert board.id is not None
    provider = provider_for(request, connection.provider)
    runtime_of(request).dispatcher.publish(provider.fetch_task, board.id, "connect")
    return _sync_public(board, sync)


@router.get(
    "/boards/{board_id}/sync",
    response_model=BoardSyncPublic,
    summary="How a live board follows Miro: status, last change seen, next check",
    responses=responses(401, 404),
)
def get_board_sync(
    board_id: int, workspace_id: WorkspaceDep, session: SessionDep
) -> BoardSyncPublic:
    board = session.get(Board, board_id)
    sync = session.get(BoardSync, board_id)
    if board is None or board.workspace_id != workspace_id or sync is None:
        raise ProblemError("not-found", f"No live board {board_id} in this workspace.")
    return _sync_public(board, sync)
