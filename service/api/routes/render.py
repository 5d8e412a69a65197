"""Pictures of a board: a stream's SVG map, the board's HTML report page and signed share links.

The pages are rendered by the pure core (``service.domain.render``) from the stored contract v1
result (``service.api.hot`` keeps the report page and the maps once rendered); they carry
strict headers (CSP, ``nosniff``) because every text on them came from a board. Share links are
itsdangerous-signed tokens (``domain.render.share``); the signing key is derived from the newest
``VSM_ENCRYPTION_KEYS`` entry, or is a random key per API process when none is configured
(links then end with the process).
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Body, Depends, Header, Request, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from service.api.deps import SessionDep, SettingsDep, WorkspaceDep, runtime_of
from service.api.etags import etag_matches
from service.api.links import public_base_url
from service.api.problems import ProblemError, responses
from service.api.routes.boards import (
    RevisionQuery,
    board_or_404,
    revision_content_or_404,
    revision_number_or_404,
)
from service.api.routes.streams import stream_row_or_404
from service.db.tables import Board
from service.domain.contract_model import decode_contract, decode_stream
from service.domain.render.explain import explain_board
from service.domain.render.html import CSP_HEADER, render_report_html
from service.domain.render.share import (
    ShareGrant,
    ShareTokenError,
    ShareTokenExpired,
    ShareTokenRetired,
    sign_share_token,
    verify_share_token,
)
from service.domain.render.svg import render_stream_svg
from service.domain.serialize import BoardFormatError, board_from_dict
from service.domain.utc import utc_minutes
from service.rules_file import RulesError, parse_rules
from service.usecases.portfolio import board_trends

router = APIRouter(tags=["maps"])
log = structlog.get_logger(__name__)

# Bump when the renderers change what they draw, so cached maps and pages are fetched again.
RENDER_VERSION = "2"
SHARE_DAYS_DEFAULT = 7
SHARE_DAYS_MAX = 90
# An SVG opened on its own is a document that could run script; ours has none, and this
# header makes sure a browser would not run any either.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

_SVG_MEDIA = "image/svg+xml"
_HTML_MEDIA = "text/html; charset=utf-8"


class ShareCreate(BaseModel):
    expires_in_days: int = Field(
        default=SHARE_DAYS_DEFAULT,
        ge=1,
        le=SHARE_DAYS_MAX,
        description=f"Days the link works (default {SHARE_DAYS_DEFAULT}, at most "
        f"{SHARE_DAYS_MAX}).",
    )


class SharePublic(BaseModel):
    url: str = Field(description="The report page; works without an API key until it expires.")
    expires_at: datetime


def share_secret(request: Request) -> bytes:
    """The process's share-link signing key (built once by :func:`service.bootstrap.build`)."""
    return runtime_of(request).share_secret


ShareSecretDep = Annotated[bytes, Depends(share_secret)]

_SHARED_PATH_IN_LOGS = "/v1/shared/{token}/report.html"


def keep_token_out_of_logs(request: Request) -> None:
    """The token is a credential, and access logs (ours and uvicorn's) print the request's
    ``scope["path"]`` when the response is done; once the route has matched, the path is no
    longer needed for routing, so it is replaced by the route template."""
    request.scope["path"] = _SHARED_PATH_IN_LOGS
    request.scope["raw_path"] = _SHARED_PATH_IN_LOGS.encode()


def _page_headers(etag: str | None, *, cache: str) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": CSP_HEADER,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": cache,
    }
    if etag is not None:
        headers["ETag"] = etag
    return headers


def _report_page(session: Session, board: Board, revision: int | None) -> tuple[str, str]:
    """The report page of ``board`` at ``revision`` (default latest) and its ETag."""
    number = revision_number_or_404(board, revision)
    rev, content = revision_content_or_404(session, board, number)
    digest = hashlib.sha256(
        f"{board.id}:{number}:{rev.content_hash}:{rev.rules_hash}:{RENDER_VERSION}".encode()
    ).hexdigest()[:32]
    doc: dict[str, Any] = content.result
    page = render_report_html(
        decode_contract(doc),
        imported_at=utc_minutes(rev.created_at),
        revision=number,
        trends=board_trends(session, board, number),
    )
    return page, f'"{digest}"'


@router.get(
    "/streams/{stream_id}/map.svg",
    summary="A stream's value stream map as SVG",
    response_class=Response,
    responses={
        **responses(401, 404, 422),
        200: {"content": {_SVG_MEDIA: {}}, "description": "The map (image/svg+xml)"},
        304: {"description": "Not modified (If-None-Match)"},
    },
)
def get_stream_map(
    stream_id: int,
    workspace_id: WorkspaceDep,
    session: SessionDep,
    revision: RevisionQuery = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Steps as boxes in flow order, lanes as bands, the timeline ladder and numbered problem
    markers (see docs/maps.md). Carries an ``ETag``; 304 to a matching ``If-None-Match``."""
    row, _, _ = stream_row_or_404(session, workspace_id, stream_id, revision)
    etag = f'"{row.etag[:48]}-svg{RENDER_VERSION}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "private, no-cache",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": SVG_CSP,
        "Content-Disposition": (
            f'inline; filename="stream-{row.stream_id}-r{row.revision_number}.svg"'
        ),
    }
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    svg = render_stream_svg(decode_stream(row.data))
    return Response(svg, media_type=_SVG_MEDIA, headers=headers)


@router.get(
    "/boards/{board_id}/revisions/{number}/explain.svg",
    summary="How the reader understood the board: the explain view (SVG)",
    response_class=Response,
    responses={
        **responses(401, 404, 409, 422),
        200: {"content": {_SVG_MEDIA: {}}, "description": "The explain view (image/svg+xml)"},
        304: {"description": "Not modified (If-None-Match)"},
    },
)
def get_explain_view(
    board_id: int,
    number: int,
    workspace_id: WorkspaceDep,
    session: SessionDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The revision's board as it was drawn, every item filled by its role, steps numbered,
    streams and lanes outlined, data, problems and ideas joined to their steps, unread items
    hatched with the reason on hover (see docs/rules.md). Drawn from the stored board with the
    revision's rules; carries an ``ETag``."""
    board = board_or_404(session, workspace_id, board_id)
    revision_number_or_404(board, number)
    rev, content = revision_content_or_404(session, board, number)
    digest = hashlib.sha256(
        f"explain:{board.id}:{number}:{rev.content_hash}:{rev.rules_hash}:{RENDER_VERSION}".encode()
    ).hexdigest()[:32]
    etag = f'"{digest}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "private, no-cache",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": SVG_CSP,
        "Content-Disposition": f'inline; filename="board-{board.id}-r{number}-explain.svg"',
    }
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    try:
        stored = board_from_dict(content.board)
        ruleset = parse_rules(dict(content.ruleset)) if content.ruleset else None
    except (BoardFormatError, RulesError) as exc:
        raise ProblemError(
            "conflict", f"Revision {number} of board {board.id} cannot be drawn: {exc}"
        ) from exc
    return Response(explain_board(stored, ruleset), media_type=_SVG_MEDIA, headers=headers)


@router.get(
    "/boards/{board_id}/report.html",
    summary="The board's report page (self-contained HTML)",
    response_class=Response,
    responses={
        **responses(401, 404, 422),
        200: {"content": {"text/html": {}}, "description": "One self-contained HTML page"},
        304: {"description": "Not modified (If-None-Match)"},
    },
)
def get_report_page(
    board_id: int,
    workspace_id: WorkspaceDep,
    session: SessionDep,
    revision: RevisionQuery = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Every stream's map, metrics, ranked problems, ideas and steps, the current-vs-target
    comparison and the unclassified items, printable on A4 landscape. No scripts, no outside
    requests; served with a strict Content-Security-Policy."""
    board = board_or_404(session, workspace_id, board_id)
    page, etag = _report_page(session, board, revision)
    headers = _page_headers(etag, cache="private, no-cache")
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(page, media_type=_HTML_MEDIA, headers=headers)


@router.post(
    "/boards/{board_id}/share",
    summary="Create a share link to the board's report page",
    status_code=201,
    response_model=SharePublic,
    responses=responses(401, 404, 422),
)
def share_board(
    board_id: int,
    workspace_id: WorkspaceDep,
    session: SessionDep,
    settings: SettingsDep,
    secret: ShareSecretDep,
    request: Request,
    body: Annotated[ShareCreate | None, Body()] = None,
) -> SharePublic:
    """A signed link to the latest report page that works without an API key until it
    expires (default 7 days). Anyone holding the link can read the page; links cannot be
    revoked one by one (rotating ``VSM_ENCRYPTION_KEYS`` ends all of them)."""
    board = board_or_404(session, workspace_id, board_id)
    revision_number_or_404(board, None)
    days = (body or ShareCreate()).expires_in_days
    expires_at = int(time.time()) + days * 86_400
    assert board.id is not None
    token = sign_share_token(secret, ShareGrant(workspace_id, board.id, expires_at))
    base = public_base_url(request)
    log.info("share_link_created", board_id=board.id, expires_at=expires_at)
    if not settings.encryption_keys:
        log.warning(
            "share_links_ephemeral",
            reason="VSM_ENCRYPTION_KEYS is not set: this link works on this API process only "
            "and ends when it stops",
        )
    return SharePublic(
        url=f"{base}/v1/shared/{token}/report.html",
        expires_at=datetime.fromtimestamp(expires_at, tz=UTC),
    )


@router.get(
    "/shared/{token}/report.html",
    summary="A shared report page (no API key; the link is the credential)",
    response_class=Response,
    dependencies=[Depends(keep_token_out_of_logs)],
    responses={
        **responses(404, 410),
        200: {"content": {"text/html": {}}, "description": "One self-contained HTML page"},
    },
)
def get_shared_report_page(token: str, session: SessionDep, secret: ShareSecretDep) -> Response:
    """The report page of a share link's board, latest revision. A tampered or unknown link is
    a 404 problem; a genuine link past its expiry, or a link of the first format (made before
    share links were signed with itsdangerous), a 410 ``link-expired``."""
    try:
        grant = verify_share_token(secret, token, now=int(time.time()))
    except ShareTokenExpired as exc:
        raise ProblemError(
            "link-expired", "This share link has expired; ask for a new one."
        ) from exc
    except ShareTokenRetired as exc:
        raise ProblemError(
            "link-expired",
            "Share links made before this release no longer work; ask for a new one.",
        ) from exc
    except ShareTokenError as exc:
        raise ProblemError("not-found", "No such shared report.") from exc
    board = session.get(Board, grant.board_id)
    if board is None or board.workspace_id != grant.workspace_id:
        raise ProblemError("not-found", "No such shared report.")
    page, etag = _report_page(session, board, None)
    headers = _page_headers(etag, cache="private, no-store")
    headers["X-Robots-Tag"] = "noindex, nofollow"
    return Response(page, media_type=_HTML_MEDIA, headers=headers)
