"""Revision diffs: items, steps, problems and metric deltas between two versions of a board."""

from __future__ import annotations

import random

import pytest
from msgspec.structs import replace

from service.domain.board import Board, Geometry, Item, ItemKind
from service.domain.contract_model import Contract, decode_contract
from service.domain.diff import diff_revisions, is_empty, metric_delta
from service.domain.digitize import digitize
from tests.domain.stream_boards import frame, link

IST = ("ist",)


def sticky(id: str, x: float, y: float, text: str, color: str = "yellow") -> Item:
    return Item(id, ItemKind.STICKY, text, color, Geometry(x, y, 100, 100), IST)


def dot(id: str, x: float, y: float) -> Item:
    return Item(id, ItemKind.SHAPE, "", "red", Geometry(x, y, 16, 16), IST, shape="circle")


def workshop(*extra: Item, drop: tuple[str, ...] = (), **changed: Item) -> Board:
    """A current-state frame with two lanes, three connected steps, two problems and a vote.

    ``extra`` items are added, ``drop`` ids removed and ``changed`` items (by id) replaced.
    """
    items = [
        frame("ist", "Ist-Zustand: Abo", 0, 0, 2000, 800),
        Item("lane-a", ItemKind.TEXT, "Kunde", None, Geometry(100, 200, 120, 40), IST),
        Item("lane-b", ItemKind.TEXT, "Vertrieb", None, Geometry(100, 600, 120, 40), IST),
        sticky("s1", 400, 200, "Angebot anfragen\nPT 10 min\nLT 1 h"),
        sticky("s2", 700, 600, "Angebot erstellen\nPT 1 h\nLT 2 h"),
        sticky("s3", 1000, 200, "Vertrag unterschreiben\nPT 5 min\nLT 1 h"),
        sticky("p1", 730, 740, "Problem: Preisliste veraltet", "red"),
        sticky("p2", 1000, 450, "Unterschrift per Post", "red"),
        dot("v1", 1000, 450),
        *extra,
    ]
    items = [changed.get(item.id, item) for item in items if item.id not in drop]
    return Board(
        "miro",
        "board-1",
        "Abo workshop",
        tuple(items),
        (link("s1", "s2"), link("s2", "s3")),
    )


def diff(old: Board, new: Board, **kwargs: int) -> dict:
    return diff_revisions(
        old, new, decode_contract(digitize(old)), decode_contract(digitize(new)), **kwargs
    )


def test_the_same_board_gives_an_empty_diff() -> None:
    result = diff(workshop(), workshop())

    assert is_empty(result)
    assert result["items"] == {"added": [], "removed": [], "changed": []}
    assert [row["status"] for row in result["metrics"]] == ["kept"]
    assert all(m["delta"] in (0, None) for m in result["metrics"][0]["metrics"].values())


def test_added_and_removed_items_are_listed_by_provider_id() -> None:
    new = workshop(sticky("x9", 1500, 700, "Parkplatz", "gray"), drop=("p1",))

    result = diff(workshop(), new)

    assert result["items"]["added"] == [{"id": "x9", "kind": "sticky", "text": "Parkplatz"}]
    assert [item["id"] for item in result["items"]["removed"]] == ["p1"]
    assert result["counts"]["items"] == {"added": 1, "removed": 1, "changed": 0}
    assert not is_empty(result)


@pytest.mark.parametrize(
    ("replacement", "fields"),
    [
        (sticky("p2", 1000, 450, "Unterschrift nur per Post", "red"), ["text"]),
        (sticky("p2", 1000, 450, "Unterschrift per Post", "pink"), ["color"]),
        (sticky("p2", 1040, 450, "Unterschrift per Post", "red"), ["geometry"]),
        (
            replace(sticky("p2", 1000, 450, "Unterschrift per Post", "red"), containers=()),
            ["container"],
        ),
        (replace(sticky("p2", 1000, 450, "Unterschrift per Post", "red"), tags=("t-1",)), ["tags"]),
        (sticky("p2", 1300, 450, "Unterschrift digital", "pink"), ["text", "color", "geometry"]),
    ],
)
def test_a_changed_item_names_the_fields_that_changed(replacement: Item, fields: list[str]) -> None:
    result = diff(workshop(), workshop(p2=replacement))

    (changed,) = result["items"]["changed"]
    assert changed["id"] == "p2"
    assert changed["fields"] == fields
    assert set(changed["before"]) == set(changed["after"]) == set(fields)


def test_a_nudge_within_the_tolerance_is_no_change() -> None:
    nudged = sticky("s1", 400.4, 199.6, "Angebot anfragen\nPT 10 min\nLT 1 h")

    result = diff(workshop(), workshop(s1=nudged))

    assert result["items"]["changed"] == []


def test_geometry_before_and_after_are_reported() -> None:
    moved = sticky("p2", 1040, 450, "Unterschrift per Post", "red")

    (changed,) = diff(workshop(), workshop(p2=moved))["items"]["changed"]

    assert changed["before"]["geometry"]["x"] == 1000
    assert changed["after"]["geometry"]["x"] == 1040


def test_a_step_dragged_to_another_lane_is_moved() -> None:
    dragged = sticky("s2", 700, 200, "Angebot erstellen\nPT 1 h\nLT 2 h")

    result = diff(workshop(), workshop(s2=dragged))

    (moved,) = result["steps"]["moved"]
    assert moved["title"] == "Angebot erstellen"
    assert moved["fields"] == ["lane"]
    assert (moved["from"]["lane"], moved["lane"]) == ("Vertrieb", "Kunde")
    assert result["steps"]["added"] == result["steps"]["removed"] == []


def test_a_new_step_in_the_flow_is_added_and_the_later_steps_move() -> None:
    new_step = sticky("s4", 850, 200, "Angebot prüfen\nPT 5 min")
    old = workshop()
    items = (*workshop(new_step).items,)
    new = Board(
        "miro",
        "board-1",
        "Abo workshop",
        items,
        (link("s1", "s2"), link("s2", "s4"), link("s4", "s3")),
    )

    result = diff(old, new)

    assert [s["title"] for s in result["steps"]["added"]] == ["Angebot prüfen"]
    (moved,) = result["steps"]["moved"]
    assert (moved["title"], moved["fields"], moved["from"]["order"], moved["order"]) == (
        "Vertrag unterschreiben",
        ["order"],
        3,
        4,
    )


def test_a_step_re_created_as_a_new_sticky_is_matched_by_its_title() -> None:
    recreated = sticky("s3-new", 1000, 200, "vertrag  UNTERSCHREIBEN\nPT 5 min\nLT 1 h")
    old = workshop()
    new = Board(
        "miro",
        "board-1",
        "Abo workshop",
        (*workshop(recreated, drop=("s3",)).items,),
        (link("s1", "s2"), link("s2", "s3-new")),
    )

    result = diff(old, new)

    assert result["steps"]["added"] == result["steps"]["removed"] == []
    assert result["counts"]["items"]["added"] == 1


def test_a_retitled_step_keeps_its_identity_through_its_sticky() -> None:
    retitled = sticky("s1", 400, 200, "Angebot per Mail anfragen\nPT 10 min\nLT 1 h")

    result = diff(workshop(), workshop(s1=retitled))

    assert result["steps"]["added"] == result["steps"]["removed"] == []
    (entry,) = result["steps"]["retitled"]
    assert (entry["old_title"], entry["title"]) == ("Angebot anfragen", "Angebot per Mail anfragen")


def test_removed_steps_are_listed() -> None:
    old = workshop()
    new = Board(
        "miro", "board-1", "Abo workshop", workshop(drop=("s3",)).items, (link("s1", "s2"),)
    )

    result = diff(old, new)

    assert [s["title"] for s in result["steps"]["removed"]] == ["Vertrag unterschreiben"]


def test_a_new_vote_re_weights_a_problem_with_old_and_new_weight() -> None:
    result = diff(workshop(), workshop(dot("v2", 1010, 460)))

    (entry,) = result["problems"]["reweighted"]
    assert (entry["text"], entry["old_weight"], entry["new_weight"]) == (
        "Unterschrift per Post",
        1,
        2,
    )
    kept = result["metrics"][0]["metrics"]["problem_weight"]
    assert kept == {"old": 1, "new": 2, "delta": 1.0, "pct": 100.0}


def test_problems_added_and_removed() -> None:
    new = workshop(sticky("p3", 400, 350, "Problem: Formular unklar", "red"), drop=("p1",))

    result = diff(workshop(), new)

    assert [p["text"] for p in result["problems"]["added"]] == ["Formular unklar"]
    assert [p["text"] for p in result["problems"]["removed"]] == ["Preisliste veraltet"]


def test_metric_deltas_give_absolute_and_percent_change() -> None:
    slower = sticky("s2", 700, 600, "Angebot erstellen\nPT 1 h\nLT 5 h")

    result = diff(workshop(), workshop(s2=slower))

    lead = result["metrics"][0]["metrics"]["total_lead_time_min"]
    assert lead == {"old": 240.0, "new": 420.0, "delta": 180.0, "pct": 75.0}
    assert not is_empty(result)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (None, 5, {"old": None, "new": 5, "delta": None, "pct": None}),
        (0, 5, {"old": 0, "new": 5, "delta": 5.0, "pct": None}),
        (4, 3, {"old": 4, "new": 3, "delta": -1.0, "pct": -25.0}),
        ("x", 3, {"old": None, "new": 3, "delta": None, "pct": None}),
        (float("nan"), 3, {"old": None, "new": 3, "delta": None, "pct": None}),
    ],
)
def test_metric_delta_is_null_unless_both_values_are_known(
    old: object, new: object, expected: dict
) -> None:
    assert metric_delta(old, new) == expected


def test_streams_are_matched_by_name_and_state_when_their_ids_differ() -> None:
    old_doc = {"streams": [{"id": "a", "name": "Abo", "state": "current", "metrics": {}}]}
    new_doc = {
        "streams": [
            {"id": "b", "name": " abo ", "state": "current", "metrics": {}},
            {"id": "c", "name": "Abo", "state": "target", "metrics": {"step_count": 2}},
        ]
    }
    board = workshop()

    result = diff_revisions(board, board, decode_contract(old_doc), decode_contract(new_doc))

    assert [(row["stream_id"], row["status"]) for row in result["metrics"]] == [
        ("b", "kept"),
        ("c", "added"),
    ]
    assert result["counts"]["streams"] == {"kept": 1, "added": 1, "removed": 0}


def test_malformed_documents_do_not_break_the_diff() -> None:
    board = workshop()
    junk = {"streams": [None, 3, {"steps": "no", "problems": [1, None], "metrics": []}]}

    result = diff_revisions(board, board, decode_contract(junk), decode_contract({"streams": "x"}))

    assert result["counts"]["streams"] == {"kept": 0, "added": 0, "removed": 1}


def test_lists_are_cut_at_the_limit_but_counts_are_complete() -> None:
    many = [sticky(f"n{i}", 3000 + i, 3000, f"note {i}", "gray") for i in range(30)]

    result = diff(workshop(), workshop(*many), limit=10)

    assert len(result["items"]["added"]) == 10
    assert result["counts"]["items"]["added"] == 30


def test_long_board_texts_are_clipped() -> None:
    long_text = "x" * 5000

    result = diff(workshop(), workshop(sticky("n1", 3000, 3000, long_text, "gray")))

    assert len(result["items"]["added"][0]["text"]) == 200


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        diff_revisions(workshop(), workshop(), Contract(), Contract(), limit=-1)


def test_large_boards_are_matched_by_id_whatever_their_order() -> None:
    rng = random.Random(7)
    items = tuple(
        Item(f"i{n}", ItemKind.STICKY, f"t{n}", "gray", Geometry(rng.random() * 1e5, n, 100, 100))
        for n in range(50_000)
    )
    old = Board("miro", "b", "big", items)
    new = Board("miro", "b", "big", tuple(replace(i, text=i.text + "!") for i in items[::2]))
    steps = [
        {
            "id": f"s{n}",
            "order": n,
            "title": f"step {n}",
            "lane": None,
            "source_item_ids": [f"i{n}"],
        }
        for n in range(20_000)
    ]
    doc = {
        "streams": [
            {
                "id": "st",
                "name": "S",
                "state": "current",
                "steps": steps,
                "problems": [],
                "metrics": {},
            }
        ]
    }
    shuffled = {"streams": [{**doc["streams"][0], "steps": list(reversed(steps))}]}

    result = diff_revisions(old, new, decode_contract(doc), decode_contract(shuffled))

    assert result["counts"]["items"] == {"added": 0, "removed": 25_000, "changed": 25_000}
    assert result["counts"]["steps"]["moved"] == 0
