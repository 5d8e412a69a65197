"""The front door's pages: sign-in, boards, a board, a stream's map, imports, the board picker.

Server-rendered with jinja2 (autoescape on: every board text is untrusted), one stylesheet of
our own, no scripts. The report page and the pictures are the API's own routes
(``/v1/boards/{id}/report.html``, ``/v1/streams/{id}/map.svg``), which accept this session's
cookie for reads. Forms that change something check the origin and the session's CSRF token.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from connectors.errors import ProviderError
from connectors.provider import Browse
from service.api.deps import (
    DispatcherDep,
    RuntimeDep,
    SessionDep,
    SettingsDep,
    decode_cursor,
    decode_dump,
    read_json_upload,
)
from service.api.problems import ProblemError, provider_problem
from service.api.routes.connections import (
    ConnectBoard,
    add_live_board,
    provider_live,
    remote_page,
)
from service.db.engine import begin_write
from service.db.tables import Board, Connection, ImportJob, JobStatus, RevisionStream, Stream
from service.domain.contract_model import decode_stream
from service.domain.progress import progress_percent
from service.domain.render.svg import render_stream_map
from service.usecases.connections import connection_in_workspace, connection_summary
from service.usecases.imports import IMPORT_TASK, submit_import
from service.usecases.portfolio import board_labels
from service.usecases.web_login import key_by_secret, redeem_login_ticket
from service.web.pages import page
from service.web.session import (
    LOGIN_CSRF_COOKIE,
    MAX_AGE_S,
    WebSession,
    current_session,
    end_session,
    same_origin,
    start_session,
    tokens_match,
)

pages = APIRouter(prefix="/web", include_in_schema=False)

STATIC_DIR = Path(__file__).parent / "static"
STATIC_FILES = {
    "web.css": "text/css; charset=utf-8",
    "portfolio.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
ZOOMS = (50, 100, 150, 200)
BOARDS_PER_PAGE = 50
PICKS_PER_PAGE = 20
_NOT_LISTED = "The boards could not be listed"
_NOT_ADDED = "The board was not added"
JOBS_PER_PAGE = 50
_EXPLAIN = re.compile(r"^/v1/boards/\{[^}]+\}/revisions/\{[^}]+\}/explain\.svg$")


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: only paths of this site, never another host."""
    if (
        target
        and target.startswith(("/web/", "/v1/"))
        and "//" not in target
        and "\\" not in target
    ):
        return target
    return "/web/boards"


def _to_login(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/web/login?next={quote(here, safe='/')}", status_code=303)


def _not_found(signed_in: WebSession, what: str) -> HTMLResponse:
    return page(
        "message.html",
        signed_in=signed_in,
        status=404,
        heading="Not found",
        text=f"There is no {what} in workspace {signed_in.key.workspace_name}.",
        link="/web/boards",
        link_text="Back to the boards",
    )


def _refused(signed_in: WebSession | None) -> HTMLResponse:
    return page(
        "message.html",
        signed_in=signed_in,
        status=403,
        heading="Form refused",
        text="The form came from another site or an expired page. Reload the page and try again.",
        link="/web/boards",
        link_text="Back to the boards",
    )


@pages.get("/static/{name}")
def static_file(name: str) -> Response:
    if name not in STATIC_FILES:
        return Response(status_code=404)
    return FileResponse(
        STATIC_DIR / name,
        media_type=STATIC_FILES[name],
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@pages.get("", response_class=HTMLResponse)
@pages.get("/", response_class=HTMLResponse)
def front(request: Request, session: SessionDep) -> Response:
    if current_session(request, session) is None:
        return RedirectResponse("/web/login", status_code=303)
    return RedirectResponse("/web/boards", status_code=303)


@pages.get("/login", response_class=HTMLResponse)
def login_form(request: Request, session: SessionDep, next: str | None = None) -> Response:
    if current_session(request, session) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    csrf = secrets.token_urlsafe(24)
    response = page("login.html", signed_in=None, csrf=csrf, hours=MAX_AGE_S // 3600, error=None)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        csrf,
        max_age=3600,
        path="/web",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    if next:
        response.set_cookie(
            "vsm_next",
            _safe_next(next),
            max_age=3600,
            path="/web",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return response


@pages.post("/login", response_class=HTMLResponse)
async def login(request: Request, session: SessionDep) -> Response:
    form = await request.form(max_files=0, max_fields=4)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not same_origin(request) or not tokens_match(expected, form.get("csrf")):
        return _refused(None)
    secret = form.get("api_key")
    key = await run_in_threadpool(key_by_secret, session, secret if isinstance(secret, str) else "")
    session.rollback()
    if key is None:
        return page(
            "login.html",
            signed_in=None,
            status=401,
            csrf=expected,
            hours=MAX_AGE_S // 3600,
            error="That API key is unknown or revoked.",
        )
    response = RedirectResponse(_safe_next(request.cookies.get("vsm_next")), status_code=303)
    start_session(request, response, key)
    response.delete_cookie("vsm_next", path="/web")
    return response


@pages.get("/login/{ticket}", response_class=HTMLResponse)
def login_with_ticket(ticket: str, request: Request, session: SessionDep) -> Response:
    """The one-time link ``vsm serve --demo`` prints. Answers a page (not a redirect) that moves
    on by itself: a SameSite=Strict cookie set by a link opened from elsewhere is sent on the
    next same-site navigation, which this page starts."""
    request.scope["path"] = "/web/login/{ticket}"  # the ticket is a credential: not in logs
    begin_write(session)
    key = redeem_login_ticket(session, ticket)
    session.commit()
    if key is None:
        return page(
            "message.html",
            signed_in=None,
            status=410,
            heading="This sign-in link is used up",
            text="A sign-in link works once, for 30 minutes. Sign in with the API key instead.",
            link="/web/login",
            link_text="Sign in",
        )
    response = page("ticket.html", signed_in=None, key=key)
    response.headers["Referrer-Policy"] = "no-referrer"
    start_session(request, response, key)
    return response


@pages.post("/logout", response_class=HTMLResponse)
async def logout(request: Request, session: SessionDep) -> Response:
    signed_in = current_session(request, session)
    form = await request.form(max_files=0, max_fields=4)
    if signed_in is not None and (
        not same_origin(request) or not tokens_match(signed_in.csrf, form.get("csrf"))
    ):
        return _refused(signed_in)
    response = page(
        "message.html",
        signed_in=None,
        heading="Signed out",
        text="This browser no longer holds a session.",
        link="/web/login",
        link_text="Sign in again",
    )
    end_session(response)
    return response


@pages.get("/boards", response_class=HTMLResponse)
def boards_page(request: Request, session: SessionDep, before: int | None = None) -> Response:
    signed_in = current_session(request, session)
    if signed_in is None:
        return _to_login(request)
    query = select(Board).where(Board.workspace_id == signed_in.key.workspace_id)
    if before is not None:
        query = query.where(col(Board.id) < before)
    rows = session.exec(query.order_by(col(Board.id).desc()).limit(BOARDS_PER_PAGE + 1)).all()
    more = rows[BOARDS_PER_PAGE - 1].id if len(rows) > BOARDS_PER_PAGE else None
    connections = session.exec(
        select(Connection)
        .where(Connection.workspace_id == signed_in.key.workspace_id)
        .order_by(col(Connection.id))
        .limit(100)
    ).all()
    connectable = [
        {"label": p.label, "href": f"/v1/connections/{p.name}/authorize"}
        for p in request.app.state.runtime.providers.values()
        if p.live is not None
    ]
    return page(
        "boards.html",
        signed_in=signed_in,
        boards=rows[:BOARDS_PER_PAGE],
        more=more,
        connections=connections,
        connectable=connectable,
    )


def _explain_link(request: Request, board_id: int, number: int) -> str | None:
    """The explain view's URL when this API has the route (it arrives with the fidelity work)."""
    for route in request.app.routes:
        if _EXPLAIN.match(getattr(route, "path", "")):
            return f"/v1/boards/{board_id}/revisions/{number}/explain.svg"
    return None


def _downloads(request: Request, board_id: int) -> list[dict[str, str]]:
    """Spreadsheet downloads of the board, for the export routes this API has."""
    paths = {getattr(route, "path", "") for route in request.app.routes}
    links = []
    if "/v1/boards/{board_id}/export.xlsx" in paths:
        links.append({"href": f"/v1/boards/{board_id}/export.xlsx", "text": "Excel (XLSX)"})
    if "/v1/boards/{board_id}/export.csv" in paths:
        base = f"/v1/boards/{board_id}/export.csv"
        links.append({"href": base, "text": "CSV"})
        links.append({"href": f"{base}?dialect=excel-de", "text": "CSV (German Excel)"})
    return links


def _board_page(
    request: Request, session: Session, signed_in: WebSession, board_id: int, **extra: Any
) -> Response:
    board = session.get(Board, board_id)
    if board is None or board.workspace_id != signed_in.key.workspace_id:
        return _not_found(signed_in, f"board {board_id}")
    number = board.latest_revision_number
    streams: list[RevisionStream] = []
    if number is not None:
        streams = list(
            session.exec(
                select(RevisionStream)
                .join(Stream, col(Stream.id) == col(RevisionStream.stream_id))
                .where(Stream.board_id == board.id, RevisionStream.revision_number == number)
                .order_by(col(RevisionStream.position))
                .limit(200)
            ).all()
        )
    jobs = session.exec(
        select(ImportJob)
        .where(ImportJob.board_id == board.id)
        .order_by(col(ImportJob.id).desc())
        .limit(10)
    ).all()
    return page(
        "board.html",
        signed_in=signed_in,
        board=board,
        number=number,
        streams=streams,
        jobs=jobs,
        explain=_explain_link(request, board_id, number) if number else None,
        downloads=_downloads(request, board_id),
        share=extra.get("share"),
        labels=board_labels(session, board_id),
        label_error=extra.get("label_error"),
    )


@pages.get("/boards/{board_id}", response_class=HTMLResponse)
def board_page(board_id: int, request: Request, session: SessionDep) -> Response:
    signed_in = current_session(request, session)
    if signed_in is None:
        return _to_login(request)
    return _board_page(request, session, signed_in, board_id)


@pages.post("/boards/{board_id}/share", response_class=HTMLResponse)
async def share_from_page(
    board_id: int, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    from service.api.routes.render import share_board

    signed_in = current_session(request, session)
    if signed_in is None:
        return _to_login(request)
    form = await request.form(max_files=0, max_fields=4)
    if not same_origin(request) or not tokens_match(signed_in.csrf, form.get("csrf")):
        return _refused(signed_in)
    try:
        share = share_board(
            board_id,
            signed_in.key.workspace_id,
            session,
            settings,
            request.app.state.runtime.share_secret,
            request,
            None,
        )
    except ProblemError:
        return _not_found(signed_in, f"board {board_id} with a revision")
    return _board_page(request, session, signed_in, board_id, share=share)


@pages.get("/streams/{stream_id}/map", response_class=HTMLResponse)
def map_page(
    stream_id: int,
    request: Request,
    session: SessionDep,
    revision: int | None = None,
    zoom: int = 100,
) -> Response:
    signed_in = current_session(request, session)
    if signed_in is None:
        return _to_login(request)
    row = session.exec(
        select(RevisionStream, Stream, Board)
        .join(Stream, col(Stream.id) == col(RevisionStream.stream_id))
        .join(Board, col(Board.id) == col(Stream.board_id))
        .where(
            RevisionStream.stream_id == stream_id,
            Board.workspace_id == signed_in.key.workspace_id,
        )
        .order_by(
            (col(RevisionStream.revision_number) == revision).desc(),
            col(RevisionStream.revision_number).desc(),
        )
        .limit(1)
    ).first()
    if row is None:
        return _not_found(signed_in, f"stream {stream_id}")
    stream_row, _, board = row
    drawn = render_stream_map(decode_stream(stream_row.data))
    scale = (zoom if zoom in ZOOMS else 100) / 100
    return page(
        "map.html",
        signed_in=signed_in,
        name=stream_row.name,
        board_id=board.id,
        board_name=board.name or board.external_id,
        revision=stream_row.revision_number,
        zoom=zoom if zoom in ZOOMS else 100,
        zooms=ZOOMS,
        svg=f"/v1/streams/{stream_id}/map.svg?revision={stream_row.revision_number}",
        width=round(drawn.width * scale),
        height=round(drawn.height * scale),
    )


@pages.get("/connections/{connection_id}/boards", response_class=HTMLResponse)
def picker_page(
    connection_id: int,
    request: Request,
    session: SessionDep,
    kind: Annotated[str | None, Query(max_length=20)] = None,
    workspace_id: Annotated[str | None, Query(max_length=200)] = None,
    room_id: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=2500)] = None,
) -> Response:
    """The board picker of a connection: its remote boards (Mural: workspaces, rooms, murals)
    a page at a time, each board with a form button that imports it."""
    signed_in = current_session(request, session)
    if signed_in is None:
        return _to_login(request)
    workspace = signed_in.key.workspace_id
    row = connection_in_workspace(session, workspace, connection_id)
    if row is None:
        return _not_found(signed_in, f"connection {connection_id}")
    connection = connection_summary(row)
    live = provider_live(request, row.provider)
    first_kind = live.source.browse_kinds[0] if live is not None else ""
    try:
        browse = Browse(
            kind=kind,
            workspace_id=workspace_id,
            room_id=room_id,
            limit=PICKS_PER_PAGE,
            position=None if cursor is None else decode_cursor(cursor),
        )
        remote = remote_page(request, session, workspace, connection_id, browse)
    except ProviderError as exc:
        return _problem_page(signed_in, provider_problem(exc), _NOT_LISTED)
    except ProblemError as exc:
        return _problem_page(signed_in, exc, _NOT_LISTED)
    filters = {"kind": kind, "workspace_id": workspace_id, "room_id": room_id}
    shown = {k: v for k, v in filters.items() if v is not None}
    following = remote.next_cursor
    return page(
        "picker.html",
        signed_in=signed_in,
        connection=connection,
        label=live.label if live is not None else row.provider,
        items=remote.items,
        kind=kind or first_kind,
        first_kind=first_kind,
        start=request.url.path,
        next_link=f"?{urlencode({**shown, 'cursor': following})}" if following else None,
    )


def _problem_page(
    signed_in: WebSession,
    problem: ProblemError,
    heading: str,
    link: tuple[str, str] = ("/web/boards", "Back to the boards"),
) -> HTMLResponse:
    """A problem of the API's use cases as a page: its status, its detail."""
    return page(
        "message.html",
        signed_in=signed_in,
        status=problem.kind.status,
        heading=heading,
        text=problem.detail or problem.kind.title,
        link=link[0],
        link_text=link[1],
    )


@pages.post("/connections/{connection_id}/boards", response_class=HTMLResponse)
async def pick_board(connection_id: int, request: Request, session: SessionDep) -> Response:
    """The picker's form button: connect the board and queue its first import (the use case
    behind ``POST /v1/boards``), then show the board's page."""
    signed_in = current_session(request, session)
    if signed_in is None:
        return _to_login(request)
    session.rollback()
    form = await request.form(max_files=0, max_fields=4)
    if not same_origin(request) or not tokens_match(signed_in.csrf, form.get("csrf")):
        return _refused(signed_in)
    external_id = form.get("external_id")
    try:
        body = ConnectBoard(
            connection_id=connection_id,
            external_id=external_id if isinstance(external_id, str) else "",
        )
        added = await run_in_threadpool(
            add_live_board, request, session, signed_in.key.workspace_id, body
        )
    except ValidationError:
        problem = ProblemError("validation-error", "That is not a board id.")
        return _problem_page(signed_in, problem, _NOT_ADDED)
    except ProblemError as exc:
        return _problem_page(signed_in, exc, _NOT_ADDED)
    return RedirectResponse(f"/web/boards/{added.board_id}", status_code=303)


@pages.get("/imports", response_class=HTMLResponse)
def imports_page(request: Request, session: SessionDep) -> Response:
    signed_in = current_session(request, session)
    if signed_in is None:
        return _to_login(request)
    jobs = session.exec(
        select(ImportJob)
        .where(ImportJob.workspace_id == signed_in.key.workspace_id)
        .order_by(col(ImportJob.id).desc())
        .limit(JOBS_PER_PAGE)
    ).all()
    running = any(not JobStatus(job.status).finished for job in jobs)
    return page("imports.html", signed_in=signed_in, jobs=jobs, running=running)


@pages.get("/imports/{job_id}", response_class=HTMLResponse)
def import_page(job_id: int, request: Request, session: SessionDep) -> Response:
    signed_in = current_session(request, session)
    if signed_in is None:
        return _to_login(request)
    job = session.get(ImportJob, job_id)
    if job is None or job.workspace_id != signed_in.key.workspace_id:
        return _not_found(signed_in, f"import job {job_id}")
    finished = JobStatus(job.status).finished
    percent = 100 if finished else progress_percent(job.phase, job.items_done, job.items_total)
    return page("import.html", signed_in=signed_in, job=job, finished=finished, percent=percent)


@pages.post("/imports", response_class=HTMLResponse)
async def import_upload(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    runtime: RuntimeDep,
) -> Response:
    signed_in = current_session(request, session)
    if signed_in is None:
        return _to_login(request)
    session.rollback()
    if not same_origin(request):
        return _refused(signed_in)
    try:
        upload = await read_json_upload(request, settings.max_dump_bytes, file_field="file")
        if not tokens_match(
            signed_in.csrf, upload.fields.get("csrf", b"").decode("utf-8", "replace")
        ):
            return _refused(signed_in)
        _, board = await decode_dump(upload.raw)
    except ProblemError as exc:
        return _problem_page(
            signed_in,
            exc,
            "The file was not imported",
            ("/web/imports", "Back to the imports"),
        )
    workspace_id = signed_in.key.workspace_id

    def submit() -> int:
        begin_write(session)
        job, _ = submit_import(
            session, runtime.uploads, workspace_id, upload.raw, board, trigger="web"
        )
        session.commit()
        assert job.id is not None
        return job.id

    job_id = await run_in_threadpool(submit)
    dispatcher.publish(IMPORT_TASK, job_id)
    return RedirectResponse(f"/web/imports/{job_id}", status_code=303)


router = APIRouter(include_in_schema=False)


@router.get("/")
def root() -> RedirectResponse:
    """The bare address opens the front door (the API lives under /v1, its docs at /docs)."""
    return RedirectResponse("/web/", status_code=307)


router.include_router(pages)
