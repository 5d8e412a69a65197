"""normalize_miro: Miro REST v2 items, connectors and tags become the normalized Board."""

from __future__ import annotations

import math
from typing import Any

import pytest

from connectors.miro.normalize import normalize_miro
from service.domain.board import Board, Geometry, Item, ItemKind
from tests.builders import (
    miro_card,
    miro_connector,
    miro_dump,
    miro_frame,
    miro_item,
    miro_shape,
    miro_sticky,
    miro_tag,
    miro_text,
)


def only(board: Board, item_id: str) -> Item:
    return board.by_id()[item_id]


@pytest.mark.parametrize(
    ("item", "kind", "text"),
    [
        (miro_sticky("1", "Auftrag prüfen", 0, 0), ItemKind.STICKY, "Auftrag prüfen"),
        (miro_shape("1", "Start", 0, 0, "circle"), ItemKind.SHAPE, "Start"),
        (miro_text("1", "Growth", 0, 0), ItemKind.TEXT, "Growth"),
        (miro_frame("1", "Ist-Zustand", 0, 0), ItemKind.CONTAINER, "Ist-Zustand"),
        (miro_card("1", "Login bug", 0, 0), ItemKind.CARD, "Login bug"),
        (
            miro_item("1", "app_card", 0, 0, data={"title": "Jira-1", "description": "d"}),
            ItemKind.CARD,
            "Jira-1\nd",  # the description is on the board too, under the title
        ),
        (miro_item("1", "image", 0, 0, data={"title": "photo.png"}), ItemKind.IMAGE, "photo.png"),
        (miro_item("1", "document", 0, 0, data={"title": "spec.pdf"}), ItemKind.OTHER, "spec.pdf"),
    ],
)
def test_each_miro_type_becomes_its_kind_with_its_text(
    item: dict[str, Any], kind: ItemKind, text: str
) -> None:
    board = normalize_miro(miro_dump([item]))

    assert (only(board, "1").kind, only(board, "1").text) == (kind, text)
    assert board.stats.unknown_types == {}


def test_unknown_item_types_are_kept_as_other_and_counted() -> None:
    dump = miro_dump(
        [
            miro_item("1", "kanban", 0, 0),
            miro_item("2", "kanban", 0, 0),
            miro_item("3", "poll", 0, 0),
        ]
    )

    board = normalize_miro(dump)

    assert [item.kind for item in board.items] == [ItemKind.OTHER] * 3
    assert board.stats.unknown_types == {"kanban": 2, "poll": 1}


def test_sticky_html_content_becomes_plain_text_with_line_breaks() -> None:
    dump = miro_dump(
        [
            miro_sticky(
                "1",
                "",
                0,
                0,
                content="<p><strong>Prüfen</strong> &amp; freigeben</p><p>PT 5 min</p>",
            )
        ]
    )

    assert only(normalize_miro(dump), "1").text == "Prüfen & freigeben\nPT 5 min"


def test_script_in_sticky_content_ends_up_as_inert_text() -> None:
    dump = miro_dump([miro_sticky("1", "", 0, 0, content="<p>Hi<script>alert(1)</script></p>")])

    assert only(normalize_miro(dump), "1").text == "Hialert(1)"


def test_a_100k_character_sticky_is_truncated_and_counted() -> None:
    dump = miro_dump([miro_sticky("1", "x" * 100_000, 0, 0), miro_sticky("2", "short", 0, 0)])

    board = normalize_miro(dump)

    assert len(only(board, "1").text) == 10_000
    assert board.stats.truncated_texts == 1


@pytest.mark.parametrize(
    ("item", "color"),
    [
        (miro_sticky("1", "s", 0, 0, "light_pink"), "light_pink"),
        (miro_sticky("1", "s", 0, 0, "dark_blue"), "dark_blue"),
        (miro_shape("1", "s", 0, 0, color="#ff9d48"), "orange"),
        (miro_shape("1", "s", 0, 0, color="#E6393F"), "red"),
        (miro_shape("1", "s", 0, 0, color="transparent"), None),
        (miro_shape("1", "s", 0, 0, color="#ffffff", opacity="0.0"), None),
        (miro_frame("1", "Frame", 0, 0), None),
        (miro_card("1", "card", 0, 0), "blue"),
    ],
)
def test_colours_are_palette_names(item: dict[str, Any], color: str | None) -> None:
    assert only(normalize_miro(miro_dump([item])), "1").color == color


def test_top_level_position_is_the_centre_relative_to_the_board_centre() -> None:
    dump = miro_dump([miro_sticky("1", "s", -120.5, 80, w=199, h=228)])

    assert only(normalize_miro(dump), "1").geometry == Geometry(-120.5, 80, 199, 228)


def test_children_of_frames_nested_two_deep_get_absolute_centres_in_any_item_order() -> None:
    # outer frame centred at (1000, 500), 2000x1000: top-left (0, 0)
    # inner frame centre (600, 400) in outer: absolute (600, 400), 800x600: top-left (200, 100)
    # sticky centre (100, 50) in inner: absolute (300, 150)
    items = [
        miro_sticky("s", "step", 100, 50, parent="inner"),
        miro_frame("inner", "Inner", 600, 400, 800, 600, parent="outer"),
        miro_frame("outer", "Outer", 1000, 500, 2000, 1000),
    ]

    board = normalize_miro(miro_dump(items))

    sticky = only(board, "s")
    assert sticky.geometry is not None
    assert (sticky.geometry.x, sticky.geometry.y) == (300, 150)
    assert sticky.containers == ("inner", "outer")
    assert only(board, "inner").containers == ("outer",)
    assert only(board, "inner").geometry == Geometry(600, 400, 800, 600)


def test_child_with_explicit_canvas_centre_position_is_already_absolute() -> None:
    child = miro_sticky("s", "step", 10, 20, parent="f")
    child["position"]["relativeTo"] = "canvas_center"
    dump = miro_dump([miro_frame("f", "F", 1000, 1000, 400, 400), child])

    sticky = only(normalize_miro(dump), "s")

    assert sticky.geometry is not None
    assert (sticky.geometry.x, sticky.geometry.y) == (10, 20)
    assert sticky.containers == ("f",)


def test_item_whose_parent_is_missing_is_kept_at_its_raw_coordinates_and_reported() -> None:
    dump = miro_dump([miro_sticky("s", "orphan", 10, 20, parent="gone")])

    board = normalize_miro(dump)

    sticky = only(board, "s")
    assert sticky.geometry is not None
    assert (sticky.geometry.x, sticky.geometry.y) == (10, 20)
    assert sticky.containers == ()
    assert [item_id for item_id, _ in board.stats.repaired] == ["s"]
    assert "not in the dump" in board.stats.repaired[0][1]


def test_parent_cycles_end_at_top_level_instead_of_looping() -> None:
    items = [
        miro_frame("a", "A", 0, 0, parent="b"),
        miro_frame("b", "B", 10, 10, parent="a"),
        miro_sticky("s", "inside a", 5, 5, parent="a"),
    ]

    board = normalize_miro(miro_dump(items))

    assert only(board, "a").containers == ()
    assert only(board, "b").containers == ()
    assert only(board, "s").containers == ("a",)
    assert {item_id for item_id, _ in board.stats.repaired} == {"a", "b"}


@pytest.mark.parametrize(
    "position",
    [
        None,
        {"x": "NaN", "y": 1},
        {"x": float("nan"), "y": 1},
        {"x": float("inf"), "y": 1},
        {"x": "left", "y": 1},
        {"y": 1},
        "somewhere",
    ],
)
def test_missing_or_non_finite_coordinates_give_no_geometry(position: object) -> None:
    sticky = miro_sticky("1", "s", 0, 0)
    sticky["position"] = position

    item = only(normalize_miro(miro_dump([sticky])), "1")

    assert item.geometry is None
    assert item.text == "s"


def test_children_of_a_frame_without_usable_geometry_have_no_geometry() -> None:
    frame = miro_frame("f", "F", 0, 0)
    frame["geometry"] = {"width": float("nan"), "height": 100}
    dump = miro_dump([frame, miro_sticky("s", "child", 10, 10, parent="f")])

    board = normalize_miro(dump)

    assert only(board, "s").geometry is None
    assert only(board, "s").containers == ("f",)


def test_numbers_sent_as_strings_are_read() -> None:
    sticky = miro_sticky("1", "s", 0, 0)
    sticky["position"].update(x="12.5", y="-3")
    sticky["geometry"] = {"width": "199", "height": "228.0", "rotation": "15"}

    geometry = only(normalize_miro(miro_dump([sticky])), "1").geometry

    assert geometry == Geometry(12.5, -3, 199, 228, 15)


def test_coordinates_too_large_to_add_up_give_no_geometry() -> None:
    dump = miro_dump(
        [miro_frame("f", "F", 1e308, 0, 1e308, 10), miro_sticky("s", "x", 1e308, 0, parent="f")]
    )

    geometry = only(normalize_miro(dump), "s").geometry

    assert geometry is None or geometry.is_finite()


def test_tags_are_joined_through_item_tags_to_their_titles() -> None:
    dump = miro_dump(
        [miro_sticky("1", "s", 0, 0), miro_sticky("2", "t", 0, 0)],
        tags=[miro_tag("t1", "Problem"), miro_tag("t2", "NVA")],
        item_tags={"1": ["t1", "t2", "t-unknown", "t1"]},
    )

    board = normalize_miro(dump)

    assert only(board, "1").tags == ("Problem", "NVA")
    assert only(board, "2").tags == ()


def test_connectors_keep_both_ends_and_caption_even_when_an_end_is_missing() -> None:
    dump = miro_dump(
        [miro_sticky("1", "a", 0, 0)],
        connectors=[
            miro_connector("c1", "1", "not-on-board", caption="blocks & waits"),
            miro_connector("c2", None, "1"),
        ],
    )
    dump["connectors"][1]["captions"] = [{"content": "<p><b>yes</b></p>"}, {"content": "now"}]

    board = normalize_miro(dump)

    c1, c2 = board.connectors
    assert (c1.start_id, c1.end_id, c1.text) == ("1", "not-on-board", "blocks & waits")
    assert c2.text == "yes now"
    assert (c2.start_id, c2.end_id) == (None, "1")


def test_duplicate_ids_keep_the_first_item_and_report_the_rest() -> None:
    dump = miro_dump([miro_sticky("1", "first", 0, 0), miro_sticky("1", "second", 0, 0)])

    board = normalize_miro(dump)

    assert [item.text for item in board.items] == ["first"]
    assert board.stats.skipped == (("1", "duplicate id; the first item with this id was kept"),)


def test_connectors_without_an_id_or_with_a_repeated_one_are_reported() -> None:
    sticky = miro_sticky("1", "Step", 0, 0)
    first, again = miro_connector("c", "1", None, "first"), miro_connector("c", None, "1")
    nameless = {**miro_connector("x", "1", None), "id": ""}

    board = normalize_miro(miro_dump([sticky], [first, nameless, again]))

    assert [c.text for c in board.connectors] == ["first"]
    assert board.stats.skipped == (
        ("connectors[1]", "connector without an id"),
        ("c", "duplicate id; the first connector with this id was kept"),
    )


def test_items_that_are_not_objects_or_lack_an_id_are_skipped_and_reported() -> None:
    dump = miro_dump([miro_sticky("1", "ok", 0, 0), "junk", 42, {"type": "sticky_note"}])

    board = normalize_miro(dump)

    assert [item.id for item in board.items] == ["1"]
    assert [item_id for item_id, _ in board.stats.skipped] == ["items[1]", "items[2]", "items[3]"]
    assert board.stats.items_read == 4


def test_unknown_fields_are_counted_but_documented_ones_are_not() -> None:
    sticky = miro_sticky("1", "s", 0, 0)
    sticky.update(createdAt="2026-01-01T00:00:00Z", modifiedBy={"id": "u"}, brandNew=1, other=2)

    assert normalize_miro(miro_dump([sticky])).stats.unknown_fields == 2


def test_wrongly_typed_fields_are_tolerated() -> None:
    sticky = miro_sticky("1", "s", 0, 0)
    sticky.update(data=["not", "an", "object"], style={"fillColor": 7}, parent="not-an-object")

    item = only(normalize_miro(miro_dump([sticky])), "1")

    assert (item.text, item.color, item.containers) == ("", None, ())


def test_board_without_items_is_an_empty_board_with_its_name() -> None:
    board = normalize_miro(miro_dump([], board_id="uXjVO1a2b3c=", name="Abo &amp; Co"))

    assert (board.provider, board.id, board.name, board.items) == (
        "miro",
        "uXjVO1a2b3c=",
        "Abo & Co",
        (),
    )


def test_shape_names_come_from_the_data() -> None:
    board = normalize_miro(
        miro_dump(
            [miro_shape("1", "", 0, 0, "circle"), miro_sticky("2", "", 0, 0, shape="rectangle")]
        )
    )

    assert (only(board, "1").shape, only(board, "2").shape) == ("circle", "rectangle")


def test_rotation_that_is_not_finite_reads_as_zero() -> None:
    sticky = miro_sticky("1", "s", 0, 0)
    sticky["geometry"]["rotation"] = float("nan")

    geometry = only(normalize_miro(miro_dump([sticky])), "1").geometry

    assert geometry is not None
    assert geometry.rotation == 0
    assert not math.isnan(geometry.rotation)
