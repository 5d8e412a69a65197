"""Golden-structure tests of the SVG value stream map: elements, order, counts, escaping."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from service.domain.contract_model import decode_contract
from service.domain.render.svg import (
    MAX_MARKERS_PER_STEP,
    MAX_STEPS,
    MAX_WIDTH_PX,
    select_stream,
)
from tests.domain.render.contracts import abo_stream, linear_stream, problem, step, stream, svg_of

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = [
    "<script>alert(1)</script>",
    '" onload="alert(1)',
    "Tom & Jerry's <b>",
    "]]> <![CDATA[ x ]]>",
    "</text></svg><script>alert(2)</script>",
]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def classes(el: ET.Element) -> set[str]:
    return set(el.get("class", "").split())


def find_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [el for el in root.iter() if name in classes(el)]


def text_of(el: ET.Element) -> str:
    return "".join(el.itertext())


def box(step_group: ET.Element) -> ET.Element:
    rect = step_group.find(f"{NS}rect")
    assert rect is not None
    return rect


def step_boxes(root: ET.Element) -> dict[str, tuple[float, float]]:
    return {
        g.get("data-step-id", ""): (float(box(g).get("x", "nan")), float(box(g).get("y", "nan")))
        for g in find_class(root, "step")
    }


def test_every_step_is_drawn_as_one_box_with_its_id() -> None:
    root = parse(svg_of(abo_stream()))

    steps = find_class(root, "step")

    assert sorted(g.get("data-step-id", "") for g in steps) == ["st1", "st2", "st3", "st4", "st5"]
    assert all(len(find_class(g, "step-box")) == 1 for g in steps)


def test_boxes_run_left_to_right_in_step_order() -> None:
    shuffled = linear_stream(7)
    shuffled["steps"] = list(reversed(shuffled["steps"]))

    boxes = step_boxes(parse(svg_of(shuffled)))

    xs = [boxes[f"lin-{i}"][0] for i in range(1, 8)]
    assert xs == sorted(xs)
    assert len(set(xs)) == 7


def test_parallel_steps_share_a_column_and_are_stacked() -> None:
    boxes = step_boxes(parse(svg_of(abo_stream())))

    assert boxes["st2"][0] == boxes["st3"][0]
    assert boxes["st2"][1] != boxes["st3"][1]
    assert boxes["st1"][0] < boxes["st2"][0] < boxes["st4"][0] < boxes["st5"][0]


def test_each_lane_is_a_labelled_band_holding_its_steps() -> None:
    root = parse(svg_of(abo_stream()))

    lanes = {g.get("data-lane"): g for g in find_class(root, "lane")}
    boxes = step_boxes(root)

    assert list(lanes) == ["Kunde", "Backoffice"]
    for name, ids in {"Kunde": ["st1", "st5"], "Backoffice": ["st2", "st3", "st4"]}.items():
        band = lanes[name].find(f"{NS}rect")
        assert band is not None
        top, height = float(band.get("y", "0")), float(band.get("height", "0"))
        assert name in text_of(lanes[name])
        for step_id in ids:
            assert top < boxes[step_id][1] < top + height


def test_a_stream_without_lanes_draws_no_lane_labels() -> None:
    root = parse(svg_of(linear_stream(3)))

    assert find_class(root, "lane") == []
    assert len(find_class(root, "band")) == 1


def test_steps_without_a_lane_get_their_own_band_when_the_stream_has_lanes() -> None:
    data = stream([step("a", 1, "A", lane="Sales"), step("b", 2, "B", lane=None)], lanes=["Sales"])

    lanes = [g.get("data-lane") for g in find_class(parse(svg_of(data)), "lane")]

    assert lanes == ["Sales", "(no lane)"]


def test_non_value_adding_steps_are_hatched_dashed_and_badged() -> None:
    root = parse(svg_of(abo_stream()))

    nva = [g for g in find_class(root, "step") if g.get("data-value-adding") == "false"]

    assert [g.get("data-step-id") for g in nva] == ["st4"]
    rect = box(nva[0])
    assert "nva" in classes(rect)
    assert rect.get("stroke-dasharray")
    assert "hatch" in rect.get("fill", "")
    assert text_of(find_class(nva[0], "nva-badge")[0]) == "NVA"
    assert len(find_class(root, "nva-badge")) == 1


def test_the_ladder_has_one_wait_and_one_process_rung_per_column() -> None:
    root = parse(svg_of(abo_stream()))

    assert len(find_class(root, "rung-wait")) == 4
    assert len(find_class(root, "rung-process")) == 4
    wait, process = find_class(root, "rung-wait")[0], find_class(root, "rung-process")[0]
    # the process rung is the low one (y grows downwards)
    assert float(process.get("d", "").split()[1].split("H")[0]) > float(
        wait.get("d", "").split()[1].split("H")[0]
    )


def test_a_parallel_column_puts_its_critical_step_on_the_ladder() -> None:
    root = parse(svg_of(abo_stream()))

    column_2 = next(g for g in find_class(root, "rung-pair") if g.get("data-column") == "2")

    assert column_2.get("data-step-id") == "st2"  # LT 8 h beats the parallel 2 h
    labels = [text_of(t) for t in find_class(column_2, "rung-label")]
    assert labels == ["7.8 h", "15 min"]
    critical = [g.get("data-step-id") for g in find_class(root, "step") if g.get("data-critical")]
    assert critical == ["st2"]


def test_unknown_times_show_as_a_question_mark_on_the_ladder() -> None:
    root = parse(svg_of(abo_stream()))

    column_4 = next(g for g in find_class(root, "rung-pair") if g.get("data-column") == "4")

    assert [text_of(t) for t in find_class(column_4, "rung-label")] == ["?", "2 min"]


def test_totals_and_the_activity_ratio_close_the_ladder() -> None:
    root = parse(svg_of(abo_stream()))

    def total(name: str) -> str:
        return text_of(find_class(root, f"total-{name}")[0])

    assert total("lead-time") == "4 d"
    assert total("process-time") == "22 min"
    assert total("activity-ratio") == "1.1 %"


def test_unknown_totals_show_as_a_question_mark() -> None:
    root = parse(svg_of(linear_stream(3)))

    assert text_of(find_class(root, "total-lead-time")[0]) == "?"
    assert text_of(find_class(root, "total-activity-ratio")[0]) == "?"


def test_problem_markers_are_numbered_by_rank_and_sit_on_their_steps() -> None:
    root = parse(svg_of(abo_stream()))

    markers = find_class(root, "problem-marker")

    assert [(m.get("data-rank"), m.get("data-step-id")) for m in markers] == [
        ("1", "st2"),
        ("2", "st4"),
    ]
    assert [text_of(m).split("Problem")[0] for m in markers] == ["", ""]
    assert all(m.find(f"{NS}text") is not None for m in markers)
    assert [m.findtext(f"{NS}text") for m in markers] == ["1", "2"]


def test_more_votes_make_a_bigger_marker() -> None:
    data = stream(
        [step("a", 1, "A"), step("b", 2, "B")],
        problems=[problem("p1", "big", "a", 10), problem("p2", "small", "b", 1)],
    )
    root = parse(svg_of(data))

    radius = {
        m.get("data-rank"): float(m.find(f"{NS}circle").get("r", "0"))  # type: ignore[union-attr]
        for m in find_class(root, "problem-marker")
    }

    assert radius["1"] > radius["2"]


def test_a_step_with_many_problems_shows_the_first_markers_and_a_count() -> None:
    problems = [problem(f"p{i}", f"Problem {i}", "a", 10 - i) for i in range(7)]
    root = parse(svg_of(stream([step("a", 1, "A")], problems=problems)))

    assert len(find_class(root, "problem-marker")) == MAX_MARKERS_PER_STEP
    assert text_of(find_class(root, "problem-more")[0]) == f"+{7 - MAX_MARKERS_PER_STEP}"
    assert len(find_class(root, "problem-item")) == 7


def test_the_problem_list_gives_rank_votes_text_and_step() -> None:
    root = parse(svg_of(abo_stream()))

    items = find_class(root, "problem-item")

    assert [i.get("data-rank") for i in items] == ["1", "2", "3"]
    first = text_of(items[0])
    assert "Medienbruch: Daten werden abgetippt" in first
    assert "5 votes" in first
    assert "Zahlungsdaten prüfen" in first
    assert "whole stream" in text_of(items[2])


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("field", ["title", "lane", "problem", "name", "id"])
def test_hostile_board_text_is_shown_as_text_and_never_becomes_markup(
    hostile: str, field: str
) -> None:
    data = abo_stream()
    if field == "title":
        data["steps"][0]["title"] = hostile
    elif field == "lane":
        data["lanes"][0] = hostile
        for s in data["steps"]:
            if s["lane"] == "Kunde":
                s["lane"] = hostile
    elif field == "problem":
        data["problems"][0]["text"] = hostile
    elif field == "name":
        data["name"] = hostile
    else:
        data["steps"][0]["id"] = hostile

    svg = svg_of(data)
    root = parse(svg)

    assert not [el for el in root.iter() if el.tag.endswith("script")]
    assert all(not k.startswith("on") for el in root.iter() for k in el.attrib)
    assert "<script" not in svg
    if field == "id":
        assert hostile in [g.get("data-step-id") for g in find_class(root, "step")]
    else:
        words = "".join("".join(root.itertext()).split())
        assert "".join(hostile.split()) in words


def test_a_100000_character_text_is_bounded() -> None:
    small = svg_of(abo_stream())
    data = abo_stream()
    huge = "Wort " * 20_000
    data["steps"][0]["title"] = huge
    data["problems"][0]["text"] = huge
    data["lanes"][0] = huge
    for s in data["steps"]:
        if s["lane"] == "Kunde":
            s["lane"] = huge

    svg = svg_of(data)

    parse(svg)
    assert len(svg) < len(small) + 12_000
    assert "\u2026" in svg


def test_characters_xml_forbids_are_dropped() -> None:
    data = abo_stream()
    data["steps"][0]["title"] = "Bell\x07 and NUL\x00 and \ufffe"

    root = parse(svg_of(data))

    assert "Bell and NUL and" in text_of(find_class(root, "step-title")[0])


@pytest.mark.parametrize("count", [5, 60])
def test_five_and_sixty_steps_give_well_formed_maps(count: int) -> None:
    root = parse(svg_of(linear_stream(count)))

    assert len(find_class(root, "step")) == count
    assert len(find_class(root, "rung-process")) == count
    view = [float(v) for v in root.get("viewBox", "").split()]
    assert view[:2] == [0, 0]
    assert math.isclose(float(root.get("width", "0")), view[2])


def test_the_map_grows_wider_with_more_columns() -> None:
    widths = [float(parse(svg_of(linear_stream(n))).get("width", "0")) for n in (5, 60)]

    assert widths[1] > widths[0] * 5


def test_more_steps_than_the_cap_are_cut_with_a_note() -> None:
    root = parse(svg_of(linear_stream(MAX_STEPS + 20)))

    assert len(find_class(root, "step")) == MAX_STEPS
    note = text_of(find_class(root, "map-notes")[0])
    assert f"first {MAX_STEPS} of {MAX_STEPS + 20} steps" in note
    assert float(root.get("width", "0")) <= MAX_WIDTH_PX


def test_the_same_stream_renders_to_the_same_bytes() -> None:
    assert svg_of(abo_stream()) == svg_of(abo_stream())


def test_umlauts_and_emoji_come_through_unchanged() -> None:
    svg = svg_of(abo_stream())

    assert "Kunde wählt Abo 📰" in "".join(parse(svg).itertext())
    assert "Noto Color Emoji" in svg


def test_the_map_is_labelled_for_assistive_technology() -> None:
    root = parse(svg_of(abo_stream(), title="Abo: Ist"))

    labelled_by = root.get("aria-labelledby", "").split()
    ids = {el.get("id"): el for el in root.iter() if el.get("id")}

    assert root.get("role") == "img"
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    assert [ids[i].tag for i in labelled_by] == [f"{NS}title", f"{NS}desc"]
    assert text_of(ids[labelled_by[0]]) == "Value stream map: Abo: Ist"
    assert "5 steps" in text_of(ids[labelled_by[1]])
    assert all(g.get("aria-label") for g in find_class(root, "step"))


def test_two_streams_never_share_element_ids() -> None:
    def ids(data: dict[str, Any]) -> set[str]:
        return {el.get("id", "") for el in parse(svg_of(data)).iter() if el.get("id")}

    assert not ids(abo_stream()) & ids(linear_stream(3))


def test_malformed_steps_are_tolerated() -> None:
    data = stream(
        [
            step("a", 1, "A"),
            {**step("b", 2, "B"), "order": None, "process_time_min": math.nan},
            {**step("c", 3, "C"), "order": "drei", "lead_time_min": "lots"},
        ]
    )
    data["steps"].append("not a step")

    root = parse(svg_of(data))

    assert len(find_class(root, "step")) == 3


def test_an_empty_stream_says_it_has_no_steps() -> None:
    root = parse(svg_of(stream([])))

    assert find_class(root, "step") == []
    assert "No steps" in text_of(find_class(root, "empty-note")[0])


@pytest.mark.parametrize(
    ("key", "expected"), [(None, "s1"), ("lin", "lin"), ("2", "lin"), ("Ist-Zustand", "s1")]
)
def test_a_stream_is_picked_by_id_name_or_position(key: str | None, expected: str) -> None:
    doc = {"streams": [abo_stream(), linear_stream(3)]}

    assert select_stream(decode_contract(doc), key).id == expected


@pytest.mark.parametrize(
    ("doc", "key"), [({"streams": []}, None), ({"streams": [abo_stream()]}, "7")]
)
def test_picking_a_missing_stream_says_which_exist(doc: dict[str, Any], key: str | None) -> None:
    with pytest.raises(LookupError, match="stream"):
        select_stream(decode_contract(doc), key)
