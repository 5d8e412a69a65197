"""Mural voting results in a dump count in the digitized map (load_dump, read_dump_file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.dump import load_dump, read_dump_file
from service.domain.digitize import digitize
from testkit.builders import mural_area, mural_dump, mural_sticky


def _workshop(votes: dict[str, Any] | None) -> dict[str, Any]:
    return mural_dump(
        [
            mural_area("ist", "Current state", 0, 0, w=2000, h=1000),
            mural_sticky("s1", "Take order", 100, 100, parent="ist"),
            mural_sticky("s2", "Ship it", 600, 100, parent="ist"),
            mural_sticky("p1", "Orders typed twice (2)", 100, 300, "red", parent="ist"),
            mural_sticky("p2", "Nobody owns shipping", 600, 300, "red", parent="ist"),
        ],
        votes=votes,
    )


@pytest.mark.parametrize("read", ["load_dump", "read_dump_file"])
def test_mural_votes_on_a_problem_raise_its_weight_and_its_rank(read: str, tmp_path: Path) -> None:
    dump = _workshop({"p2": 5, "s1": 9})
    if read == "load_dump":
        board = load_dump(dump)
    else:
        path = tmp_path / "mural.json"
        path.write_text(json.dumps(dump))
        board = read_dump_file(path)

    (stream,) = digitize(board)["streams"]

    assert [(p["text"], p["weight"]) for p in stream["problems"]] == [
        ("Nobody owns shipping", 5),
        ("Orders typed twice", 2),
    ]
    assert stream["metrics"]["problem_weight"] == 7


def test_without_voting_results_the_map_is_the_one_dots_and_marks_give() -> None:
    (stream,) = digitize(load_dump(_workshop(None)))["streams"]

    assert [(p["text"], p["weight"]) for p in stream["problems"]] == [
        ("Orders typed twice", 2),
        ("Nobody owns shipping", 0),
    ]
