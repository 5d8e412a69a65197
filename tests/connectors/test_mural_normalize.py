"""normalize_mural: Mural widgets and tags become the normalized Board."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.mural.normalize import normalize_mural
from service.domain.board import Board, Geometry, Item, ItemKind
from testkit.builders import (
    mural_area,
    mural_arrow,
    mural_dump,
    mural_shape,
    mural_sticky,
    mural_tag,
    mural_text,
    mural_widget,
)


def only(board: Board, item_id: str) -> Item:
    return board.by_id()[item_id]


@pytest.mark.parametrize(
    ("widget", "kind", "text"),
    [
        (mural_sticky("w", "Ship it", 0, 0), ItemKind.STICKY, "Ship it"),
        (mural_shape("w", "Start", 0, 0, "circle"), ItemKind.SHAPE, "Start"),
        (mural_text("w", "Design", 0, 0), ItemKind.TEXT, "Design"),
        (mural_area("w", "Current state", 0, 0), ItemKind.CONTAINER, "Current state"),
        (
            mural_widget("w", "image", 0, 0, caption="Whiteboard photo"),
            ItemKind.IMAGE,
            "Whiteboard photo",
        ),
        (mural_widget("w", "comment", 0, 0, message="Check this"), ItemKind.OTHER, "Check this"),
        (mural_widget("w", "icon", 0, 0, name="940622"), ItemKind.OTHER, ""),
        (
            mural_widget("w", "table cell", 0, 0, textContent={"text": "<p>cell</p>"}),
            ItemKind.OTHER,
            "cell",
        ),
    ],
)
def test_each_mural_type_becomes_its_kind_with_its_text(
    widget: dict[str, Any], kind: ItemKind, text: str
) -> None:
    board = normalize_mural(mural_dump([widget]))

    assert (only(board, "w").kind, only(board, "w").text) == (kind, text)
    assert board.stats.unknown_types == {}


def test_unknown_widget_types_are_kept_as_other_and_counted() -> None:
    board = normalize_mural(mural_dump([mural_widget("w", "sketch", 0, 0)]))

    assert only(board, "w").kind is ItemKind.OTHER
    assert board.stats.unknown_types == {"sketch": 1}


def test_sticky_edited_in_the_ui_is_read_from_html_text() -> None:
    sticky = mural_sticky(
        "w",
        "",
        0,
        0,
        html_text='<html v="1"><div><b>Ship</b> &amp; test</div><div>PT 2 h</div></html>',
    )

    assert only(normalize_mural(mural_dump([sticky])), "w").text == "Ship & test\nPT 2 h"


def test_sticky_without_html_text_falls_back_to_text() -> None:
    sticky = mural_sticky("w", "Plain\nsecond line", 0, 0, plain=True)

    assert only(normalize_mural(mural_dump([sticky])), "w").text == "Plain\nsecond line"


def test_html_text_wins_over_text() -> None:
    sticky = mural_sticky("w", "", 0, 0, html_text="<div>new</div>")
    sticky["text"] = "old"

    assert only(normalize_mural(mural_dump([sticky])), "w").text == "new"


def test_the_outline_title_of_a_sticky_is_not_its_text() -> None:
    sticky = mural_sticky("w", "", 0, 0, html_text="")
    sticky["title"] = "Outline entry 3"

    assert only(normalize_mural(mural_dump([sticky])), "w").text == ""


def test_script_in_html_text_ends_up_as_inert_text() -> None:
    sticky = mural_sticky("w", "", 0, 0, html_text="<div>Hi<script>alert(1)</script></div>")

    assert only(normalize_mural(mural_dump([sticky])), "w").text == "Hialert(1)"


@pytest.mark.parametrize(
    ("color", "expected"),
    [
        ("#FCFE7DFF", {"yellow", "light_yellow"}),
        ("#FF9D48FF", {"orange"}),
        ("#FFC2E8FF", {"pink", "light_pink"}),
        ("#C7FE80FF", {"light_green"}),
        ("#9BEDFDFF", {"light_blue", "cyan"}),
        ("#F36DFFFF", {"violet"}),
        ("#FFFFFF00", {None}),
        ("not a colour", {None}),
    ],
)
def test_background_colours_map_to_palette_names(color: str, expected: set[str | None]) -> None:
    board = normalize_mural(mural_dump([mural_sticky("w", "s", 0, 0, color)]))

    assert only(board, "w").color in expected


def test_areas_have_no_colour() -> None:
    assert only(normalize_mural(mural_dump([mural_area("a", "A", 0, 0)])), "a").color is None


def test_top_left_coordinates_become_absolute_centres_through_nested_areas() -> None:
    # outer area top-left (100, 50); inner at (200, 100) in outer -> (300, 150);
    # sticky at (10, 20) in inner -> top-left (310, 170), 168x168 -> centre (394, 254)
    widgets = [
        mural_sticky("s", "step", 10, 20, parent="inner", w=168, h=168),
        mural_area("inner", "Inner", 200, 100, 800, 600, parent="outer"),
        mural_area("outer", "Outer", 100, 50, 2000, 1000),
    ]

    board = normalize_mural(mural_dump(widgets))

    assert only(board, "s").geometry == Geometry(394, 254, 168, 168)
    assert only(board, "s").containers == ("inner", "outer")
    assert only(board, "inner").geometry == Geometry(700, 450, 800, 600)
    assert only(board, "outer").containers == ()


def test_empty_parent_id_means_no_parent() -> None:
    sticky = mural_sticky("s", "x", 10, 20, w=100, h=100)
    sticky["parentId"] = ""

    board = normalize_mural(mural_dump([sticky]))

    assert only(board, "s").geometry == Geometry(60, 70, 100, 100)
    assert board.stats.repaired == ()


def test_widget_whose_area_is_missing_is_kept_and_reported() -> None:
    board = normalize_mural(
        mural_dump([mural_sticky("s", "x", 10, 20, parent="gone", w=100, h=100)])
    )

    assert only(board, "s").geometry == Geometry(60, 70, 100, 100)
    assert only(board, "s").containers == ()
    assert [item_id for item_id, _ in board.stats.repaired] == ["s"]


def test_area_cycles_end_at_top_level() -> None:
    widgets = [mural_area("a", "A", 0, 0, parent="b"), mural_area("b", "B", 0, 0, parent="a")]

    board = normalize_mural(mural_dump(widgets))

    assert only(board, "a").containers == ()
    assert only(board, "b").containers == ()
    assert len(board.stats.repaired) == 2


def test_table_cells_count_the_areas_around_their_table() -> None:
    widgets = [
        mural_area("area", "A", 100, 100, 1000, 1000),
        mural_widget("table", "table", 10, 10, parent="area", w=400, h=200),
        mural_widget("cell", "table cell", 1, 1, parent="table", w=50, h=20),
    ]

    cell = only(normalize_mural(mural_dump(widgets)), "cell")

    assert cell.containers == ("area",)
    assert cell.geometry == Geometry(136, 121, 50, 20)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"x": None}, "x"),
        ({"x": "NaN"}, "x"),
        ({"y": float("inf")}, "y"),
        ({"width": float("nan")}, "width"),
        ({"width": -5}, "width"),
        ({"x": [1, 2]}, "x"),
        ({"width": "wide"}, "width"),
    ],
)
def test_a_widget_whose_position_or_size_cannot_be_read_is_listed_as_malformed(
    changes: dict[str, Any], field: str
) -> None:
    sticky = mural_sticky("s", "x", 10, 20)
    sticky.update(changes)

    board = normalize_mural(mural_dump([sticky]))

    assert board.items == ()
    assert [(item_id, name) for item_id, name, _ in board.stats.malformed] == [("s", field)]


def _captured_sticky(**changes: Any) -> dict[str, Any]:
    """A sticky note as ``GET /murals/{id}/widgets`` returns it (mural-api.md 3.5, the fields of
    the R-RUBY fixture: x/y relative to the parent area, ``htmlText`` with ``text`` cleared)."""
    sticky: dict[str, Any] = {
        "id": "0-1757145174131",
        "type": "sticky note",
        "x": 40,
        "y": 120,
        "width": 168,
        "height": 168,
        "rotation": 0,
        "parentId": None,
        "hidden": False,
        "invisible": False,
        "locked": False,
        "lockedByFacilitator": False,
        "stackingOrder": 3,
        "presentationIndex": -1,
        "title": "",
        "instruction": "",
        "text": "",
        "htmlText": '<html v="1"><div><b>Ship it</b></div></html>',
        "shape": "rectangle",
        "minLines": 3,
        "hyperlink": "",
        "hyperlinkTitle": "",
        "tags": [],
        "style": {"backgroundColor": "#FCFE7DFF", "bold": False, "font": "proxima-nova"},
        "createdOn": 1757145174131,
        "updatedOn": 1757145416708,
        "contentEditedOn": 1757145416708,
        "hideOwner": False,
        "hideEditor": False,
    }
    sticky.update(changes)
    return sticky


@pytest.mark.parametrize("flag", ["hidden", "invisible"])
def test_hidden_and_invisible_widgets_are_skipped_and_counted(flag: str) -> None:
    """``hidden`` / ``invisible`` are documented widget fields (mural-api.md 3.3, R-RUBY
    ``widget.rb``): such a widget is not what the team sees."""
    board = normalize_mural(
        mural_dump([_captured_sticky(**{flag: True}), _captured_sticky(id="0-2")])
    )

    assert [item.id for item in board.items] == ["0-2"]
    assert board.stats.left_out == {flag: 1}


def _mural_shape(widget_id: str, text: str, x: float, y: float, **extra: Any) -> dict[str, Any]:
    return {
        "height": 159.25,
        "id": widget_id,
        "width": 260.5,
        "x": x,
        "y": y,
        "shape": "square",
        "style": {"backgroundColor": "#FFFFFF00", "borderColor": "#000000FF"},
        "text": text,
        "type": "shape",
        **extra,
    }


def test_a_group_is_no_container_and_its_widgets_keep_their_absolute_place() -> None:
    """Grouping B and C in Mural made an untitled ``area`` at (404, 142) and moved B and C into
    it, their ``x``/``y`` now relative to it (github spackows/MURAL-API-Samples,
    notebooks/sample-09_absolute-position.ipynb: B at [0, 0], C at [155, 24] once grouped,
    [404, 142] and [559, 166] before)."""
    widgets = [
        _mural_shape("0-1654051291443", "B", -0.28, 0.13, parentId="0-1654054454818"),
        _mural_shape("0-1654051281139", "A", 105.22, 173.13),
        _mural_shape("0-1654051302806", "C", 154.47, 23.88, parentId="0-1654054454818"),
        {
            "id": "0-1654054454818",
            "type": "area",
            "x": 404.28,
            "y": 142.0,
            "width": 414.0,
            "height": 214.25,
            "title": "",
            "parentId": None,
        },
    ]

    board = normalize_mural(mural_dump(widgets))

    by_id = board.by_id()
    assert "0-1654054454818" not in by_id
    assert board.stats.left_out == {"group (untitled area)": 1}
    b, c = by_id["0-1654051291443"], by_id["0-1654051302806"]
    assert (b.containers, c.containers) == ((), ())
    assert b.geometry is not None
    assert c.geometry is not None
    assert (round(b.geometry.left), round(b.geometry.top)) == (404, 142)
    assert (round(c.geometry.left), round(c.geometry.top)) == (559, 166)


def test_widgets_grouped_inside_a_titled_area_belong_to_that_area() -> None:
    widgets = [
        mural_area("stream", "Current state", 0, 0, 3000, 1000),
        {
            "id": "group",
            "type": "area",
            "x": 100,
            "y": 100,
            "width": 500,
            "height": 300,
            "title": "",
            "parentId": "stream",
        },
        mural_sticky("s", "Prüfen", 10, 10, parent="group"),
    ]

    board = normalize_mural(mural_dump(widgets))

    assert only(board, "s").containers == ("stream",)


def test_votes_mural_refused_are_a_warning_not_zero_votes_in_silence() -> None:
    dump = {**mural_dump([_captured_sticky()]), "votes_unavailable": "403 forbidden"}

    board = normalize_mural(dump)

    [(code, message)] = board.stats.warnings
    assert code == "votes_unavailable"
    assert "403 forbidden" in message


def test_numbers_sent_as_strings_are_read() -> None:
    sticky = mural_sticky("s", "x", 0, 0)
    sticky.update(x="10", y="20.5", width="100", height="50", rotation="90")

    assert only(normalize_mural(mural_dump([sticky])), "s").geometry == Geometry(
        60, 45.5, 100, 50, 90
    )


def test_tags_are_looked_up_by_id_as_strings_or_objects() -> None:
    sticky = mural_sticky("s", "x", 0, 0, tags=["t1"])
    sticky["tags"].append({"id": "t2"})
    sticky["tags"].append("unknown")
    dump = mural_dump([sticky], tags=[mural_tag("t1", "Problem"), mural_tag("t2", "Idee")])

    assert only(normalize_mural(dump), "s").tags == ("Problem", "Idee")


def test_arrows_become_connectors_with_joined_labels_and_missing_ends_kept() -> None:
    arrow = mural_arrow("a1", "s", "missing", label="yes")
    arrow["label"]["labels"].append({"text": "<b>later</b>"})
    dump = mural_dump([mural_sticky("s", "x", 0, 0), arrow, mural_arrow("a2", None, "s")])

    board = normalize_mural(dump)

    assert [item.id for item in board.items] == ["s"]
    a1, a2 = board.connectors
    assert (a1.id, a1.start_id, a1.end_id, a1.text) == ("a1", "s", "missing", "yes later")
    assert (a2.start_id, a2.end_id, a2.text) == (None, "s", "")


def test_duplicate_and_broken_widgets_are_skipped_and_reported() -> None:
    dump = mural_dump(
        [mural_sticky("s", "first", 0, 0), mural_sticky("s", "again", 0, 0), None, {}]
    )

    board = normalize_mural(dump)

    assert [item.text for item in board.items] == ["first"]
    assert [item_id for item_id, _ in board.stats.skipped] == ["s", "widgets[2]", "widgets[3]"]


def test_unknown_fields_are_counted_but_documented_ones_are_not() -> None:
    sticky = mural_sticky("s", "x", 0, 0)
    sticky.update(hyperlink="", createdOn=1, futureField=True)

    assert normalize_mural(mural_dump([sticky])).stats.unknown_fields == 1


def test_mural_without_widgets_is_an_empty_board_with_its_id_and_title() -> None:
    board = normalize_mural(mural_dump([], mural_id="acme.1", title="Sprint 42"))

    assert (board.provider, board.id, board.name, board.items, board.connectors) == (
        "mural",
        "acme.1",
        "Sprint 42",
        (),
        (),
    )


def _voted(votes: object) -> Board:
    dump = mural_dump([mural_sticky("p", "Too many approvals", 0, 0, "red")])
    dump["votes"] = votes
    return normalize_mural(dump)


def test_voting_results_become_the_votes_of_the_widgets_voted_for() -> None:
    dump = mural_dump(
        [mural_sticky("p", "Too many approvals", 0, 0, "red"), mural_sticky("q", "Slow", 300, 0)],
        votes={"p": 4},
    )

    board = normalize_mural(dump)

    assert (only(board, "p").votes, only(board, "q").votes) == (4, 0)
    assert board.stats.unknown_fields == 0


@pytest.mark.parametrize("votes", [None, {}, {"p": 0}])
def test_a_mural_without_voting_results_has_no_votes(votes: object) -> None:
    board = _voted(votes)

    assert only(board, "p").votes == 0
    assert board.stats.unknown_fields == 0


@pytest.mark.parametrize(
    "votes",
    [
        [["p", 3]],
        "p=3",
        {"p": -1},
        {"p": True},
        {"p": "3"},
        {"p": 2.5},
        {"p": float("nan")},
        {"p": None},
        {"elsewhere": 3},
        {7: 3},
    ],
)
def test_junk_voting_results_are_ignored_and_counted(votes: object) -> None:
    board = _voted(votes)

    assert only(board, "p").votes == 0
    assert board.stats.unknown_fields == 1


def test_a_whole_number_sent_as_a_float_counts() -> None:
    assert only(_voted({"p": 3.0}), "p").votes == 3


def test_an_absurd_vote_total_is_clamped_and_reported() -> None:
    board = _voted({"p": 10**30})

    assert only(board, "p").votes == 1_000_000
    assert [item_id for item_id, _ in board.stats.repaired] == ["p"]


def test_votes_on_arrows_are_not_items_and_are_counted_as_unknown() -> None:
    dump = mural_dump(
        [mural_sticky("p", "x", 0, 0), mural_sticky("q", "y", 300, 0), mural_arrow("a", "p", "q")],
        votes={"a": 2, "p": 1},
    )

    board = normalize_mural(dump)

    assert [(item.id, item.votes) for item in board.items] == [("p", 1), ("q", 0)]
    assert board.stats.unknown_fields == 1


def test_no_more_voting_results_are_read_than_the_mural_has_widgets() -> None:
    votes = {"p": 2, **{f"ghost-{i}": 1 for i in range(50_000)}}

    board = _voted(votes)

    assert only(board, "p").votes == 2
    assert board.stats.unknown_fields == 50_000
