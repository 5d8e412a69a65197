"""Live provider routes, one router for every provider: OAuth connect, connections, browsing a
connection's remote boards, connecting a board and its sync state.

Every route is parameterised by the provider's name (``/connections/{provider}/authorize``,
``/oauth/{provider}/callback``) or by the connection, whose provider it reads; the provider's
own behaviour is its :class:`connectors.provider.BoardProvider`. The OAuth callback is the one
``/v1`` route without an API key: the provider's redirect carries no key, so the signed,
single-use, workspace-bound ``state`` is what ties it to a workspace.
``/connections/{id}/remote-murals`` is kept as a documented alias of ``remote-boards``.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated

import httpx
import structlog
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlmodel import col, select

from connectors.errors import AuthError
from connectors.provider import Browse, RemotePage
from service.api.deps import PageDep, SessionDep, WorkspaceDep, encode_cursor, runtime_of
from service.api.problems import ProblemError, responses
from service.api.schemas import Page, _Public
from service.db.engine import PORTABLE_MAX_ID, begin_write
from service.db.tables import Board, BoardSync, Connection
from service.providers import Provider
from service.usecases.authorization import (
    begin_provider_authorization,
    complete_authorization,
    delete_connection,
)
from service.usecases.connections import (
    STATE_TTL,
    StateError,
    connect_board,
    connection_in_workspace,
    connection_summary,
    forget_connection,
)
from service.usecases.errors import ConflictError
from service.usecases.live_sync import ProviderLive
from service.web.pages import page

log = structlog.get_logger(__name__)

router = APIRouter(tags=["connections"])

# The OAuth callback's query (bounded: the provider's redirect is as untrusted as any request).
CodeQuery = Annotated[str | None, Query(max_length=2000)]
StateQuery = Annotated[str | None, Query(max_length=300)]
ErrorQuery = Annotated[str | None, Query(max_length=200)]


class ConnectionPublic(_Public):
    id: int
    provider: str
    account_id: str
    account_name: str
    user_id: str
    user_name: str
    scopes: list[str]
    status: str = Field(description="`active` or `needs_reauth`")
    status_reason: str | None
    expires_at: datetime | None = Field(description="Access token expiry; null = non-expiring.")
    created_at: datetime
    updated_at: datetime


class AuthorizePublic(BaseModel):
    authorize_url: str
    expires_in: int = Field(description="Seconds the authorization request stays valid.")


class RemoteItemPublic(BaseModel):
    """A board of the connected account (``kind`` ``board``: pass its ``id`` as
    ``external_id`` to ``POST /v1/boards``), or a Mural ``workspace``/``room`` to list."""

    kind: str = Field(examples=["board"])
    id: str = Field(examples=["uXjVO1a2b3c="])
    name: str = Field(examples=["Order to cash"])
    description: str | None = None
    modified_at: str | None = Field(default=None, description="As the provider reports it.")
    view_link: str | None = None
    workspace_id: str | None = None
    room_id: str | None = None


class ConnectBoard(BaseModel):
    connection_id: int = Field(ge=1, le=PORTABLE_MAX_ID)
    external_id: str = Field(
        min_length=1, max_length=200, description="The Miro board id or Mural mural id."
    )


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


def provider_for(request: Request, name: str) -> Provider:
    """The registration of provider ``name`` in this process (404 for a name it does not know)."""
    provider = runtime_of(request).providers.get(name)
    if provider is None:
        raise ProblemError("not-found", f"No provider {name[:50]!r}.")
    return provider


def provider_live(request: Request, name: str) -> ProviderLive | None:
    """The live sync of provider ``name``, None when it is off or unknown."""
    provider = runtime_of(request).providers.get(name)
    return provider.live if provider is not None else None


def live_for(request: Request, name: str) -> ProviderLive:
    """The live sync of provider ``name``; a ``provider-not-configured`` problem with the
    reason when the provider is off."""
    provider = provider_for(request, name)
    if provider.live is None:
        raise ProblemError("provider-not-configured", provider.disabled_reason)
    return provider.live


def connection_or_404(session: SessionDep, workspace_id: int, connection_id: int) -> Connection:
    row = connection_in_workspace(session, workspace_id, connection_id)
    if row is None:
        raise ProblemError("not-found", f"No connection {connection_id} in this workspace.")
    return row


def wants_html(request: Request) -> bool:
    """True for a browser: it lists ``text/html`` before (or without) ``application/json``."""
    accept = request.headers.get("accept", "").lower()
    html, json = accept.find("text/html"), accept.find("application/json")
    return html >= 0 and (json < 0 or html < json)


def picker_path(connection_id: int) -> str:
    """The web front door's board picker of a connection."""
    return f"/web/connections/{connection_id}/boards"


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
    "/connections/{provider}/authorize",
    response_model=AuthorizePublic,
    operation_id="authorizeConnection",
    summary="Start connecting a provider account (`miro`, `mural`)",
    description=(
        "Answers with the provider's authorization URL (valid 10 minutes, single use, bound to "
        "your workspace; with a PKCE S256 challenge where the provider takes PKCE: Mural); a "
        "browser asking for HTML is redirected there (302)."
    ),
    responses=responses(401, 404, 503),
)
def authorize(
    provider: str, request: Request, workspace_id: WorkspaceDep, session: SessionDep
) -> AuthorizePublic | RedirectResponse:
    live = live_for(request, provider)
    begin_write(session)
    url = begin_provider_authorization(session, live, workspace_id)
    session.commit()
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(url, status_code=302)
    return AuthorizePublic(authorize_url=url, expires_in=int(STATE_TTL.total_seconds()))


@router.get(
    "/oauth/{provider}/callback",
    response_model=ConnectionPublic,
    operation_id="completeConnection",
    summary="The provider's redirect back: store the connection",
    description=(
        "Needs no API key; the `state` issued by the authorize route identifies you. A browser "
        "(`Accept` listing `text/html` first) gets a page saying the account is connected, "
        "with a link to the web front door's board picker; a client asking for JSON gets the "
        "connection."
    ),
    responses={
        **responses(400, 404, 502, 503),
        200: {"content": {"application/json": {}, "text/html": {}}},
    },
)
def callback(
    provider: str,
    request: Request,
    session: SessionDep,
    code: CodeQuery = None,
    state: StateQuery = None,
    error: ErrorQuery = None,
) -> ConnectionPublic | Response:
    """``complete_authorization`` consumes the state and stores the connection, committed
    here; a refusal (``error``), a bad state or a provider failure becomes a problem and
    stores nothing."""
    live = live_for(request, provider)
    if error is not None:
        session.rollback()
        raise ProblemError(
            "oauth-refused", f"{live.label} reports that the authorization was refused."
        )
    begin_write(session)  # the state is read, then used up and the connection stored
    try:
        row = complete_authorization(session, live, code=code, state=state)
    except StateError as exc:
        session.rollback()
        raise ProblemError("invalid-oauth-state", str(exc)) from None
    except AuthError as exc:
        session.rollback()
        raise ProblemError("oauth-refused", str(exc)) from None
    session.commit()
    connection = ConnectionPublic(**connection_summary(row))
    if wants_html(request):
        return page(
            "connected.html",
            signed_in=None,
            label=live.label,
            connection=connection,
            picker=picker_path(connection.id),
            api_picker=f"/v1/connections/{connection.id}/remote-boards",
        )
    return connection


@router.get(
    "/connections",
    response_model=list[ConnectionPublic],
    operation_id="listConnections",
    responses=responses(401),
)
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
    operation_id="getConnection",
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
    operation_id="deleteConnection",
    summary="Revoke the token at the provider (where it can be) and delete the connection",
    description="Mural has no revocation call: its tokens are deleted here only.",
    responses=responses(401, 404, 502, 503),
)
def remove_connection(
    request: Request, connection_id: int, workspace_id: WorkspaceDep, session: SessionDep
) -> Response:
    begin_write(session)
    row = connection_or_404(session, workspace_id, connection_id)
    provider = provider_for(request, row.provider)
    if provider.live is None and not provider.registration.revocable:
        forget_connection(session, row)  # nothing to revoke: deleting needs no configuration
    else:
        # A provider failure leaves everything as it was: the session rolls back when it closes.
        live = live_for(request, row.provider)
        delete_connection(session, live, row, revocable=provider.registration.revocable)
    session.commit()
    return Response(status_code=204)


def remote_page(
    request: Request,
    session: SessionDep,
    workspace_id: int,
    connection_id: int,
    browse: Browse,
) -> Page[RemoteItemPublic]:
    """One page of the connection's remote boards (or containers), asked of its own provider;
    the API route and the web front door's board picker answer with it. A request the provider
    cannot answer is a problem before any call; provider failures propagate as
    ``ProviderError``."""
    row = connection_or_404(session, workspace_id, connection_id)
    live = live_for(request, row.provider)
    session.rollback()  # no transaction held while the provider answers
    assert row.id is not None
    connection = row.id

    access = live.access(connection)

    async def fetch(http: httpx.AsyncClient) -> RemotePage:
        return await live.source.browse(http, access, browse)

    try:
        # Provider failures propagate as ProviderError: the app's one handler answers them.
        # The call runs on the process's one provider loop and client (connectors/loop.py).
        remote = live.http_factory.run(fetch)
    except ValueError as exc:
        if browse.position is not None:
            raise ProblemError(
                "invalid-cursor", "Pass the next_cursor of a previous page."
            ) from None
        raise ProblemError(
            "validation-error", str(exc), errors=[{"field": "query", "message": str(exc)}]
        ) from None
    following = remote.next_position
    return Page[RemoteItemPublic](
        items=[RemoteItemPublic(**asdict(item)) for item in remote.items],
        limit=remote.limit,
        next_cursor=encode_cursor(following) if following is not None else None,
    )


KindQuery = Annotated[
    str | None,
    Query(
        max_length=20,
        description="What to list: Miro `boards` (the default); Mural `workspaces` (the "
        "default), `rooms` (with `workspace_id`) or `murals` (with `workspace_id` or `room_id`).",
    ),
]
RemoteWorkspaceQuery = Annotated[
    str | None, Query(alias="workspace_id", max_length=200, description="A Mural workspace id.")
]
RoomQuery = Annotated[str | None, Query(max_length=200, description="A Mural room id.")]
SearchQuery = Annotated[
    str | None, Query(max_length=500, description="Miro: search board names and descriptions.")
]

_BROWSE_DESCRIPTION = (
    "Pages like every list of this API: `items`, `limit` and `next_cursor` (pass it as "
    "`cursor`, with the same filters, for the next page; null on the last). `limit` is capped "
    "by the provider (Miro 50, Mural 100). Items of kind `board` can be connected with "
    "`POST /v1/boards`."
)


@router.get(
    "/connections/{connection_id}/remote-murals",
    response_model=Page[RemoteItemPublic],
    operation_id="listRemoteMurals",
    summary="Alias of remote-boards (kept for clients of earlier releases)",
    description=_BROWSE_DESCRIPTION + " Same answer as `remote-boards`.",
    responses=responses(400, 401, 404, 409, 422, 502, 503),
)
@router.get(
    "/connections/{connection_id}/remote-boards",
    response_model=Page[RemoteItemPublic],
    operation_id="listRemoteBoards",
    summary="Browse the connected account's boards (Miro boards; Mural workspaces, rooms, murals)",
    description=_BROWSE_DESCRIPTION,
    responses=responses(400, 401, 404, 409, 422, 502, 503),
)
def remote_boards(
    request: Request,
    connection_id: int,
    workspace_id: WorkspaceDep,
    session: SessionDep,
    page_params: PageDep,
    kind: KindQuery = None,
    remote_workspace: RemoteWorkspaceQuery = None,
    room_id: RoomQuery = None,
    query: SearchQuery = None,
) -> Page[RemoteItemPublic]:
    browse = Browse(
        kind=kind,
        workspace_id=remote_workspace,
        room_id=room_id,
        query=query,
        limit=page_params.limit,
        position=page_params.cursor,
    )
    return remote_page(request, session, workspace_id, connection_id, browse)


def add_live_board(
    request: Request, session: SessionDep, workspace_id: int, body: ConnectBoard
) -> BoardSyncPublic:
    """Connect ``body.external_id`` of the connection's provider and queue its first import:
    the use case behind ``POST /v1/boards`` and the board picker's form. Commits."""
    begin_write(session)
    connection = connection_or_404(session, workspace_id, body.connection_id)
    live = live_for(request, connection.provider)
    try:
        board, sync = connect_board(
            session,
            workspace_id,
            connection,
            body.external_id,
            recheck_after=timedelta(seconds=live.poll_interval_s),
            check_id=live.source.check_external_id,
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


@router.post(
    "/boards",
    status_code=202,
    response_model=BoardSyncPublic,
    operation_id="connectBoard",
    summary="Connect a Miro board or a mural and queue its first import",
    description="`external_id` is a Miro board id or a Mural mural id, after the connection's "
    "provider.",
    responses=responses(401, 404, 409, 422, 503),
)
def create_live_board(
    request: Request, body: ConnectBoard, workspace_id: WorkspaceDep, session: SessionDep
) -> BoardSyncPublic:
    return add_live_board(request, session, workspace_id, body)


@router.get(
    "/boards/{board_id}/sync",
    response_model=BoardSyncPublic,
    operation_id="getBoardSync",
    summary="How a live board follows its provider: status, last change seen, next check",
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
