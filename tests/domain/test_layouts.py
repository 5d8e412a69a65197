"""Boards laid out as teams really lay them out (issue 11): each read as a consultant checks it.

Every board is read from a Miro and from a Mural dump (Miro only where Mural lacks the
feature), and the digitized map is checked where a facilitator would look: the steps and their
order, each step's times and lane, where each problem and idea hangs, the totals, the warnings.
"""

from __future__ import annotations

import pytest

from tests.builders import miro_id, mural_id
from tests.domain.layout_boards import (
    PROVIDERS,
    arrow_against_the_layout,
    attached,
    cards_board,
    column_lanes,
    column_rows,
    empty_of_steps,
    frames_without_flow,
    full_width_bands,
    handwritten_times,
    lanes_of_different_heights,
    legend_and_state_words,
    plain_lines,
    read,
    row_headings,
    sideways_times,
    steps_by_title,
    stream,
    vsm_template,
)

DAY = 8 * 60

pytestmark = pytest.mark.parametrize("provider", PROVIDERS)


def _rules_of(document: dict, item_ids: list[str]) -> list[str]:
    rules = {d["item_id"]: d["rule"] for d in document["decisions"]}
    return [rules[item_id] for item_id in item_ids]


def _decision(document: dict, provider: str, index: int) -> dict:
    """The decision on element ``index`` of the board's layout."""
    item_id = miro_id(index) if provider == "miro" else mural_id(index)
    return next(d for d in document["decisions"] if d["item_id"] == item_id)


def test_a_times_sticky_a_bit_to_the_side_still_gives_its_step_the_times(provider: str) -> None:
    document = read(sideways_times(), provider)
    current = stream(document, "Ist-Zustand")
    steps = steps_by_title(current)

    assert (
        steps["Angebot prüfen"]["process_time_min"],
        steps["Angebot prüfen"]["lead_time_min"],
    ) == (
        30,
        2 * DAY,
    )
    assert steps["Angebot senden"]["lead_time_min"] == 10
    assert current["metrics"]["total_lead_time_min"] == 60 + 2 * DAY + 10
    assert document["unclassified"] == []
    assert _decision(document, provider, 5)["placement"]["rule"] == "data-overlap"


def test_problems_and_ideas_stacked_in_a_steps_column_hang_on_that_step(provider: str) -> None:
    document = read(column_rows(), provider)
    current = stream(document, "Ist-Zustand")

    assert attached(current, "problems") == {
        "Medienbruch Fax": "Bestellung erfassen",
        "Doppelte Erfassung": "Bestellung erfassen",
        "Schufa-Abfrage manuell": "Bonität prüfen",
    }
    assert attached(current, "ideas") == {
        "Schufa per API": "Bonität prüfen",
        "Versand täglich statt wöchentlich": "Ware versenden",
    }
    assert [s["lead_time_min"] for s in current["steps"]] == [60, DAY, 2 * DAY]
    assert _decision(document, provider, 8)["placement"]["rule"] == "column"  # 2nd problem


def test_a_step_low_in_a_tall_lane_stays_in_that_lane(provider: str) -> None:
    document = read(lanes_of_different_heights(), provider)
    current = stream(document, "Ist")

    assert current["lanes"] == ["Kunde", "Vertrieb"]
    assert {s["title"]: s["lane"] for s in current["steps"]} == {
        "Angebot anfragen": "Kunde",
        "Angebot erstellen": "Vertrieb",
        "Vertrag senden": "Vertrieb",
        "Vertrag lesen": "Kunde",
    }
    assert current["metrics"]["handoffs"] == 2
    assert _decision(document, provider, 1)["rule"] == "lane-box"


def test_full_width_lane_bands_are_lanes(provider: str) -> None:
    document = read(full_width_bands(), provider)
    current = stream(document, "Current state")

    assert current["lanes"] == ["Customer", "Back office"]
    assert [(s["title"], s["lane"]) for s in current["steps"]] == [
        ("Submit claim", "Customer"),
        ("Check claim", "Back office"),
        ("Pay out", "Back office"),
        ("Receive money", "Customer"),
    ]
    assert _decision(document, provider, 2)["rule"] == "lane-band"


def test_a_top_to_bottom_flow_has_column_lanes_headed_on_top(provider: str) -> None:
    document = read(column_lanes(), provider)
    current = stream(document, "Ist-Zustand")

    assert current["lanes"] == ["Kunde", "Sachbearbeitung"]
    assert [(s["order"], s["title"], s["lane"]) for s in current["steps"]] == [
        (1, "Antrag stellen", "Kunde"),
        (2, "Antrag prüfen", "Sachbearbeitung"),
        (3, "Rückfrage beantworten", "Kunde"),
        (4, "Bescheid erstellen", "Sachbearbeitung"),
    ]
    assert _decision(document, provider, 1)["rule"] == "lane-column"


def test_row_headings_at_the_left_edge_are_no_swimlanes(provider: str) -> None:
    current = stream(read(row_headings(), provider), "Ist-Zustand")

    assert current["lanes"] == []
    assert {s["lane"] for s in current["steps"]} == {None}
    assert attached(current, "problems") == {"Rückruf dauert": "Termin bestätigen"}


def test_agenda_parking_lot_check_in_and_questions_frames_are_no_streams(provider: str) -> None:
    document = read(frames_without_flow(), provider)

    assert [(s["name"], [st["title"] for st in s["steps"]]) for s in document["streams"]] == [
        ("Ist-Zustand", ["Anfrage erfassen", "Angebot senden"])
    ]
    skipped = [w for w in document["warnings"] if w["code"] == "skipped-frame"]
    assert len(skipped) == 4
    agenda = next(w for w in skipped if "'Agenda'" in w["message"])
    assert len(agenda["item_ids"]) == 4  # the frame and its three agenda items
    assert "streams.skip" in agenda["fix"]
    assert set(_rules_of(document, agenda["item_ids"][1:])) == {"skipped-frame"}


def test_farblegende_and_heute_morgen_frames_are_read(provider: str) -> None:
    document = read(legend_and_state_words(), provider)

    assert [(s["name"], s["state"]) for s in document["streams"]] == [
        ("Heute", "current"),
        ("Morgen", "target"),
    ]
    today = stream(document, "Heute")
    assert attached(today, "problems") == {"Formular kommt unvollständig": "Formular prüfen"}
    comparison = document["comparison"]
    assert [k["current_title"] for k in comparison["kept"]] == ["Formular prüfen"]
    assert comparison["lead_time_change_min"] == (1 * 60 + DAY) - (2 * DAY + 3 * DAY)


def test_a_board_made_on_the_vsm_template_is_read_as_a_value_stream(provider: str) -> None:
    document = read(vsm_template(), provider)
    current = stream(document, "Current State Map")

    assert current["state"] == "current"
    steps = current["steps"]
    assert [(s["order"], s["title"]) for s in steps] == [
        (1, "Zuschnitt"),
        (2, "Schweißen"),
        (3, "Montage"),
    ]
    assert [s["process_time_min"] for s in steps] == [0.75, 2, 5]
    # the inventory before "Schweißen" (2 days) and "Montage" (1 day) is their waiting
    assert [s["wait_time_min"] for s in steps] == [None, 2 * DAY, DAY]
    assert attached(current, "ideas") == {"Rüstzeit halbieren": "Schweißen"}
    rules = {d["item_id"]: d["rule"] for d in document["decisions"]}
    assert {rules[step["source_item_ids"][0]] for step in steps} == {"template-process"}
    assert current["metrics"]["total_process_time_min"] == 7.75
    assert document["warnings"] == []


def test_cards_are_steps_with_the_times_of_their_description(provider: str) -> None:
    if provider == "mural":
        pytest.skip("Mural has no cards")
    current = stream(read(cards_board(), provider), "Ist-Zustand")

    assert [(s["title"], s["process_time_min"], s["lead_time_min"]) for s in current["steps"]] == [
        ("Antrag stellen", 10, DAY),
        ("Antrag prüfen", 30, 3 * DAY),
        ("Bescheid senden", 5, 60),
    ]
    assert attached(current, "problems") == {"Unterlagen fehlen oft": "Antrag prüfen"}


def test_lines_without_arrowheads_follow_the_layout_of_the_chain(provider: str) -> None:
    current = stream(read(plain_lines(), provider), "Ist-Zustand")

    assert [(s["order"], s["title"]) for s in current["steps"]] == [
        (1, "Auftrag annehmen"),
        (2, "Material bestellen"),
        (3, "Fertigen"),
        (4, "Prüfen"),
        (5, "Ausliefern"),
    ]
    assert current["metrics"]["total_lead_time_min"] == 5 * DAY


def test_arrowheads_decide_the_direction_where_they_are_drawn(provider: str) -> None:
    current = stream(read(arrow_against_the_layout(), provider), "Ist-Zustand")

    assert [(s["order"], s["title"]) for s in current["steps"]] == [
        (1, "Rechnung empfangen"),
        (2, "Rechnung buchen"),
        (3, "Rechnung zahlen"),
    ]


def test_hand_written_times_and_the_timeline_ladder_are_read(provider: str) -> None:
    document = read(handwritten_times(), provider)
    current = stream(document, "Ist-Zustand")

    assert [
        (s["title"], s["process_time_min"], s["lead_time_min"], s["wait_time_min"])
        for s in current["steps"]
    ] == [
        ("Anruf annehmen", 20, 60, 40),
        ("Fall anlegen", 30, 3 * DAY, 3 * DAY - 30),
        ("Freigabe holen", None, 2 * DAY, 2 * DAY),
        ("Rückruf", 10, DAY + 10, DAY),
    ]
    assert current["lanes"] == []
    assert [_decision(document, provider, i)["rule"] for i in (8, 9)] == [
        "ladder-wait",
        "ladder-process",
    ]


def test_a_board_without_steps_says_so_and_what_to_change(provider: str) -> None:
    document = read(empty_of_steps(), provider)
    codes = {w["code"]: w for w in document["warnings"]}

    assert set(codes) == {"no-steps", "stream-without-steps", "ignored-shapes"}
    assert "step" in codes["no-steps"]["fix"]
    assert len(codes["ignored-shapes"]["item_ids"]) == 6
    assert "6 hexagon shapes" in codes["ignored-shapes"]["message"]
