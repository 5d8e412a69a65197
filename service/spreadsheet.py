"""A contract v1 document -> an Excel workbook (XLSX) for consultants who go on in Excel.

Sheets: Steps, Problems, Ideas, Metrics, Comparison. Every sheet has a bold header row, frozen
panes below it and a filter; numbers are numbers (times in minutes with a ``min`` display
format, percentages as fractions shown with ``%``), so Excel sums and sorts them. Board text is
untrusted: it is written as text cells, never as formulas, with control characters removed.
Built with openpyxl; the shells (CLI, API) call :func:`contract_to_xlsx`.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from service.domain.contract_model import ComparedStep, Contract
from service.domain.export import problem_ranks, safe_text, step_problem_ranks

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MINUTES = '#,##0.0" min"'
PERCENT = "0%"
INTEGER = "0"
_MAX_TEXT = 32_000  # Excel's cell limit is 32,767 characters


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    width: float
    number_format: str | None = None


Cellish = str | int | float | bool | None


def _text(value: object) -> str:
    return safe_text(value)[:_MAX_TEXT]


def _fraction(pct: float | None) -> float | None:
    return None if pct is None else pct / 100


def _sheet(
    book: Workbook, title: str, columns: Sequence[Column], rows: Iterable[Sequence[Cellish]]
) -> Worksheet:
    sheet: Worksheet = book.create_sheet(title)
    bold = Font(bold=True)
    for index, column in enumerate(columns, start=1):
        sheet.cell(row=1, column=index, value=column.title).font = bold
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    count = 1
    for count, row in enumerate(rows, start=2):
        for index, (column, value) in enumerate(zip(columns, row, strict=True), start=1):
            cell: Cell = sheet.cell(row=count, column=index)
            if isinstance(value, str):
                # Set as text explicitly: openpyxl would store "=..." as a formula.
                cell.value = _text(value)
                cell.data_type = "s"
            else:
                cell.value = value
                if column.number_format is not None and value is not None:
                    cell.number_format = column.number_format
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(count, 1)}"
    return sheet


def _steps(doc: Contract) -> Iterable[Sequence[Cellish]]:
    for stream in doc.streams:
        ranks = problem_ranks(stream)
        weights = {problem.id: problem.weight or 0 for problem in stream.problems}
        for step in stream.steps:
            yield (
                stream.name,
                stream.state or "",
                step.order,
                step.title,
                step.lane or "",
                None if step.value_adding is None else ("yes" if step.value_adding else "no"),
                step.process_time_min,
                step.lead_time_min,
                step.wait_time_min,
                _fraction(step.complete_accurate_pct),
                step_problem_ranks(step, ranks),
                sum(weights.get(pid, 0) for pid in step.problem_ids),
            )


def _problems(doc: Contract) -> Iterable[Sequence[Cellish]]:
    for stream in doc.streams:
        titles = {step.id: f"{step.order}. {step.title}" for step in stream.steps}
        for rank, problem in enumerate(stream.problems, start=1):
            step = titles.get(problem.step_id or "", "whole stream")
            yield (stream.name, rank, problem.weight, problem.text, step)


def _ideas(doc: Contract) -> Iterable[Sequence[Cellish]]:
    for stream in doc.streams:
        titles = {step.id: f"{step.order}. {step.title}" for step in stream.steps}
        for idea in stream.ideas:
            yield (stream.name, idea.text, titles.get(idea.step_id or "", "whole stream"))


def _metrics(doc: Contract) -> Iterable[Sequence[Cellish]]:
    for stream in doc.streams:
        m = stream.metrics
        yield (
            stream.name,
            stream.state or "",
            m.step_count,
            m.value_adding_steps,
            m.total_process_time_min,
            m.total_lead_time_min,
            m.activity_ratio,
            m.rolled_complete_accurate,
            m.handoffs,
            m.problem_count,
            m.problem_weight,
        )


def _compared(kind: str, entry: ComparedStep) -> Sequence[Cellish]:
    return (
        kind,
        entry.current_title or "",
        entry.target_title or "",
        entry.lead_time_change_min,
        _fraction(entry.lead_time_change_pct),
        entry.process_time_change_min,
        _fraction(entry.process_time_change_pct),
    )


def _comparison(doc: Contract) -> Iterable[Sequence[Cellish]]:
    comparison = doc.comparison
    if comparison is None:
        return
    for pair in (comparison, *comparison.other_pairs):
        yield (
            "whole stream",
            pair.current_stream_name or "",
            pair.target_stream_name or "",
            pair.lead_time_change_min,
            _fraction(pair.lead_time_change_pct),
            pair.process_time_change_min,
            _fraction(pair.process_time_change_pct),
        )
        for kind, entries in (
            ("kept", pair.kept),
            ("removed", pair.removed),
            ("added", pair.added),
        ):
            for entry in entries:
                yield _compared(kind, entry)


STEP_COLUMNS = (
    Column("Stream", 22),
    Column("State", 10),
    Column("#", 5, INTEGER),
    Column("Step", 36),
    Column("Lane", 16),
    Column("Value-adding", 12),
    Column("Process time", 13, MINUTES),
    Column("Lead time", 13, MINUTES),
    Column("Wait time", 13, MINUTES),
    Column("%C&A", 8, PERCENT),
    Column("Problem ranks", 14),
    Column("Votes on problems", 12, INTEGER),
)
_CHANGE = '+#,##0.0" min";-#,##0.0" min";0" min"'
_CHANGE_PCT = "+0%;-0%;0%"


def contract_to_xlsx(doc: Contract) -> bytes:
    """The workbook as XLSX bytes."""
    book = Workbook()
    assert book.active is not None
    book.remove(book.active)
    _sheet(book, "Steps", STEP_COLUMNS, _steps(doc))
    _sheet(
        book,
        "Problems",
        (
            Column("Stream", 22),
            Column("Rank", 6, INTEGER),
            Column("Votes", 7, INTEGER),
            Column("Problem", 60),
            Column("Step", 36),
        ),
        _problems(doc),
    )
    _sheet(
        book,
        "Ideas",
        (Column("Stream", 22), Column("Idea", 60), Column("Step", 36)),
        _ideas(doc),
    )
    _sheet(
        book,
        "Metrics",
        (
            Column("Stream", 22),
            Column("State", 10),
            Column("Steps", 7, INTEGER),
            Column("Value-adding steps", 10, INTEGER),
            Column("Total process time", 14, MINUTES),
            Column("Total lead time", 14, MINUTES),
            Column("Activity ratio", 10, "0.0%"),
            Column("Rolled %C&A", 10, "0.0%"),
            Column("Handoffs", 9, INTEGER),
            Column("Problems", 9, INTEGER),
            Column("Votes on problems", 10, INTEGER),
        ),
        _metrics(doc),
    )
    _sheet(
        book,
        "Comparison",
        (
            Column("Change", 13),
            Column("Current", 36),
            Column("Target", 36),
            Column("Lead time change", 15, _CHANGE),
            Column("Lead time change %", 11, _CHANGE_PCT),
            Column("Process time change", 15, _CHANGE),
            Column("Process time change %", 11, _CHANGE_PCT),
        ),
        _comparison(doc),
    )
    book.properties.title = _text(doc.board.name)[:200] or "Value streams"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
