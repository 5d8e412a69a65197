"""``vsm import FILE``: digitize a Miro or Mural dump file and print the value streams.

Formats: ``table`` (rich, for people), ``json`` (contract v1), ``markdown`` and ``csv`` (the same
functions as the REST exports, from ``service.domain.export``). Input errors (missing file,
invalid JSON, not a dump, bad rules file, unwritable output) end with exit status 2 and one line
``vsm: error: ...`` on stderr; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from connectors.dump import DEFAULT_MAX_BYTES, read_dump_file
from connectors.errors import DumpError
from service.cli.progress import show_progress
from service.domain.board import Board
from service.domain.contract_model import Contract, ContractStream, decode_contract
from service.domain.digitize import digitize
from service.domain.export import (
    CSV_DIALECTS,
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
from service.domain.render.html import render_report_html
from service.domain.render.svg import render_stream_svg, select_stream
from service.domain.ruleset import Ruleset
from service.rules_file import RulesError, load_rules_file

FORMATS = ("table", "json", "markdown", "csv", "svg", "html", "xlsx")

# A dump larger than this is refused before parsing (100,000 stickies take about 35 MB).
MAX_DUMP_BYTES = DEFAULT_MAX_BYTES

# Width of the table when it does not go to a terminal (file, pipe, test capture).
_FILE_WIDTH = 120

_MISSING = "\u2013"  # en dash: "unknown"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "import",
        help="digitize a Miro or Mural dump file",
        description=(
            "Read a Miro or Mural board dump (JSON), classify its items and print the value "
            "streams: steps, lanes, times, ranked problems, ideas and metrics."
        ),
        epilog="example: vsm import examples/miro-abo-workshop.json --format xlsx -o abo.xlsx",
    )
    parser.add_argument("file", metavar="FILE", type=Path, help="dump file (JSON)")
    parser.add_argument(
        "--rules", metavar="FILE", type=Path, help="classification rules (YAML or JSON)"
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )
    parser.add_argument(
        "-o", "--output", metavar="OUT", type=Path, help="write to OUT instead of stdout"
    )
    parser.add_argument(
        "--csv-dialect",
        choices=tuple(CSV_DIALECTS),
        default="excel",
        help="with --format csv: excel (comma, decimal point; default) or excel-de "
        "(semicolon, decimal comma, as German Excel opens it)",
    )
    parser.add_argument(
        "--stream",
        metavar="ID|NAME|N",
        help="with --format svg: the stream to draw (default: the first)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress spinner (shown on a terminal only)"
    )
    parser.set_defaults(handler=run_import)


@contextmanager
def _status(first: str, enabled: bool) -> Iterator[Callable[[str], None]]:
    """A spinner with what ``vsm import`` does now, on a terminal's stderr; gone after."""
    if not enabled:
        yield lambda _: None
        return
    with Console(stderr=True).status(first) as spinner:
        yield spinner.update


def _fail(message: str) -> int:
    """Report an input error as the single line ``vsm: error: ...``; returns exit status 2."""
    one_line = " ".join(safe_text(message).split())
    print(f"vsm: error: {one_line}", file=sys.stderr)
    return 2


def _os_message(action: str, path: Path, exc: OSError) -> str:
    return f"cannot {action} {path}: {exc.strerror or exc}"


def _naming(path: Path, message: str, label: str = "") -> str:
    """``message`` with the file named once: kept as is when it already names ``path``."""
    if str(path) in message:
        return message
    if label and message.startswith(label + ":"):
        return f"{label} {path}:{message[len(label) + 1 :]}"
    return f"{path}: {message}"


def read_inputs(args: argparse.Namespace) -> tuple[Board, Ruleset | None] | int:
    """The board of ``args.file`` and the ruleset of ``args.rules`` (None: the defaults), or
    the exit status 2 after reporting an input error (``vsm import`` and ``vsm explain``)."""
    try:
        ruleset = load_rules_file(args.rules) if args.rules is not None else None
    except RulesError as exc:
        return _fail(_naming(args.rules, str(exc), "rules file"))
    except OSError as exc:
        return _fail(_os_message("read rules file", args.rules, exc))
    try:
        board = read_dump_file(args.file, MAX_DUMP_BYTES)
    except DumpError as exc:
        return _fail(_naming(args.file, str(exc)))
    except OSError as exc:
        return _fail(_os_message("read", args.file, exc))
    return board, ruleset


def write_output(text: str, output: Path | None) -> int:
    """``text`` to ``output`` (UTF-8) or standard output; 0, or 2 after a write error."""
    if output is None:
        sys.stdout.write(text)
        return 0
    try:
        output.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        return _fail(_os_message("write", output, exc))
    return 0


def run_import(args: argparse.Namespace) -> int:
    with _status(f"reading {args.file}", show_progress(args.quiet)) as status:
        inputs = read_inputs(args)
        if isinstance(inputs, int):
            return inputs
        board, ruleset = inputs
        status(f"classifying {len(board.items):,} items")
        doc = digitize(board, ruleset)

    if args.format == "xlsx":
        return _write_xlsx(doc, args.output)

    if args.output is None and args.format == "table":
        render_table(
            decode_contract(doc), Console(width=None if sys.stdout.isatty() else _FILE_WIDTH)
        )
        return 0
    try:
        text = render(doc, args.format, stream=args.stream, csv_dialect=args.csv_dialect)
    except LookupError as exc:
        return _fail(str(exc))
    return write_output(text, args.output)


def _write_xlsx(doc: Mapping[str, Any], output: Path | None) -> int:
    """The workbook to ``output``, or to stdout when it is a pipe or a file (never a terminal)."""
    from service.spreadsheet import contract_to_xlsx

    data = contract_to_xlsx(decode_contract(doc))
    if output is None:
        if sys.stdout.isatty():
            return _fail("--format xlsx writes a binary file: add -o FILE.xlsx")
        sys.stdout.buffer.write(data)
        return 0
    try:
        output.write_bytes(data)
    except OSError as exc:
        return _fail(_os_message("write", output, exc))
    return 0


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
    if fmt == "svg":
        return render_stream_svg(select_stream(contract, stream))
    if fmt == "html":
        return render_report_html(contract)
    if fmt == "markdown":
        return contract_to_markdown(contract)
    if fmt == "csv":
        return streams_to_csv(contract.streams, dialect=csv_dialect)
    buffer = io.StringIO()
    render_table(
        contract,
        Console(file=buffer, width=_FILE_WIDTH, color_system=None, force_terminal=False),
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
    table = _table("Steps")
    table.add_column("#", justify="right")
    table.add_column("Step")
    if show_lane:
        table.add_column("Lane")
    table.add_column("VA")
    for name in ("PT", "LT", "WT", "%C&A", PROBLEM_RANKS_HEADER):
        table.add_column(name, justify="right")
    ranks = problem_ranks(stream)
    for step in steps:
        lane = [_t(step.lane)] if show_lane else []
        table.add_row(
            Text(str(step.order)),
            _t(step.title),
            *lane,
            _yes_no(step.value_adding),
            Text(format_minutes(step.process_time_min)),
            Text(format_minutes(step.lead_time_min)),
            Text(format_minutes(step.wait_time_min)),
            Text(format_percent(step.complete_accurate_pct)),
            Text(step_problem_ranks(step, ranks)),
        )
    console.print(table)
    console.print()

    problems = stream.problems
    if problems:
        table = _table("Problems (most votes first)")
        table.add_column("Rank", justify="right")
        table.add_column("Votes", justify="right")
        table.add_column("Problem")
        table.add_column("Step")
        for rank, problem in enumerate(problems, start=1):
            table.add_row(
                Text(str(rank)),
                Text(str(problem.weight)),
                _t(problem.text),
                _t(attached_to(labels, problem.step_id)),
            )
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

    table = _table("Metrics", show_header=False)
    table.add_column("Metric")
    table.add_column("Value", justify="right")
    for label, value in metric_rows(stream.metrics):
        table.add_row(Text(label), Text(value))
    console.print(table)
    console.print()
