"""The output formats of ``vsm import`` other than JSON: the rich table, markdown, CSV, SVG,
the HTML report and the workbook.

Apart from ``service.cli.imports`` so that ``vsm import --format json`` (and every other
command) does not import rich, the typed contract, jinja2 and the exporters it does not use.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from service.cli.imports import FORMATS
from service.domain.contract_model import Contract, ContractStream, decode_contract
from service.domain.export import (
    PROBLEM_RANKS_HEADER,
    attached_to,
    comparison_rows,
    contract_to_markdown,
    format_minutes,
    format_percent,
    metric_rows,
    problem_ranks,
    safe_text,
    step_labels,
    step_problem_ranks,
    streams_to_csv,
)

# Width of the table when it does not go to a terminal (file, pipe, test capture).
FILE_WIDTH = 120

_MISSING = "\u2013"  # en dash: "unknown"


def print_table(doc: Mapping[str, Any]) -> None:
    """The table on standard output (a terminal's width, else ``FILE_WIDTH``)."""
    render_table(decode_contract(doc), Console(width=None if sys.stdout.isatty() else FILE_WIDTH))


def render(
    doc: Mapping[str, Any], fmt: str, *, stream: str | None = None, csv_dialect: str = "excel"
) -> str:
    """The contract document in one of ``FORMATS`` as text (the table without colours).

    ``svg`` draws one stream (``stream``: id, name or 1-based position; default the first) and
    raises ``LookupError`` when there is no such stream; ``html`` is the whole report page.
    """
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if fmt not in FORMATS or fmt == "xlsx":
        raise ValueError(f"unknown text format {fmt!r}")
    contract = decode_contract(doc)
    # The renderers load with their format only: jinja2 and the report page's template cost
    # the table and the other text formats about a tenth of their time (bench/cli_import.py).
    if fmt == "svg":
        from service.domain.render.svg import render_stream_svg, select_stream

        return render_stream_svg(select_stream(contract, stream))
    if fmt == "html":
        from service.domain.render.html import render_report_html

        return render_report_html(contract)
    if fmt == "markdown":
        return contract_to_markdown(contract)
    if fmt == "csv":
        return streams_to_csv(contract.streams, dialect=csv_dialect)
    buffer = io.StringIO()
    render_table(
        contract,
        Console(file=buffer, width=FILE_WIDTH, color_system=None, force_terminal=False),
    )
    return buffer.getvalue()


def _t(value: object, style: str = "") -> Text:
    """Board text as a rich ``Text``: never parsed as markup, control characters removed."""
    text = safe_text(value)
    return Text(text if text else _MISSING, style=style)


def _yes_no(value: object) -> Text:
    if value is None:
        return _t(None)
    return Text("yes", style="green") if value else Text("no", style="red")


def render_table(doc: Contract, console: Console) -> None:
    """Print the document for people: per stream its steps, problems, ideas and metrics."""
    board = doc.board
    heading = Text(safe_text(board.name) or "(unnamed board)", style="bold")
    heading.append(f"  {safe_text(board.provider)} board {safe_text(board.id)}", style="dim")
    console.print(heading)
    console.print()
    if not doc.streams:
        console.print(Text("No value stream found on this board."))
        console.print()
    for stream in doc.streams:
        _render_stream(stream, console)
    comparison = doc.comparison
    if comparison is not None:
        table = _table("Current vs target state", show_header=False)
        table.add_column("")
        table.add_column("Value")
        for label, value in comparison_rows(comparison):
            table.add_row(Text(label), _t(value))
        console.print(table)
        console.print()
    if doc.warnings:
        table = _table("Warnings")
        table.add_column("Warning")
        table.add_column("What to change")
        for warning in doc.warnings:
            table.add_row(_t(warning.message, "yellow"), _t(warning.fix))
        console.print(table)
        console.print()
    unclassified = doc.unclassified
    console.print(
        Text(
            f"Unclassified items: {len(unclassified)}"
            + (" (see --format json or markdown for the list)" if unclassified else ""),
            style="dim" if not unclassified else "yellow",
        )
    )


def _width(header: str | None, cells: Iterable[Text]) -> int | None:
    """The width of a column of short values that are never wrapped (numbers, times, yes/no,
    metric labels): its widest cell or its header (None: not shown); None for no cells at all.

    Given to rich as the column's ``width``, it spares rich measuring every cell of the column
    before laying the table out (``Table._measure_column``): drawing the tables of a
    1,000-sticky board took a fifth less CPU. The layout is rich's; on a terminal too narrow
    for the table, rich narrows and wraps the text columns and leaves these whole.
    """
    widths = [cell.cell_len for cell in cells]
    if header is not None:
        widths.append(cell_len(header))
    return max(widths) if widths else None


def _table(title: str, *, show_header: bool = True) -> Table:
    return Table(
        title=Text(title, style="bold"),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        show_header=show_header,
    )


def _render_stream(stream: ContractStream, console: Console) -> None:
    title = Text(safe_text(stream.name) or "(unnamed stream)", style="bold cyan")
    title.append(f"  {safe_text(stream.state)}", style="cyan")
    console.print(title)
    if stream.persona:
        console.print(Text("Persona: ") + _t(stream.persona))
    lanes = [safe_text(lane) for lane in stream.lanes]
    if lanes:
        console.print(Text("Lanes: " + ", ".join(lanes)))

    steps = stream.steps
    labels = step_labels(stream)
    # a board without swimlanes gets no column of dashes
    show_lane = any(step.lane for step in steps)
    ranks = problem_ranks(stream)
    cells = [
        (
            Text(str(step.order)),
            _yes_no(step.value_adding),
            Text(format_minutes(step.process_time_min)),
            Text(format_minutes(step.lead_time_min)),
            Text(format_minutes(step.wait_time_min)),
            Text(format_percent(step.complete_accurate_pct)),
        )
        for step in steps
    ]
    table = _table("Steps")
    table.add_column("#", justify="right", width=_width("#", (row[0] for row in cells)))
    table.add_column("Step")
    if show_lane:
        table.add_column("Lane")
    table.add_column("VA", width=_width("VA", (row[1] for row in cells)))
    for index, name in enumerate(("PT", "LT", "WT", "%C&A"), start=2):
        table.add_column(name, justify="right", width=_width(name, (row[index] for row in cells)))
    table.add_column(PROBLEM_RANKS_HEADER, justify="right")
    for step, (order, value_adding, *figures) in zip(steps, cells, strict=True):
        lane = [_t(step.lane)] if show_lane else []
        ranked = Text(step_problem_ranks(step, ranks))
        table.add_row(order, _t(step.title), *lane, value_adding, *figures, ranked)
    console.print(table)
    console.print()

    problems = stream.problems
    if problems:
        rank_cells = [Text(str(rank)) for rank in range(1, len(problems) + 1)]
        vote_cells = [Text(str(problem.weight)) for problem in problems]
        table = _table("Problems (most votes first)")
        table.add_column("Rank", justify="right", width=_width("Rank", rank_cells))
        table.add_column("Votes", justify="right", width=_width("Votes", vote_cells))
        table.add_column("Problem")
        table.add_column("Step")
        for rank, votes, problem in zip(rank_cells, vote_cells, problems, strict=True):
            table.add_row(rank, votes, _t(problem.text), _t(attached_to(labels, problem.step_id)))
        console.print(table)
        console.print()

    ideas = stream.ideas
    if ideas:
        table = _table("Ideas")
        table.add_column("Idea")
        table.add_column("Step")
        for idea in ideas:
            table.add_row(_t(idea.text), _t(attached_to(labels, idea.step_id)))
        console.print(table)
        console.print()

    rows = [(Text(label), Text(value)) for label, value in metric_rows(stream.metrics)]
    table = _table("Metrics", show_header=False)
    table.add_column("Metric", width=_width(None, (label for label, _ in rows)))
    table.add_column("Value", justify="right", width=_width(None, (value for _, value in rows)))
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)
    console.print()
