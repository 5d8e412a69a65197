"""Board <-> dict round trip used to store the normalized board of every revision."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.board import Board, Connector, Geometry, ImportStats, Item, ItemKind
from service.domain.serialize import BoardFormatError, board_from_dict, board_to_dict

texts = st.text(max_size=20)
finite = st.floats(allow_nan=False, allow_infinity=False, width=32)
geometries = st.builds(Geometry, x=finite, y=finite, width=finite, height=finite, rotation=finite)
items = st.builds(
    Item,
    id=texts,
    kind=st.sampled_from(list(ItemKind)),
    text=texts,
    color=st.none() | texts,
    geometry=st.none() | geometries,
    containers=st.lists(texts, max_size=3).map(tuple),
    tags=st.lists(texts, max_size=3).map(tuple),
    shape=st.none() | texts,
    provider_type=texts,
    votes=st.integers(0, 1_000_000),
)
connectors = st.builds(
    Connector, id=texts, start_id=st.none() | texts, end_id=st.none() | texts, text=texts
)
stats = st.builds(
    ImportStats,
    items_read=st.integers(0, 10_000),
    unknown_types=st.dictionaries(texts, st.integers(0, 100), max_size=3),
    unknown_fields=st.integers(0, 100),
    skipped=st.lists(st.tuples(texts, texts), max_size=3).map(tuple),
    truncated_texts=st.integers(0, 100),
)
boards = st.builds(
    Board,
    provider=st.sampled_from(["miro", "mural"]),
    id=texts,
    name=texts,
    items=st.lists(items, max_size=8).map(tuple),
    connectors=st.lists(connectors, max_size=3).map(tuple),
    stats=stats,
)


@given(boards)
def test_a_board_survives_the_round_trip_through_json(board: Board) -> None:
    stored = json.loads(json.dumps(board_to_dict(board)))

    assert board_from_dict(stored) == board


def test_the_same_board_always_gives_the_same_json() -> None:
    board = Board(
        "miro",
        "b1",
        "Workshop",
        (Item("1", ItemKind.STICKY, "Angebot", "yellow", Geometry(1, 2, 3, 4)),),
        stats=ImportStats(unknown_types={"b": 1, "a": 2}),
    )

    first = json.dumps(board_to_dict(board))
    again = json.dumps(board_to_dict(board_from_dict(json.loads(first))))

    assert first == again


def _voted(votes: int) -> Board:
    sticky = Item("1", ItemKind.STICKY, "Angebot", "red", Geometry(1, 2, 3, 4), votes=votes)
    return Board("mural", "m1", "Workshop", (sticky,))


def test_a_change_in_provider_votes_changes_the_stored_json_and_so_the_content_hash() -> None:
    dumped = [json.dumps(board_to_dict(_voted(votes)), sort_keys=True) for votes in (0, 3, 4)]

    assert len(set(dumped)) == 3


def test_a_board_stored_before_items_had_votes_loads_with_zero_votes_and_the_same_json() -> None:
    old = board_to_dict(_voted(0))
    old["items"][0].pop("votes", None)
    unchanged = json.dumps(old)

    board = board_from_dict(json.loads(unchanged))

    assert board.items[0].votes == 0
    assert json.dumps(board_to_dict(board)) == unchanged


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"format": 99}, "unsupported board format"),
        ({"format": 1, "provider": "miro", "id": "b", "name": "n", "items": "x"}, "list"),
        (
            {"format": 1, "provider": "miro", "id": "b", "name": "n", "items": [{"kind": "?"}]},
            "unknown item kind",
        ),
        (
            {
                **board_to_dict(_voted(2)),
                "items": [{**board_to_dict(_voted(2))["items"][0], "votes": -1}],
            },
            "'votes' must not be negative",
        ),
        (
            {
                **board_to_dict(_voted(2)),
                "items": [{**board_to_dict(_voted(2))["items"][0], "votes": "2"}],
            },
            "'votes' must be an integer",
        ),
    ],
)
def test_a_dict_in_another_format_is_refused_with_a_reason(data: dict, message: str) -> None:
    with pytest.raises(BoardFormatError, match=message):
        board_from_dict(data)
