"""Board -> contract v1 document: the one call the CLI, the REST API and the workers make."""

from __future__ import annotations

from typing import Any

from service.domain.board import Board
from service.domain.classify import classify
from service.domain.compare import compare_board
from service.domain.contract import to_contract
from service.domain.ruleset import Ruleset
from service.domain.streams import build_streams


def digitize(board: Board, ruleset: Ruleset | None = None) -> dict[str, Any]:
    """Classify, build the value streams, compare current with target and write contract v1.

    Pure and deterministic: the same board (in any item order, anywhere on the canvas) gives the
    same document. ``ruleset`` defaults to ``Ruleset()``.
    """
    rules = ruleset if ruleset is not None else Ruleset()
    classification = classify(board, rules)
    streams = build_streams(board, classification, rules)
    return to_contract(board, classification, streams, compare_board(streams, rules))
