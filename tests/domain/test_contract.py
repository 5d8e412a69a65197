"""Contract v1 documents from digitize(): exact keys, schema-valid, null semantics, invariants."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec import structs
from msgspec.structs import replace

from service.domain.board import Board, Connector, Geometry, Item, ItemKind
from service.domain.digitize import digitize
from tests.domain.stream_boards import frame, link

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schema" / "contract-v1.json").read_text("utf-8")
)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

STREAM_KEYS = {
    "id",
    "name",
    "state",
    "frame_id",
    "persona",
    "lanes",
    "steps",
    "problems",
    "ideas",
    "metrics",
}
STEP_KEYS = {
    "id",
    "order",
    "title",
    "lane",
    "value_adding",
    "process_time_min",
    "lead_time_min",
    "wait_time_min",
    "complete_accurate_pct",
    "source_item_ids",
    "problem_ids",
}
METRIC_KEYS = {
    "step_count",
    "value_adding_steps",
    "non_value_adding_steps",
    "total_process_time_min",
    "total_lead_time_min",
    "activity_ratio",
    "rolled_complete_accurate",
    "handoffs",
    "problem_count",
    "problem_weight",
}


def sticky(
    id: str, x: float, y: float, text: str, color: str = "yellow", *, inside: tuple[str, ...] = ()
) -> Item:
    return Item(id, ItemKind.STICKY, text, color, Geometry(x, y, 100, 100), inside)


def dot(id: str, x: float, y: float) -> Item:
    return Item(id, ItemKind.SHAPE, "", "red", Geometry(x, y, 16, 16), shape="circle")


def workshop() -> Board:
    """A current and a target frame with lanes, data, problems, votes, an idea and a persona."""
    ist, soll = ("ist",), ("soll",)
    return Board(
        "miro",
        "board-1",
        "Abo workshop",
        (
            frame("ist", "Ist-Zustand: Abo", 0, 0, 2000, 800),
            frame("soll", "Soll-Zustand: Abo", 0, 1000, 2000, 800),
            Item("lane-a", ItemKind.TEXT, "Kunde", None, Geometry(100, 200, 120, 40), ist),
            Item("lane-b", ItemKind.TEXT, "Vertrieb", None, Geometry(100, 600, 120, 40), ist),
            sticky("s1", 400, 200, "Angebot anfragen", inside=ist),
            sticky("d1", 400, 330, "BZ 10 min\nDLZ 2 h\n%C&A 80", "light_blue", inside=ist),
            sticky("s2", 700, 600, "Angebot erstellen\nPT 1 h\nLT 2 d", inside=ist),
            sticky("w1", 1000, 600, "Freigabe abwarten\nWT 1 d", "orange", inside=ist),
            sticky("s3", 1300, 200, "Vertrag unterschreiben", inside=ist),
            sticky("p1", 730, 740, "Problem: Preisliste veraltet (2)", "red", inside=ist),
            sticky("p2", 1300, 450, "Unterschrift per Post", "red", inside=ist),
            dot("v1", 1290, 440),
            dot("v2", 1310, 460),
            dot("v3", 1320, 470),
            sticky("i1", 1000, 740, "Idee: Freigabe automatisch", "green", inside=ist),
            sticky("persona", 3000, 0, "Persona: Lena, 34", "violet"),
            sticky("t1", 400, 1300, "Angebot anfragen\nLT 1 h", inside=soll),
            sticky("t2", 700, 1300, "Vertrag digital unterschreiben\nLT 10 min", inside=soll),
            sticky("grey", 3000, 3000, "Parkplatz", "gray"),
            sticky("odd", 3000, 3300, "?", "magenta"),
        ),
        (link("s1", "s2"), link("s2", "w1"), link("w1", "s3"), link("t1", "t2")),
    )


def valid(document: dict[str, Any]) -> dict[str, Any]:
    VALIDATOR.validate(document)
    json.dumps(document, allow_nan=False)
    return document


def test_the_document_has_exactly_the_contract_v1_keys() -> None:
    document = valid(digitize(workshop()))

    assert set(document) == {
        "schema_version",
        "board",
        "streams",
        "comparison",
        "unclassified",
        "decisions",
        "stats",
        "account",
        "warnings",
    }
    assert document["board"] == {"provider": "miro", "id": "board-1", "name": "Abo workshop"}
    for stream in document["streams"]:
        assert set(stream) == STREAM_KEYS
        assert set(stream["metrics"]) == METRIC_KEYS
        assert all(set(step) == STEP_KEYS for step in stream["steps"])


def test_a_workshop_board_comes_out_as_ordered_laned_timed_streams() -> None:
    current, target = valid(digitize(workshop()))["streams"]

    assert (current["name"], current["state"], current["persona"]) == (
        "Ist-Zustand: Abo",
        "current",
        "Lena, 34",
    )
    assert current["lanes"] == ["Kunde", "Vertrieb"]
    assert [(s["order"], s["title"], s["lane"], s["value_adding"]) for s in current["steps"]] == [
        (1, "Angebot anfragen", "Kunde", True),
        (2, "Angebot erstellen", "Vertrieb", True),
        (3, "Freigabe abwarten", "Vertrieb", False),
        (4, "Vertrag unterschreiben", "Kunde", True),
    ]
    first, second, waiting, _ = current["steps"]
    assert (first["process_time_min"], first["lead_time_min"], first["wait_time_min"]) == (
        10,
        120,
        110,
    )
    assert first["complete_accurate_pct"] == 80
    assert first["source_item_ids"] == ["s1", "d1"]
    assert (second["process_time_min"], second["lead_time_min"]) == (60, 960)
    assert waiting["lead_time_min"] == 480
    assert [(p["text"], p["weight"]) for p in current["problems"]] == [
        ("Unterschrift per Post", 3),
        ("Preisliste veraltet", 2),
    ]
    assert current["problems"][1]["step_id"] == second["id"]
    assert [i["text"] for i in current["ideas"]] == ["Freigabe automatisch"]
    assert current["metrics"] == {
        "step_count": 4,
        "value_adding_steps": 3,
        "non_value_adding_steps": 1,
        "total_process_time_min": 70,
        "total_lead_time_min": 1560,
        "activity_ratio": round(70 / 1560, 4),
        "rolled_complete_accurate": 0.8,
        "handoffs": 2,
        "problem_count": 2,
        "problem_weight": 5,
    }
    assert target["state"] == "target"
    assert target["persona"] == "Lena, 34"


def test_the_comparison_reports_kept_removed_and_added_steps() -> None:
    comparison = valid(digitize(workshop()))["comparison"]

    assert [(k["current_title"], k["target_title"]) for k in comparison["kept"]] == [
        ("Angebot anfragen", "Angebot anfragen"),
        ("Vertrag unterschreiben", "Vertrag digital unterschreiben"),
    ]
    assert [r["current_title"] for r in comparison["removed"]] == [
        "Angebot erstellen",
        "Freigabe abwarten",
    ]
    assert comparison["added"] == []
    assert comparison["kept"][0]["lead_time_change_min"] == -60
    assert comparison["lead_time_change_min"] == 70 - 1560
    assert comparison["other_pairs"] == []


def test_leftovers_and_every_decision_are_listed() -> None:
    document = valid(digitize(workshop()))

    assert [u["item_id"] for u in document["unclassified"]] == ["odd"]
    decided = {d["item_id"]: d["role"] for d in document["decisions"]}
    assert (decided["s1"], decided["w1"], decided["v1"], decided["grey"]) == (
        "step",
        "wait",
        None,
        "note",
    )


def test_a_board_without_stickies_gives_no_streams_and_no_comparison() -> None:
    document = valid(digitize(Board("mural", "m1", "Empty", ())))

    assert (document["streams"], document["comparison"], document["unclassified"]) == ([], None, [])


def test_items_without_a_position_are_listed_as_unclassified() -> None:
    lost = Item("lost", ItemKind.STICKY, "Angebot", "yellow", None)
    board = Board("miro", "b", "B", (sticky("a", 0, 0, "Anfrage"), lost))

    document = valid(digitize(board))

    assert [s["title"] for s in document["streams"][0]["steps"]] == ["Anfrage"]
    assert {"item_id": "lost", "text": "Angebot", "reason": "no position"} in document[
        "unclassified"
    ]


def test_connectors_to_missing_items_and_cycles_do_not_break_the_import() -> None:
    board = Board(
        "miro",
        "b",
        "B",
        (sticky("a", 0, 0, "a"), sticky("b", 300, 0, "b"), sticky("c", 600, 0, "c")),
        (
            link("a", "b"),
            link("b", "c"),
            link("c", "a"),
            link("a", "missing"),
            Connector("x", None, None),
            link("ghost", "b"),
        ),
    )

    (stream,) = valid(digitize(board))["streams"]

    assert [s["order"] for s in stream["steps"]] == [1, 2, 3]


def test_hostile_text_is_kept_as_plain_text_and_huge_stickies_stay_fast() -> None:
    script = "<script>alert('x')</script> & \"quotes\""
    board = Board("miro", "b", "B", (sticky("a", 0, 0, script), sticky("b", 300, 0, "x" * 100_000)))

    (stream,) = valid(digitize(board))["streams"]

    assert stream["steps"][0]["title"] == script
    assert len(stream["steps"][1]["title"]) == 100_000


def test_unknown_values_are_null_not_zero() -> None:
    board = Board("miro", "b", "B", (sticky("a", 0, 0, "Anfrage"),))

    (stream,) = valid(digitize(board))["streams"]

    step = stream["steps"][0]
    assert [
        step[k]
        for k in ("process_time_min", "lead_time_min", "wait_time_min", "complete_accurate_pct")
    ] == [None] * 4
    assert stream["metrics"]["activity_ratio"] is None
    assert stream["persona"] is None


def test_several_current_and_target_frames_are_paired_by_title() -> None:
    board = Board(
        "miro",
        "b",
        "B",
        (
            frame("f1", "Ist: Kündigung", 0, 0, 1000, 400),
            frame("f2", "Ist: Abschluss", 0, 500, 1000, 400),
            frame("f3", "Soll: Abschluss", 0, 1000, 1000, 400),
            frame("f4", "Soll: Kündigung", 0, 1500, 1000, 400),
            sticky("a", 200, 200, "Kündigen", inside=("f1",)),
            sticky("b", 200, 700, "Abschließen", inside=("f2",)),
            sticky("c", 200, 1200, "Abschließen", inside=("f3",)),
            sticky("d", 200, 1700, "Kündigen online", inside=("f4",)),
        ),
    )

    comparison = valid(digitize(board))["comparison"]

    assert (comparison["current_stream_name"], comparison["target_stream_name"]) == (
        "Ist: Kündigung",
        "Soll: Kündigung",
    )
    assert [
        (p["current_stream_name"], p["target_stream_name"]) for p in comparison["other_pairs"]
    ] == [("Ist: Abschluss", "Soll: Abschluss")]


# --- invariants --------------------------------------------------------------------------

COLORS = ["yellow", "yellow", "yellow", "orange", "red", "green", "light_blue", "violet", "gray"]


@st.composite
def boards(draw: st.DrawFn) -> Board:
    """Random boards on an integer grid: two state frames or none, stickies, dots, connectors."""
    framed = draw(st.booleans())
    items: list[Item] = []
    if framed:
        items += [frame("ist", "Ist", 0, 0, 3000, 1000), frame("soll", "Soll", 0, 2000, 3000, 1000)]
    count = draw(st.integers(0, 25))
    for i in range(count):
        x = draw(st.integers(0, 290)) * 10
        y = draw(st.integers(0, 290)) * 10
        color = draw(st.sampled_from(COLORS))
        minutes = draw(st.sampled_from(["", "\nPT 5 min", "\nLT 2 h", "\nPT 1 h LT 1 d", " (2)"]))
        inside: tuple[str, ...] = ()
        if framed and y < 1000:
            inside = ("ist",)
        elif framed and 2000 <= y < 3000:
            inside = ("soll",)
        items.append(sticky(f"n{i}", x, y, f"note {i % 7}{minutes}", color, inside=inside))
    for j in range(draw(st.integers(0, 6))):
        items.append(dot(f"dot{j}", draw(st.integers(0, 290)) * 10, draw(st.integers(0, 290)) * 10))
    connectors = [
        link(
            f"n{draw(st.integers(0, max(count - 1, 0)))}",
            f"n{draw(st.integers(0, max(count - 1, 0)))}",
            f"c{k}",
        )
        for k in range(draw(st.integers(0, 12)) if count else 0)
    ]
    return Board("miro", "prop", "Property board", tuple(items), tuple(connectors))


def moved(board: Board, dx: float, dy: float) -> Board:
    def shift(item: Item) -> Item:
        g = item.geometry
        return (
            item
            if g is None
            else structs.replace(item, geometry=structs.replace(g, x=g.x + dx, y=g.y + dy))
        )

    return replace(board, items=tuple(shift(item) for item in board.items))


@settings(max_examples=60, deadline=None)
@given(boards(), st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6))
def test_moving_the_whole_board_does_not_change_the_result(board: Board, dx: int, dy: int) -> None:
    assert digitize(moved(board, dx, dy)) == digitize(board)


@settings(max_examples=60, deadline=None)
@given(boards(), st.randoms(use_true_random=False))
def test_shuffling_items_and_connectors_does_not_change_the_result(
    board: Board, rng: random.Random
) -> None:
    items, connectors = list(board.items), list(board.connectors)
    rng.shuffle(items)
    rng.shuffle(connectors)

    shuffled = replace(board, items=tuple(items), connectors=tuple(connectors))

    assert digitize(shuffled) == digitize(board)


@settings(max_examples=60, deadline=None)
@given(boards())
def test_every_document_is_schema_valid_finite_json(board: Board) -> None:
    document = valid(digitize(board))

    for stream in document["streams"]:
        assert [s["order"] for s in stream["steps"]] == sorted(s["order"] for s in stream["steps"])
        orders = {s["order"] for s in stream["steps"]}
        assert orders == set(range(1, len(orders) + 1))
        weights = [p["weight"] for p in stream["problems"]]
        assert weights == sorted(weights, reverse=True)


def test_nan_in_times_never_reaches_the_document() -> None:
    document = valid(digitize(workshop()))

    def numbers(value: object) -> list[float]:
        if isinstance(value, dict):
            return [n for v in value.values() for n in numbers(v)]
        if isinstance(value, list):
            return [n for v in value for n in numbers(v)]
        return [value] if isinstance(value, float) else []

    assert all(math.isfinite(n) for n in numbers(document))


@pytest.mark.parametrize("count", [10_000])
def test_a_board_of_twenty_frames_gives_twenty_streams(count: int) -> None:
    rng = random.Random(1)
    frames = [
        frame(f"f{k}", "Ist" if k % 2 else "Soll", k * 6000, 0, 5000, 5000) for k in range(20)
    ]
    items: list[Item] = list(frames)
    for i in range(count):
        k = i % 20
        items.append(
            sticky(
                f"n{i}",
                k * 6000 + rng.uniform(60, 4940),
                rng.uniform(60, 4940),
                f"note {i}\nPT 5 min",
                rng.choice(COLORS),
                inside=(f"f{k}",),
            )
        )
    board = Board(
        "miro",
        "big",
        "Big",
        tuple(items),
        tuple(link(f"n{i}", f"n{i + 20}", f"c{i}") for i in range(0, count - 20, 3)),
    )
    document = digitize(board)

    assert len(document["streams"]) == 20
