"""The portfolio as a file: CSV (RFC 4180) and XLSX, one row per stream.

Both carry the same columns. Numbers stay numbers (minutes, fractions, counts; empty when
unknown) so a spreadsheet can sort and chart them; every text is cleaned and guarded against
formula injection (``export.csv_cell``): openpyxl would otherwise store a board text starting
with ``=`` as a live formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from service.domain.export import csv_cell
from service.domain.portfolio import PortfolioRow

COLUMNS = (
    "board_id",
    "board",
    "revision",
    "stream_id",
    "stream",
    "state",
    "labels",
    "lead_time_min",
    "process_time_min",
    "activity_ratio",
    "rolled_complete_accurate",
    "handoffs",
    "problem_count",
    "problem_weight",
    "step_count",
    "target_stream",
    "target_lead_time_change_min",
    "target_lead_time_change_pct",
    "target_activity_ratio_change",
)


def _labels(row: PortfolioRow) -> str:
    return "; ".join(f"{key}: {value}" for key, value in sorted(row.labels.items()))


def table(rows: Sequence[PortfolioRow]) -> list[list[str | int | float]]:
    """The header and one list of cell values per row, in ``rows`` order."""
    body: list[list[str | int | float]] = [list(COLUMNS)]
    for row in rows:
        figures, gap = row.figures, row.gap
        values = (
            row.board_id,
            row.board_name,
            row.revision,
            row.stream_id,
            row.name,
            row.state,
            _labels(row),
            figures.total_lead_time_min,
            figures.total_process_time_min,
            figures.activity_ratio,
            figures.rolled_complete_accurate,
            figures.handoffs,
            figures.problem_count,
            figures.problem_weight,
            figures.step_count,
            None if gap is None else gap.target_name,
            None if gap is None else gap.lead_time_change_min,
            None if gap is None else gap.lead_time_change_pct,
            None if gap is None else gap.activity_ratio_change,
        )
        body.append([csv_cell(value) for value in values])
    return body


def portfolio_to_csv(rows: Sequence[PortfolioRow]) -> str:
    """The portfolio as CSV text with a header row; lines end with CRLF."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows(table(rows))
    return buffer.getvalue()


def portfolio_to_xlsx(rows: Sequence[PortfolioRow]) -> bytes:
    """The portfolio as an XLSX workbook: one sheet, a bold frozen header row."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Portfolio")
    sheet.freeze_panes = "A2"
    header, *body = table(rows)
    bold = Font(bold=True)
    heading = []
    for value in header:
        cell = WriteOnlyCell(sheet, value=value)
        cell.font = bold
        heading.append(cell)
    sheet.append(heading)
    for values in body:
        sheet.append([None if value == "" else value for value in values])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
