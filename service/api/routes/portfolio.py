"""Across boards: board labels, the workspace portfolio (JSON, CSV, XLSX, scatter chart), the
recurring problems, and each board's trends over its revisions (JSON and SVG chart).

Everything is computed per request from stored revisions (no provider call) and scoped by the
key's workspace: another workspace's board is never listed and is a 404 when named.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.dataclasses import dataclass as pydantic_dataclass
from sqlmodel import Session

from service.api.deps import PageDep, PageParams, SessionDep, SettingsDep, WorkspaceDep
from service.api.deps import encode_cursor as encode_position
from service.api.problems import ProblemError, responses
from service.api.routes.boards import board_or_404
from service.api.schemas import Page, served_as
from service.db.engine import begin_write
from service.domain.contract_model import ContractMetrics, ContractStream
from service.domain.portfolio import (
    FIGURE_KEYS,
    SORT_FIELDS,
    Direction,
    PortfolioRow,
    board_rows,
    position,
    rows_after,
    sort_rows,
)
from service.domain.portfolio_export import portfolio_to_csv, portfolio_to_xlsx
from service.domain.recurring import Occurrence, ProblemGroup, group_problems
from service.domain.render.charts import (
    FIGURE_UNITS,
    Dot,
    scatter_chart_svg,
    trend_chart_svg,
)
from service.domain.render.svg import step_element_id, stream_element_id
from service.domain.render.trends_html import trend_series
from service.domain.trends import Delta, Trend, TrendPoint, since_last_workshop
from service.usecases.portfolio import (
    LabelError,
    board_labels,
    board_trends,
    check_labels,
    load_portfolio,
    load_problems,
    parse_label_filter,
    replace_labels,
)

router = APIRouter(tags=["portfolio"])

# the most rows an export or a chart holds (a thousand boards have about two thousand streams)
MAX_EXPORT_ROWS = 20_000
# occurrences listed per problem group (``occurrence_count`` has them all)
MAX_OCCURRENCES = 100
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

SortField = Literal[
    "board_name",
    "name",
    "lead_time_min",
    "process_time_min",
    "activity_ratio",
    "rolled_complete_accurate",
    "handoffs",
    "problem_weight",
    "problem_count",
    "step_count",
    "lead_time_change_pct",
    "activity_ratio_change",
]
LabelQuery = Annotated[
    list[str],
    Query(
        max_length=10,
        description="`key:value`, repeatable; a board must carry every label given.",
    ),
]
SortQuery = Annotated[SortField, Query(description="The column to sort by.")]
OrderQuery = Annotated[Literal["asc", "desc"], Query(description="Unknown values come last.")]
Figure = Literal[
    "lead_time_min",
    "process_time_min",
    "activity_ratio",
    "rolled_complete_accurate",
    "handoffs",
    "problem_weight",
    "step_count",
]
# the query types list what the core accepts, no more and no less
assert set(get_args(SortField)) == set(SORT_FIELDS)
assert set(get_args(Figure)) == set(FIGURE_UNITS)


class LabelsUpdate(BaseModel):
    """The board's labels, replacing the ones it has: ``{"client": "acme"}``; ``{}`` clears."""

    model_config = ConfigDict(extra="forbid")

    labels: dict[Annotated[str, Field(max_length=50)], Annotated[str, Field(max_length=200)]]


class LabelsPublic(BaseModel):
    board_id: int
    labels: dict[str, str]


class FiguresPublic(BaseModel):
    """Minutes; ``activity_ratio`` and ``rolled_complete_accurate`` are fractions (0-1)."""

    lead_time_min: float | None
    process_time_min: float | None
    activity_ratio: float | None
    rolled_complete_accurate: float | None
    handoffs: int | None
    problem_weight: int | None
    problem_count: int | None
    step_count: int | None


def figures_public(metrics: ContractMetrics) -> FiguresPublic:
    return FiguresPublic(**{name: getattr(metrics, field) for name, field in FIGURE_KEYS.items()})


# The responses below are the core's own dataclasses, served by pydantic; only what the API
# shows differently is declared again: the figures under their API names (``FIGURE_KEYS``).
Figures = Annotated[ContractMetrics, PlainSerializer(figures_public, return_type=FiguresPublic)]


@pydantic_dataclass(frozen=True)
class PortfolioRowPublic(PortfolioRow):
    """A stream's key figures; ``gap`` is null when no target state is paired with it."""

    figures: Figures


@pydantic_dataclass(frozen=True)
class OccurrencePublic(Occurrence):
    """One problem on a stream; ``report_url`` is the board's report page at the problem's step
    (at the stream when the problem is on the whole stream)."""

    stream_key: Annotated[str, Field(exclude=True)]
    report_url: str


class ProblemGroupPublic(BaseModel):
    key: str = Field(description="The normalised text the group was formed around.")
    title: str = Field(description="The most-voted text of the group.")
    total_votes: int
    boards: int
    places: int = Field(description="Distinct streams and steps the problem appears on.")
    occurrence_count: int
    occurrences: list[OccurrencePublic] = Field(description=f"At most {MAX_OCCURRENCES}.")


@pydantic_dataclass(frozen=True)
class TrendPointPublic(TrendPoint):
    figures: Figures


class TrendPublic(BaseModel):
    name: str
    state: str
    stream_id: int = Field(description="The stream of the latest point.")
    points: list[TrendPointPublic]
    since_last_workshop: Delta | None


class BoardTrendsPublic(BaseModel):
    board_id: int
    trends: list[TrendPublic]


def _wanted(label: list[str]) -> dict[str, str]:
    try:
        return parse_label_filter(label)
    except LabelError as exc:
        raise ProblemError(
            "validation-error", str(exc), errors=[{"field": "query.label", "message": str(exc)}]
        ) from exc


def portfolio_rows(session: Session, workspace_id: int, label: list[str]) -> list[PortfolioRow]:
    """Every portfolio row of the workspace's boards carrying the labels, in board order."""
    return [
        row
        for board, ruleset in load_portfolio(session, workspace_id, _wanted(label))
        for row in board_rows(board, ruleset)
    ]


def _invalid_cursor() -> ProblemError:
    return ProblemError("invalid-cursor", "Pass the next_cursor of a previous page.")


def _after(page: PageParams, sort: str, order: str) -> tuple[Any, int] | None:
    cursor = page.cursor
    if cursor is None:
        return None
    stream_id = cursor.get("id")
    if (
        cursor.get("sort") != sort
        or cursor.get("order") != order
        or isinstance(stream_id, bool)
        or not isinstance(stream_id, int)
    ):
        raise _invalid_cursor()
    return cursor.get("v"), stream_id


@router.get(
    "/portfolio", response_model=Page[PortfolioRowPublic], responses=responses(400, 401, 422)
)
def list_portfolio(
    workspace_id: WorkspaceDep,
    session: SessionDep,
    page: PageDep,
    label: LabelQuery = [],  # noqa: B006 - FastAPI copies query defaults
    sort: SortQuery = "board_name",
    order: OrderQuery = "asc",
) -> Page[PortfolioRowPublic]:
    """The latest revision's streams of every board in the workspace (target states are the
    ``gap`` of the current state they are paired with, not rows), with their key figures."""
    return portfolio_page(portfolio_rows(session, workspace_id, label), page, sort, order)


def portfolio_page(
    rows: list[PortfolioRow], page: PageParams, sort: str, order: Direction
) -> Page[PortfolioRowPublic]:
    """One page of ``rows`` sorted by ``sort`` in ``order``, after the page's cursor."""
    after = _after(page, sort, order)
    try:
        ordered = (
            sort_rows(rows, sort, order) if after is None else rows_after(rows, sort, order, after)
        )
    except ValueError as exc:
        raise _invalid_cursor() from exc
    shown = ordered[: page.limit]
    more = len(ordered) > page.limit
    next_cursor = None
    if more and shown:
        value, stream_id = position(shown[-1], sort)
        next_cursor = encode_position({"sort": sort, "order": order, "v": value, "id": stream_id})
    return Page(
        items=[served_as(PortfolioRowPublic, r) for r in shown],
        limit=page.limit,
        next_cursor=next_cursor,
    )


@router.get(
    "/portfolio/export",
    response_class=Response,
    responses={
        **responses(401, 422),
        200: {
            "content": {
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            },
            "description": "The whole portfolio as a file",
        },
    },
)
def export_portfolio(
    workspace_id: WorkspaceDep,
    session: SessionDep,
    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
    label: LabelQuery = [],  # noqa: B006 - FastAPI copies query defaults
    sort: SortQuery = "board_name",
    order: OrderQuery = "asc",
) -> Response:
    """Every row of the portfolio (not paged, at most 20,000) as CSV or XLSX."""
    rows = sort_rows(portfolio_rows(session, workspace_id, label), sort, order)[:MAX_EXPORT_ROWS]
    headers = {"X-Content-Type-Options": "nosniff"}
    if format == "xlsx":
        headers["Content-Disposition"] = 'attachment; filename="portfolio.xlsx"'
        return Response(
            portfolio_to_xlsx(rows),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers=headers,
        )
    headers["Content-Disposition"] = 'attachment; filename="portfolio.csv"'
    return Response(portfolio_to_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)


def scatter_dots(
    rows: list[PortfolioRow], link: Callable[[PortfolioRow], str] | None = None
) -> list[Dot]:
    """The streams the scatter can place (lead time above 0 and an activity ratio known),
    labelled with their board's name (the stream's in the tooltip), each linked to ``link(row)``
    when given."""
    return [
        Dot(
            # the board tells the dots apart: most streams are called Ist-Zustand or Current
            label=row.board_name,
            detail=row.name,
            lead_time_min=lead,
            activity_ratio=ratio,
            href=None if link is None else link(row),
        )
        for row in rows
        if (lead := row.figures.total_lead_time_min) is not None
        and lead > 0
        and (ratio := row.figures.activity_ratio) is not None
    ]


def _svg_response(svg: str, filename: str) -> Response:
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": SVG_CSP,
            "Cache-Control": "private, no-cache",
            "Content-Disposition": f'inline; filename="{filename}"',
        },
    )


@router.get(
    "/portfolio/chart.svg",
    response_class=Response,
    responses={
        **responses(401, 422),
        200: {"content": {"image/svg+xml": {}}, "description": "The scatter chart"},
    },
)
def portfolio_chart(
    workspace_id: WorkspaceDep,
    session: SessionDep,
    label: LabelQuery = [],  # noqa: B006 - FastAPI copies query defaults
) -> Response:
    """Lead time (log scale) against activity ratio, one labelled dot per stream."""
    rows = sort_rows(portfolio_rows(session, workspace_id, label), "activity_ratio", "asc")
    return _svg_response(scatter_chart_svg(scatter_dots(rows[:MAX_EXPORT_ROWS])), "portfolio.svg")


def problem_groups(
    session: Session, workspace_id: int, label: list[str], similarity: float
) -> list[ProblemGroup]:
    return group_problems(load_problems(session, workspace_id, _wanted(label)), similarity)


def report_url(occurrence: Occurrence) -> str:
    """The board's report page at the problem's step (its row in the stream's steps table), or
    at the stream for a problem on the whole stream."""
    stream = ContractStream(id=occurrence.stream_key)
    anchor = (
        stream_element_id(stream)
        if occurrence.step_id is None
        else step_element_id(stream, occurrence.step_id)
    )
    return f"/v1/boards/{occurrence.board_id}/report.html#{anchor}"


def _group_public(group: ProblemGroup) -> ProblemGroupPublic:
    return ProblemGroupPublic(
        key=group.key,
        title=group.title,
        total_votes=group.total_votes,
        boards=group.boards,
        places=group.places,
        occurrence_count=len(group.occurrences),
        occurrences=[
            served_as(OccurrencePublic, o, report_url=report_url(o))
            for o in group.occurrences[:MAX_OCCURRENCES]
        ],
    )


def _group_position(group: ProblemGroup) -> list[Any]:
    return [-group.boards, -group.places, -group.total_votes, group.key]


@router.get(
    "/portfolio/problems",
    response_model=Page[ProblemGroupPublic],
    responses=responses(400, 401, 422),
)
def list_recurring_problems(
    workspace_id: WorkspaceDep,
    session: SessionDep,
    settings: SettingsDep,
    page: PageDep,
    label: LabelQuery = [],  # noqa: B006 - FastAPI copies query defaults
    similarity: Annotated[
        float | None,
        Query(ge=0.3, le=1.0, description="0-1; default `VSM_PROBLEM_SIMILARITY` (0.75)."),
    ] = None,
) -> Page[ProblemGroupPublic]:
    """Problems that appear at least twice across the latest revisions' streams (target
    states left out), grouped by similar text, by reach: most boards, then most places, then
    most votes."""
    threshold = settings.problem_similarity if similarity is None else similarity
    groups = problem_groups(session, workspace_id, label, threshold)
    return problems_page(groups, page, threshold)


def problems_page(
    groups: list[ProblemGroup], page: PageParams, threshold: float
) -> Page[ProblemGroupPublic]:
    """One page of ``groups`` (in reach order) after the page's cursor."""
    if page.cursor is not None:
        after = page.cursor.get("after")
        valid = (
            isinstance(after, list)
            and len(after) == 4
            and all(isinstance(v, int) and not isinstance(v, bool) for v in after[:3])
            and isinstance(after[3], str)
        )
        if not isinstance(after, list) or not valid:
            raise _invalid_cursor()
        if page.cursor.get("similarity") != threshold:
            raise _invalid_cursor()
        groups = [g for g in groups if _group_position(g) > after]
    shown = groups[: page.limit]
    next_cursor = (
        encode_position({"after": _group_position(shown[-1]), "similarity": threshold})
        if len(groups) > page.limit and shown
        else None
    )
    return Page(items=[_group_public(g) for g in shown], limit=page.limit, next_cursor=next_cursor)


def trends_or_404(session: Session, workspace_id: int, board_id: int) -> list[Trend]:
    """The trends of a board in the workspace (404 problem otherwise)."""
    return board_trends(session, board_or_404(session, workspace_id, board_id))


def _trend_public(trend: Trend) -> TrendPublic:
    delta = since_last_workshop(trend)
    return TrendPublic(
        name=trend.name,
        state=trend.state,
        stream_id=trend.latest.stream_id,
        points=[served_as(TrendPointPublic, p) for p in trend.points],
        since_last_workshop=delta,
    )


@router.get(
    "/boards/{board_id}/trends",
    response_model=BoardTrendsPublic,
    responses=responses(401, 404, 422),
)
def get_board_trends(
    board_id: int, workspace_id: WorkspaceDep, session: SessionDep
) -> BoardTrendsPublic:
    """Each stream of the board followed across its newest 100 revisions (by its frame, else
    by its title; see docs/portfolio.md), with the change since the last workshop."""
    trends = trends_or_404(session, workspace_id, board_id)
    return BoardTrendsPublic(board_id=board_id, trends=[_trend_public(t) for t in trends])


@router.get(
    "/boards/{board_id}/trends.svg",
    response_class=Response,
    responses={
        **responses(401, 404, 422),
        200: {"content": {"image/svg+xml": {}}, "description": "The trend chart"},
    },
)
def get_board_trend_chart(
    board_id: int,
    workspace_id: WorkspaceDep,
    session: SessionDep,
    figure: Annotated[Figure, Query(description="The figure to draw.")] = "lead_time_min",
) -> Response:
    """One line per stream of ``figure`` over the board's revisions."""
    trends = trends_or_404(session, workspace_id, board_id)
    return _svg_response(
        trend_chart_svg(trend_series(trends, figure), figure), f"board-{board_id}-trends.svg"
    )


@router.get("/boards/{board_id}/labels", response_model=LabelsPublic, responses=responses(401, 404))
def get_labels(board_id: int, workspace_id: WorkspaceDep, session: SessionDep) -> LabelsPublic:
    """The board's labels (``{"client": "acme", "team": "checkout"}``)."""
    board_or_404(session, workspace_id, board_id)
    return LabelsPublic(board_id=board_id, labels=board_labels(session, board_id))


@router.put(
    "/boards/{board_id}/labels", response_model=LabelsPublic, responses=responses(401, 404, 422)
)
def put_labels(
    board_id: int, body: LabelsUpdate, workspace_id: WorkspaceDep, session: SessionDep
) -> LabelsPublic:
    """Replace the board's labels. Keys: lower-case letters, digits, ``_ . -`` (up to 50);
    values: one line of 1-200 characters; at most 20 labels."""
    begin_write(session)
    board_or_404(session, workspace_id, board_id)
    try:
        labels = check_labels(body.labels)
    except LabelError as exc:
        raise ProblemError(
            "validation-error", str(exc), errors=[{"field": "body.labels", "message": str(exc)}]
        ) from exc
    stored = replace_labels(session, board_id, labels)
    session.commit()
    return LabelsPublic(board_id=board_id, labels=stored)
