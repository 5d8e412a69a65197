"""``vsm import FILE``: digitize a Miro or Mural dump file and print the value streams.

Formats: ``table`` (rich, for people), ``json`` (contract v1), ``markdown`` and ``csv`` (the same
functions as the REST exports, from ``service.domain.export``). Input errors (missing file,
invalid JSON, not a dump, bad rules file, unwritable output) end with exit status 2 and one line
``vsm: error: ...`` on stderr; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from connectors.dump import DEFAULT_MAX_BYTES, read_dump_file
from connectors.errors import DumpError
from service.cli.terminal import show_progress
from service.domain.account import malformed_error, summary_line
from service.domain.board import Board
from service.domain.digitize import digitize
from service.domain.ruleset import Ruleset

# Only what ``vsm import --format json`` needs is imported above; the other formats' modules
# (rich, the typed contract, jinja2, openpyxl) load when asked for (``import_formats``).
FORMATS = ("table", "json", "markdown", "csv", "svg", "html", "xlsx")
# the keys of ``service.domain.export.CSV_DIALECTS`` (a test keeps them equal)
CSV_DIALECT_NAMES = ("excel", "excel-de")

# A dump larger than this is refused before parsing (100,000 stickies take about 35 MB).
MAX_DUMP_BYTES = DEFAULT_MAX_BYTES


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
        choices=CSV_DIALECT_NAMES,
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
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail on any malformed item (default: fail above the rules' max_malformed_share)",
    )
    parser.set_defaults(handler=run_import)


@contextmanager
def _status(first: str, enabled: bool) -> Iterator[Callable[[str], None]]:
    """A spinner with what ``vsm import`` does now, on a terminal's stderr; gone after."""
    if not enabled:
        yield lambda _: None
        return
    from rich.console import Console

    with Console(stderr=True).status(first) as spinner:
        yield spinner.update


def _fail(message: str) -> int:
    """Report an input error as the single line ``vsm: error: ...``; returns exit status 2."""
    from service.domain.export import safe_text

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
    ruleset = None
    if args.rules is not None:
        from service.rules_file import RulesError, load_rules_file  # yaml, pydantic: on demand

        try:
            ruleset = load_rules_file(args.rules)
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
        del inputs
        status(f"classifying {len(board.items):,} items")
        doc = digitize(board, ruleset)
        del board  # the document holds all the output needs: 100,000s of items freed here

    max_share = 0.0 if args.strict else (ruleset or Ruleset()).max_malformed_share
    refused = malformed_error(doc["account"], max_share)
    if refused is not None:
        return _fail(_naming(args.file, refused))
    if args.format == "xlsx":
        return _write_xlsx(doc, args.output)

    if args.format == "json":
        return _write_json(doc, args.output)
    from service.cli import import_formats  # rich, jinja2, the exporters: not for JSON

    if args.output is None and args.format == "table":
        import_formats.print_table(doc)
        return _summarize(doc)
    try:
        text = import_formats.render(
            doc, args.format, stream=args.stream, csv_dialect=args.csv_dialect
        )
    except LookupError as exc:
        return _fail(str(exc))
    written = write_output(text, args.output)
    return _summarize(doc) if written == 0 and args.format == "table" else written


def _summarize(doc: Mapping[str, Any]) -> int:
    """The account in one line on stderr beside the table (stdout stays the table); 0."""
    print(f"vsm: {summary_line(doc['account'])}", file=sys.stderr)
    return 0


def _write_xlsx(doc: Mapping[str, Any], output: Path | None) -> int:
    """The workbook to ``output``, or to stdout when it is a pipe or a file (never a terminal)."""
    from service.domain.contract_model import decode_contract
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


def _write_json(doc: Mapping[str, Any], output: Path | None) -> int:
    """The document as JSON (2-space indent), byte for byte what ``json.dump(doc, indent=2,
    ensure_ascii=False)`` writes.

    Up to ``FAST_JSON_MAX_CHARS`` the json module's C encoder writes it compactly and msgspec's
    C formatter indents that text (which it copies token by token: numbers and escapes stay the
    json module's) -- about 6 times faster than the json module's indenting encoder, which is
    pure Python. A larger document, or one msgspec cannot read (``NaN``), is written piece by
    piece as it is encoded: the whole text of a 100,000-sticky board is never one string (and
    its pieces' list) in memory.
    """
    text = _indented_json(doc)
    if text is not None:
        return write_output(text, output)
    if output is None:
        _dump_indented(doc, sys.stdout)
        return 0
    try:
        with output.open("w", encoding="utf-8", newline="") as handle:
            _dump_indented(doc, handle)
    except OSError as exc:
        return _fail(_os_message("write", output, exc))
    return 0


# About 20,000 stickies; the compact and the indented text then take some 40 MB together.
FAST_JSON_MAX_CHARS = 8_000_000


def _indented_json(doc: Mapping[str, Any]) -> str | None:
    """``doc`` as the json module indents it, or None when it is too large to hold as text
    twice or not JSON msgspec reads (``NaN`` and ``Infinity``, which the json module writes)."""
    compact = json.dumps(doc, ensure_ascii=False)
    if len(compact) > FAST_JSON_MAX_CHARS:
        return None
    try:
        return msgspec.json.format(compact, indent=2) + "\n"
    except (msgspec.DecodeError, UnicodeEncodeError):
        return None


def _dump_indented(doc: Mapping[str, Any], handle: Any) -> None:
    json.dump(doc, handle, indent=2, ensure_ascii=False)
    handle.write("\n")
