"""``/v1/boards/{id}/export.xlsx`` and ``export.csv``: a board's value streams for spreadsheets."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from service.api.deps import SessionDep, WorkspaceDep
from service.api.problems import responses
from service.api.routes.boards import (
    RevisionQuery,
    board_or_404,
    revision_content_or_404,
    revision_number_or_404,
)
from service.domain.contract_model import decode_contract
from service.domain.export import streams_to_csv
from service.spreadsheet import XLSX_MEDIA_TYPE, contract_to_xlsx

router = APIRouter(prefix="/boards", tags=["exports"])


def _download(content: bytes | str, media_type: str, filename: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(
    "/{board_id}/export.xlsx",
    operation_id="exportBoardXlsx",
    summary="The board's value streams as an Excel workbook",
    response_class=Response,
    responses={
        **responses(401, 404, 422),
        200: {"content": {XLSX_MEDIA_TYPE: {}}, "description": "An XLSX workbook"},
    },
)
async def export_board_xlsx(
    board_id: int, workspace_id: WorkspaceDep, session: SessionDep, revision: RevisionQuery = None
) -> Response:
    """Sheets Steps, Problems, Ideas, Metrics and Comparison of the latest revision (or of
    ``revision``): a header row, frozen panes, numbers as numbers, times in minutes shown as
    ``6.5 min``, percentages as percent. A signed-in browser may fetch it too (docs/web.md)."""
    board = board_or_404(session, workspace_id, board_id)
    number = revision_number_or_404(board, revision)
    _, content = revision_content_or_404(session, board, number)
    data = await run_in_threadpool(contract_to_xlsx, decode_contract(content.result))
    return _download(data, XLSX_MEDIA_TYPE, f"board-{board_id}-r{number}.xlsx")


@router.get(
    "/{board_id}/export.csv",
    operation_id="exportBoardCsv",
    summary="The board's steps as CSV (UTF-8 with BOM)",
    response_class=Response,
    responses={
        **responses(401, 404, 422),
        200: {"content": {"text/csv": {}}, "description": "One row per step of every stream"},
    },
)
def export_board_csv(
    board_id: int,
    workspace_id: WorkspaceDep,
    session: SessionDep,
    revision: RevisionQuery = None,
    dialect: Annotated[
        Literal["excel", "excel-de"],
        Query(
            description="`excel`: comma and decimal point; `excel-de`: semicolon and decimal "
            "comma, as German Excel opens a CSV."
        ),
    ] = "excel",
) -> Response:
    """Every stream's steps, one row each, with times in minutes as numbers. Starts with a
    UTF-8 byte order mark so Excel reads umlauts right."""
    board = board_or_404(session, workspace_id, board_id)
    number = revision_number_or_404(board, revision)
    _, content = revision_content_or_404(session, board, number)
    text = streams_to_csv(decode_contract(content.result).streams, dialect=dialect)
    return _download(text, "text/csv; charset=utf-8", f"board-{board_id}-r{number}.csv")
