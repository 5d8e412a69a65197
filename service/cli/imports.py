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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from connectors.dump import DEFAULT_MAX_BYTES, read_dump_file
from connectors.errors import DumpError
from service.domain.contract_model import Contract, ContractStream, decode_contract
from service.domain.digitize import digitize
from service.domain.export import (
    attached_to,
    comparison_rows,
    contract_to_markdown,
    format_minutes,
    format_percent,
    metric_rows,
    safe_text,
    step_labels,
    streams_to_csv,
)
from service.domain.render.html import render_report_html
from service.domain.render.svg import render_stream_svg, select_stream
from service.rules_file import RulesError, load_rules_file

FORMATS = ("table", "json", "markdown", "csv", "svg", "html")

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
        "--stream",
        metavar="ID|NAME|N",
        help="with --format svg: the stream to draw (default: the first)",
    )
    parser.set_defaults(handler=run_import)


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


def run_import(args: argparse.Namespace) -> int:
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

    doc = digitize(board, ruleset)

    if args.output is None and args.format == "table":
        render_table(
            decode_contract(doc), Console(width=None if sys.stdout.isatty() else _FILE_WIDTH)
        )
        return 0
    try:
        text = render(doc, args.format, stream=args.stream)
    except LookupError as exc:
        return _fail(str(exc))
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        return _fail(_os_message("write", args.output, exc))
    return 0


def render(doc: Mapping[str, Any], fmt: str, *, stream: str | None = None) -> str:
    """The contract document in one of ``FORMATS`` as text (the table without colours).

    ``svg`` draws one stream (``stream``: id, name or 1-based position; default the first) and
    raises ``LookupError`` when there is no such stream; ``html`` is the whole report page.
    """
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    contract = decode_contract(doc)
    if fmt == "svg":
        return render_stream_svg(select_stream(contract, stream))
    if fmt == "html":
        return render_report_html(contract)
    if fmt == "markdown":
        return contract_to_markdown(contract)
    if fmt == "csv":
        return streams_to_csv(contract.streams)
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
    for name in ("PT", "LT", "WT", "%C&A", "Problems"):
        table.add_column(name, justify="right")
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
            Text(str(len(step.problem_ids))),
        )
    console.print(table)
    console.print()

    problems = stream.problems
    if problems:
        table = _table("Problems (most votes first)")
        table.add_column("Votes", justify="right")
        table.add_column("Problem")
        table.add_column("Step")
        for problem in problems:
            table.add_row(
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
