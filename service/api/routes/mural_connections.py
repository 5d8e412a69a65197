"""Live Mural routes: OAuth connect with PKCE, and browsing a connection's workspaces, rooms and
murals. Connecting a mural (``POST /v1/boards``), listing and deleting connections and board sync
states are the shared routes of :mod:`service.api.routes.connections`.

The app factory lists these routes; the dispatcher runs ``murals.fetch``/``murals.poll``
(in-process timers, or Celery tasks).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from service.api.deps import SessionDep, WorkspaceDep
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
)
from service.usecases.mural_live import (
    MURAL,
    MuralLive,
    begin_mural_authorization,
    complete_mural_authorization,
)

log = structlog.get_logger(__name__)

router = APIRouter(tags=["connections"])

# What a browsing screen needs of each listed object (Mural's list entries carry more).
_FIELDS = {
    "workspaces": ("id", "name"),
    "rooms": ("id", "name", "type", "workspaceId"),
    "murals": ("id", "title", "workspaceId", "roomId", "status", "updatedOn"),
}


def _mural(request: Request) -> MuralLive:
    live = live_for(request, MURAL)
    assert isinstance(live, MuralLive)
    return live


@router.get(
    "/connections/mural/authorize",
    response_model=AuthorizePublic,
    summary="Start connecting a Mural account",
    description=(
        "Answers with Mural's authorization URL (PKCE S256; valid 10 minutes, single use, bound "
        "to your workspace); a browser asking for HTML is redirected there (302)."
    ),
    responses=responses(401, 503),
)
def authorize_mural(
    request: Request, workspace_id: WorkspaceDep, session: SessionDep
) -> AuthorizePublic | RedirectResponse:
    live = _mural(request)
    return authorize_answer(
        request, session, lambda: begin_mural_authorization(session, live, workspace_id)
    )


@router.get(
    "/oauth/mural/callback",
    response_model=ConnectionPublic,
    summary="Mural's redirect back: store the connection",
    description="Needs no API key; the `state` issued by the authorize route identifies you.",
    responses=responses(400, 502, 503),
)
def mural_callback(
    request: Request,
    session: SessionDep,
    code: CodeQuery = None,
    state: StateQuery = None,
    error: ErrorQuery = None,
) -> ConnectionPublic | Response:
    live = _mural(request)
    return callback_answer(
        session,
        MURAL,
        error,
        lambda: complete_mural_authorization(session, live, code=code, state=state),
        request=request,
    )


@router.get(
    "/connections/{connection_id}/remote-murals",
    summary="Browse the connected Mural account: workspaces, rooms, murals",
    description=(
        "`kind=workspaces`, `kind=rooms&workspace_id=...`, or `kind=murals` with `workspace_id` "
        "or `room_id`. Mural's own paging passed through: give back `next` for the next page."
    ),
    responses=responses(401, 404, 409, 422, 502, 503),
)
def remote_murals(
    request: Request,
    connection_id: int,
    workspace_id: WorkspaceDep,
    session: SessionDep,
    kind: Literal["workspaces", "rooms", "murals"] = "workspaces",
    mural_workspace: Annotated[str | None, Query(alias="workspace_id", max_length=200)] = None,
    room_id: Annotated[str | None, Query(max_length=200)] = None,
    next_token: Annotated[str | None, Query(alias="next", max_length=2048)] = None,
) -> dict[str, Any]:
    live = _mural(request)
    row = connection_or_404(session, workspace_id, connection_id)
    if row.provider != MURAL:
        raise ProblemError("not-found", f"Connection {connection_id} is not a Mural connection.")
    session.rollback()  # no transaction held while Mural answers
    assert row.id is not None
    connection = row.id

    async def fetch() -> dict[str, Any]:
        async with live.http_factory() as http:
            client = await live.client(http, connection)
            return await client.get_page(
                kind, workspace_id=mural_workspace, room_id=room_id, next_token=next_token
            )

    try:
        page = provider_call(fetch)
    except ValueError as exc:
        raise ProblemError(
            "validation-error", str(exc), errors=[{"field": "query.kind", "message": str(exc)}]
        ) from None
    raw = page.get("value")
    entries = raw if isinstance(raw, list) else []
    keys = _FIELDS[kind]
    following = page.get("next")
    return {
        "data": [{k: e.get(k) for k in keys} for e in entries if isinstance(e, dict)],
        "next": following if isinstance(following, str) and following else None,
    }
