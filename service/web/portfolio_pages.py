"""The front door's pages across boards: the portfolio (table and scatter chart), the recurring
problems, and the labels form of a board page.

The figures are the API's (``service.api.routes.portfolio``): the same rows, sort orders, cursors
and groups, scoped by the signed-in key's workspace. The scatter chart is drawn into the page
(its dots link the boards' pages); the board page shows the trend charts as the API's SVG.
"""

from __future__ import annotations

from typing import Any, Literal, get_args
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup
from sqlmodel import Session, col
from starlette.concurrency import run_in_threadpool

from service.api.deps import PageParams, SessionDep, SettingsDep, decode_cursor
from service.api.problems import ProblemError
from service.api.routes.portfolio import (
    LabelQuery,
    OrderQuery,
    PortfolioRowPublic,
    SortField,
    SortQuery,
    portfolio_page,
    portfolio_rows,
    problem_groups,
    problems_page,
    scatter_dots,
)
from service.db.engine import begin_write
from service.db.tables import Board, BoardLabel
from service.domain.portfolio import sort_rows
from service.domain.render.charts import format_figure, scatter_chart_svg
from service.usecases.portfolio import LabelError, board_labels, check_labels, replace_labels
from service.web.pages import page
from service.web.routes import _board_page, _not_found, _refused, _to_login
from service.web.session import WebSession, current_session, same_origin, tokens_match

pages = APIRouter(prefix="/web", include_in_schema=False)

ROWS_PER_PAGE = 50
GROUPS_PER_PAGE = 20
# the label choices the filter offers (distinct key: value pairs of the workspace)
MAX_LABEL_CHOICES = 500
# the similarity thresholds the problems page offers besides the configured default
SIMILARITIES = (0.6, 0.75, 0.9, 1.0)
# column, heading, the order a first click sorts in (figures: the worst first)
COLUMNS: tuple[tuple[str, str, Literal["asc", "desc"]], ...] = (
    ("board_name", "Board", "asc"),
    ("name", "Stream", "asc"),
    ("lead_time_min", "Lead time", "desc"),
    ("process_time_min", "Process time", "desc"),
    ("activity_ratio", "Activity ratio", "asc"),
    ("rolled_complete_accurate", "Rolled %C&A", "asc"),
    ("handoffs", "Handoffs", "desc"),
    ("problem_weight", "Problem votes", "desc"),
    ("step_count", "Steps", "desc"),
    ("lead_time_change_pct", "Lead time to target", "asc"),
)
assert {name for name, _, _ in COLUMNS} <= set(get_args(SortField))


def _figures(row: PortfolioRowPublic) -> dict[str, str]:
    """The row's figures as the table shows them (``?`` unknown)."""
    figures = row.figures
    gap = None if row.gap is None else row.gap.lead_time_change_pct
    return {
        "lead_time": format_figure(figures.total_lead_time_min, "minutes"),
        "process_time": format_figure(figures.total_process_time_min, "minutes"),
        "activity_ratio": format_figure(figures.activity_ratio, "ratio"),
        "rolled": format_figure(figures.rolled_complete_accurate, "ratio"),
        "handoffs": format_figure(figures.handoffs, "count"),
        "votes": format_figure(figures.problem_weight, "count"),
        "steps": format_figure(figures.step_count, "count"),
        "gap": "?" if gap is None else f"{'+' if gap > 0 else ''}{gap:g} %",
    }


def _label_choices(session: Session, workspace_id: int) -> list[str]:
    rows = session.execute(
        sa.select(col(BoardLabel.key), col(BoardLabel.value))
        .join(Board, col(Board.id) == col(BoardLabel.board_id))
        .where(col(Board.workspace_id) == workspace_id)
        .distinct()
        .order_by(col(BoardLabel.key), col(BoardLabel.value))
        .limit(MAX_LABEL_CHOICES)
    ).all()
    return [f"{key}:{value}" for key, value in rows]


def _query(**params: Any) -> str:
    """A query string of ``params`` (lists repeat their key; None and "" are left out)."""
    pairs = [
        (name, item)
        for name, value in params.items()
        for item in (value if isinstance(value, list) else [value])
        if item is not None and item != ""
    ]
    return urlencode(pairs)


def _bad_request(signed_in: WebSession, exc: ProblemError, back: str) -> HTMLResponse:
    return page(
        "message.html",
        signed_in=signed_in,
        status=exc.kind.status,
        heading="This page cannot be shown",
        text=exc.detail or exc.kind.title,
        link=back,
        link_text="Start again",
    )


def _page_params(limit: int, cursor: str | None) -> PageParams:
    return PageParams(limit=limit, cursor=None if cursor is None else decode_cursor(cursor))


@pages.get("/portfolio", response_class=HTMLResponse)
def portfolio_view(
    request: Request,
    session: SessionDep,
    label: LabelQuery = [],  # noqa: B006 - FastAPI copies query defaults
    sort: SortQuery = "board_name",
    order: OrderQuery = "asc",
    cursor: str | None = Query(default=None, max_length=500),
) -> Response:
    signed_in = current_session(request, session)
    if signed_in is None:
        return _to_login(request)
    wanted = [entry for entry in label if entry]
    try:
        rows = portfolio_rows(session, signed_in.key.workspace_id, wanted)
        shown = portfolio_page(rows, _page_params(ROWS_PER_PAGE, cursor), sort, order)
    except ProblemError as exc:
        return _bad_request(signed_in, exc, "/web/portfolio")
    # as the API's chart: the lowest activity ratios first, so they get the visible labels
    charted = sort_rows(rows, "activity_ratio", "asc")
    chart = scatter_chart_svg(scatter_dots(charted, lambda row: f"/web/boards/{row.board_id}"))
    filters = {"label": wanted}
    columns = [
        {
            "name": name,
            "heading": heading,
            "current": name == sort,
            "href": "?"
            + _query(
                **filters,
                sort=name,
                order=("desc" if order == "asc" else "asc") if name == sort else first,
            ),
        }
        for name, heading, first in COLUMNS
    ]
    return page(
        "portfolio.html",
        signed_in=signed_in,
        rows=[(row, _figures(row)) for row in shown.items],
        row_count=len(rows),
        board_count=len({row.board_id for row in rows}),
        columns=columns,
        sort=sort,
        order=order,
        labels=wanted,
        label_choices=_label_choices(session, signed_in.key.workspace_id),
        chart=Markup(chart),  # noqa: S704 - charts.py escapes every board text it draws
        first_page="?" + _query(**filters, sort=sort, order=order) if cursor else None,
        next_page=(
            "?" + _query(**filters, sort=sort, order=order, cursor=shown.next_cursor)
            if shown.next_cursor
            else None
        ),
        exports=[
            (
                "Excel (XLSX)",
                "/v1/portfolio/export?" + _query(format="xlsx", **filters, sort=sort, order=order),
            ),
            (
                "CSV",
                "/v1/portfolio/export?" + _query(format="csv", **filters, sort=sort, order=order),
            ),
        ],
        problems_link="/web/portfolio/problems?" + _query(**filters),
    )


@pages.get("/portfolio/problems", response_class=HTMLResponse)
def problems_view(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    label: LabelQuery = [],  # noqa: B006 - FastAPI copies query defaults
    similarity: float | None = Query(default=None, ge=0.3, le=1.0),
    cursor: str | None = Query(default=None, max_length=500),
) -> Response:
    signed_in = current_session(request, session)
    if signed_in is None:
        return _to_login(request)
    wanted = [entry for entry in label if entry]
    threshold = settings.problem_similarity if similarity is None else similarity
    try:
        groups = problem_groups(session, signed_in.key.workspace_id, wanted, threshold)
        shown = problems_page(groups, _page_params(GROUPS_PER_PAGE, cursor), threshold)
    except ProblemError as exc:
        return _bad_request(signed_in, exc, "/web/portfolio/problems")
    filters: dict[str, Any] = {"label": wanted, "similarity": similarity}
    return page(
        "problems.html",
        signed_in=signed_in,
        groups=shown.items,
        group_count=len(groups),
        threshold=threshold,
        similarities=sorted({*SIMILARITIES, settings.problem_similarity}),
        labels=wanted,
        label_choices=_label_choices(session, signed_in.key.workspace_id),
        first_page="?" + _query(**filters) if cursor else None,
        next_page=(
            "?" + _query(**filters, cursor=shown.next_cursor) if shown.next_cursor else None
        ),
    )


@pages.post("/boards/{board_id}/labels", response_class=HTMLResponse)
async def labels_from_page(board_id: int, request: Request, session: SessionDep) -> Response:
    """The board page's labels form: ``action=set`` with ``key`` and ``value`` sets one label
    (the key lower-cased), ``action=remove`` with ``key`` removes it. Answers the board page."""
    signed_in = current_session(request, session)
    if signed_in is None:
        return _to_login(request)
    form = await request.form(max_files=0, max_fields=6)
    if not same_origin(request) or not tokens_match(signed_in.csrf, form.get("csrf")):
        return _refused(signed_in)
    action, key, value = (form.get(name) for name in ("action", "key", "value"))
    workspace_id = signed_in.key.workspace_id

    def change() -> Response:
        begin_write(session)
        board = session.get(Board, board_id)
        if board is None or board.workspace_id != workspace_id:
            session.rollback()
            return _not_found(signed_in, f"board {board_id}")
        labels = board_labels(session, board_id)
        name = key.strip().lower() if isinstance(key, str) else ""
        try:
            if action == "remove":
                labels.pop(name, None)
            elif action == "set" and isinstance(value, str):
                labels[name] = value
            else:
                raise LabelError("the form sets or removes one label")
            checked = check_labels(labels)
        except LabelError as exc:
            session.rollback()
            response = _board_page(request, session, signed_in, board_id, label_error=str(exc))
            response.status_code = 422
            return response
        replace_labels(session, board_id, checked)
        session.commit()
        return RedirectResponse(f"/web/boards/{board_id}#labels", status_code=303)

    return await run_in_threadpool(change)
