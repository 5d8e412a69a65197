"""``vsm explain FILE``: the board as drawn, coloured by what the reader understood (SVG).

Every item at its place, filled by its role, order numbers on the steps, streams and lanes
outlined, lines from data, problems and ideas to their steps, unread items hatched with the
reason on hover (``service.domain.render.explain``). Input errors end with exit status 2 and
one line ``vsm: error: ...`` on stderr, as for ``vsm import``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from connectors.dump import read_dump_file
from connectors.errors import DumpError
from service.cli.imports import MAX_DUMP_BYTES, _fail, _naming, _os_message
from service.domain.render.explain import explain_board
from service.rules_file import RulesError, load_rules_file


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="draw the board as read: each item coloured by its role (SVG)",
        description=(
            "Draw a Miro or Mural board dump as it was laid out, each item filled by the role "
            "the reader gave it, steps numbered, streams and lanes outlined, data, problems "
            "and ideas joined to their steps, unread items hatched with the reason on hover."
        ),
    )
    parser.add_argument("file", metavar="FILE", type=Path, help="dump file (JSON)")
    parser.add_argument(
        "--rules", metavar="FILE", type=Path, help="classification rules (YAML or JSON)"
    )
    parser.add_argument(
        "-o", "--output", metavar="OUT", type=Path, help="write the SVG to OUT instead of stdout"
    )
    parser.set_defaults(handler=run_explain)


def run_explain(args: argparse.Namespace) -> int:
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
    svg = explain_board(board, ruleset)
    if args.output is None:
        sys.stdout.write(svg)
        return 0
    try:
        args.output.write_text(svg, encoding="utf-8", newline="")
    except OSError as exc:
        return _fail(_os_message("write", args.output, exc))
    return 0
