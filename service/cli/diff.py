"""``vsm diff OLD NEW``: what changed between two dump files of a board (items, steps, metrics).

Both files are digitized with the same rules and compared with ``service.domain.diff``; the
REST route ``GET /v1/boards/{id}/diff`` serves the same document. Input errors end with exit
status 2 and one line ``vsm: error: ...`` on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from connectors.dump import read_dump_file
from connectors.errors import DumpError
from service.cli.imports import MAX_DUMP_BYTES
from service.domain.board import Board
from service.domain.contract_model import decode_contract
from service.domain.diff import METRIC_FIELDS, diff_revisions, is_empty
from service.domain.digitize import digitize
from service.domain.export import safe_text
from service.rules_file import RulesError, load_rules_file

FORMATS = ("table", "json")
_FILE_WIDTH = 120
_MISSING = "\u2013"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="show what changed between two dump files of a board",
        description=(
            "Digitize two Miro or Mural dumps of the same board and show the items added, "
            "removed and changed, the steps added, removed and moved, the problems added, "
            "removed and re-weighted, and the metric changes per stream."
        ),
        epilog="example: vsm diff monday.json friday.json --format markdown",
    )
    parser.add_argument("old", metavar="OLD", type=Path, help="the earlier dump file (JSON)")
    parser.add_argument("new", metavar="NEW", type=Path, help="the later dump file (JSON)")
    parser.add_argument(
        "--rules", metavar="FILE", type=Path, help="classification rules (YAML or JSON)"
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )
    parser.set_defaults(handler=run_diff)


def _fail(message: str) -> int:
    one_line = " ".join(safe_text(message).split())
    print(f"vsm: error: {one_line}", file=sys.stderr)
    return 2


def _read(path: Path) -> Board:
    try:
        return read_dump_file(path, MAX_DUMP_BYTES)
    except DumpError as exc:
        message = str(exc)
        raise DumpError(message if str(path) in message else f"{path}: {message}") from None
    except OSError as exc:
        raise DumpError(f"cannot read {path}: {exc.strerror or exc}") from None


def run_diff(args: argparse.Namespace) -> int:
    try:
        ruleset = load_rules_file(args.rules) if args.rules is not None else None
    except RulesError as exc:
        return _fail(f"rules file {args.rules}: {exc}")
    except OSError as exc:
        return _fail(f"cannot read rules file {args.rules}: {exc.strerror or exc}")
    try:
        old_board, new_board = _read(args.old), _read(args.new)
    except DumpError as exc:
        return _fail(str(exc))
    if (old_board.provider, old_board.id) != (new_board.provider, new_board.id):
        # Different boards are still compared (a copied board gets a new id), but say so.
        print(
            "vsm: note: the files hold different boards "
            f"({safe_text(old_board.provider)} {safe_text(old_board.id)} and "
            f"{safe_text(new_board.provider)} {safe_text(new_board.id)})",
            file=sys.stderr,
        )
    old_doc = decode_contract(digitize(old_board, ruleset))
    new_doc = decode_contract(digitize(new_board, ruleset))
    result = diff_revisions(old_board, new_board, old_doc, new_doc)
    if args.format == "json":
        sys.stdout.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    else:
        render_diff_table(result, Console(width=None if sys.stdout.isatty() else _FILE_WIDTH))
    return 0


def _t(value: object, style: str = "") -> Text:
    text = safe_text(value)
    return Text(text if text else _MISSING, style=style)


def _table(title: str, *columns: str) -> Table:
    table = Table(
        title=Text(title, style="bold"), title_justify="left", box=box.SIMPLE_HEAD, show_edge=False
    )
    for column in columns:
        table.add_column(column)
    return table


def _more(console: Console, shown: int, total: int) -> None:
    if total > shown:
        console.print(Text(f"... and {total - shown} more (see --format json)", style="dim"))


def _number(value: object) -> str:
    if value is None:
        return _MISSING
    if isinstance(value, float):
        return f"{value:g}"
    return safe_text(value)


def render_diff_table(result: Mapping[str, Any], console: Console) -> None:
    """Print the diff for people: one table per non-empty section."""
    if is_empty(result):
        console.print(Text("No changes."))
        return
    counts = result["counts"]
    items = result["items"]
    table = _table("Items", "", "Id", "Kind", "Text", "Changed")
    for sign, key, style in (("+", "added", "green"), ("-", "removed", "red")):
        for item in items[key]:
            table.add_row(
                Text(sign, style=style), _t(item["id"]), _t(item["kind"]), _t(item["text"]), ""
            )
    for item in items["changed"]:
        table.add_row(
            Text("~", style="yellow"),
            _t(item["id"]),
            _t(item["kind"]),
            _t(item["text"]),
            Text(", ".join(item["fields"])),
        )
    if table.row_count:
        console.print(table)
        item_counts = counts["items"]
        _more(console, table.row_count, sum(item_counts.values()))
        console.print()

    steps = result["steps"]
    table = _table("Steps", "", "Step", "Order", "Lane", "Change")
    for sign, key, style in (("+", "added", "green"), ("-", "removed", "red")):
        for step in steps[key]:
            table.add_row(
                Text(sign, style=style),
                _t(step["title"]),
                _t(step["order"]),
                _t(step["lane"]),
                Text(key),
            )
    for step in steps["moved"]:
        before = step["from"]
        change = []
        if "order" in step["fields"]:
            change.append(f"order {_number(before['order'])} -> {_number(step['order'])}")
        if "lane" in step["fields"]:
            change.append(
                f"lane {safe_text(before['lane']) or _MISSING} -> "
                f"{safe_text(step['lane']) or _MISSING}"
            )
        if "stream" in step["fields"]:
            change.append("other stream")
        table.add_row(
            Text("~", style="yellow"),
            _t(step["title"]),
            _t(step["order"]),
            _t(step["lane"]),
            Text("; ".join(change)),
        )
    for step in steps["retitled"]:
        table.add_row(
            Text("~", style="yellow"),
            _t(step["title"]),
            _t(step["order"]),
            _t(step["lane"]),
            Text("was: ") + _t(step["old_title"]),
        )
    if table.row_count:
        console.print(table)
        _more(console, table.row_count, sum(counts["steps"].values()))
        console.print()

    problems = result["problems"]
    table = _table("Problems", "", "Problem", "Votes")
    for sign, key, style in (("+", "added", "green"), ("-", "removed", "red")):
        for problem in problems[key]:
            table.add_row(Text(sign, style=style), _t(problem["text"]), _t(problem["weight"]))
    for problem in problems["reweighted"]:
        table.add_row(
            Text("~", style="yellow"),
            _t(problem["text"]),
            Text(f"{_number(problem['old_weight'])} -> {_number(problem['new_weight'])}"),
        )
    if table.row_count:
        console.print(table)
        _more(console, table.row_count, sum(counts["problems"].values()))
        console.print()

    for row in result["metrics"]:
        title = Text(f"Metrics: {safe_text(row['name']) or '(unnamed stream)'}", style="bold")
        title.append(f"  {safe_text(row['state'])}, {row['status']}", style="dim")
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
        for column in ("Metric", "Old", "New", "Change", "%"):
            table.add_column(column, justify="left" if column == "Metric" else "right")
        for name in METRIC_FIELDS:
            delta = row["metrics"][name]
            if delta["old"] == delta["new"]:
                continue
            table.add_row(
                Text(name),
                Text(_number(delta["old"])),
                Text(_number(delta["new"])),
                Text(_number(delta["delta"])),
                Text(_number(delta["pct"])),
            )
        if table.row_count:
            console.print(table)
            console.print()
