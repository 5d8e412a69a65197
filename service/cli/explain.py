"""``vsm explain FILE``: the board as drawn, coloured by what the reader understood (SVG).

Every item at its place, filled by its role, order numbers on the steps, streams and lanes
outlined, lines from data, problems and ideas to their steps, unread items hatched with the
reason on hover (``service.domain.render.explain``). Input errors end with exit status 2 and
one line ``vsm: error: ...`` on stderr, as for ``vsm import``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from service.cli.imports import read_inputs, write_output
from service.domain.render.explain import explain_board


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="draw the board as read: each item coloured by its role (SVG)",
        description=(
            "Draw a Miro or Mural board dump as it was laid out, each item filled by the role "
            "the reader gave it, steps numbered, streams and lanes outlined, data, problems "
            "and ideas joined to their steps, unread items hatched with the reason on hover."
        ),
        epilog="example: vsm explain examples/miro-abo-workshop.json -o explain.svg",
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
    inputs = read_inputs(args)
    if isinstance(inputs, int):
        return inputs
    board, ruleset = inputs
    return write_output(explain_board(board, ruleset), args.output)
