"""Current vs target: kept, removed and added steps and the time changes."""

from __future__ import annotations

import pytest

from service.domain.compare import MAX_FUZZY_PAIRS, change, compare_board, compare_streams
from service.domain.ruleset import Ruleset, StreamState
from service.domain.streams import Step, Stream

RULES = Ruleset()


def step(title: str, order: int, lt: float | None = None, pt: float | None = None) -> Step:
    return Step(
        id=f"{title}-{order}",
        order=order,
        title=title,
        lane=None,
        value_adding=True,
        process_time_min=pt,
        lead_time_min=lt,
        wait_time_min=None,
        complete_accurate_pct=None,
        source_item_ids=(title,),
    )


def stream(name: str, state: StreamState, *steps: Step) -> Stream:
    return Stream(
        id=f"s-{name}",
        name=name,
        state=state,
        frame_id=name,
        persona=None,
        lanes=(),
        steps=steps,
        problems=(),
        ideas=(),
    )


def current(*steps: Step, name: str = "Ist") -> Stream:
    return stream(name, StreamState.CURRENT, *steps)


def target(*steps: Step, name: str = "Soll") -> Stream:
    return stream(name, StreamState.TARGET, *steps)


def test_steps_are_kept_removed_or_added_by_title_similarity() -> None:
    before = current(
        step("Angebot erstellen", 1), step("Vertrag drucken", 2), step("Vertrag senden", 3)
    )
    after = target(
        step("Angebot erstellen (digital)", 1), step("Vertrag senden", 2), step("E-Signatur", 3)
    )

    result = compare_streams(before, after, RULES)

    assert [(k.current_title, k.target_title) for k in result.kept] == [
        ("Angebot erstellen", "Angebot erstellen (digital)"),
        ("Vertrag senden", "Vertrag senden"),
    ]
    assert [r.title for r in result.removed] == ["Vertrag drucken"]
    assert [a.title for a in result.added] == ["E-Signatur"]
    assert result.kept[1].similarity == 1.0


def test_matching_is_one_to_one_and_the_most_similar_pair_wins() -> None:
    before = current(step("Check order", 1), step("Check orders daily", 2))
    after = target(step("Check orders daily!", 1))

    result = compare_streams(before, after, RULES)

    assert [(k.current_title, k.target_title) for k in result.kept] == [
        ("Check orders daily", "Check orders daily!")
    ]
    assert [r.title for r in result.removed] == ["Check order"]


def test_titles_below_the_similarity_threshold_do_not_match() -> None:
    result = compare_streams(current(step("Print", 1)), target(step("Sign online", 1)), RULES)

    assert (result.kept, len(result.removed), len(result.added)) == ((), 1, 1)


def test_kept_steps_report_lead_and_process_time_changes_in_minutes_and_percent() -> None:
    result = compare_streams(
        current(step("Review", 1, lt=480, pt=60)), target(step("Review", 1, lt=120)), RULES
    )

    (kept,) = result.kept
    assert (kept.lead_time_change_min, kept.lead_time_change_pct) == (-360, -75)
    assert (kept.process_time_change_min, kept.process_time_change_pct) == (None, None)


def test_stream_totals_change_along_the_critical_path() -> None:
    result = compare_streams(
        current(step("a", 1, lt=100, pt=10), step("b", 2, lt=300, pt=20)),
        target(step("a", 1, lt=50, pt=10)),
        RULES,
    )

    assert (result.lead_time_change_min, result.lead_time_change_pct) == (-350, -87.5)
    assert (result.process_time_change_min, result.process_time_change_pct) == pytest.approx(
        (-20, -66.666666)
    )


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (None, 5.0, (None, None)),
        (5.0, None, (None, None)),
        (0.0, 5.0, (5.0, None)),
        (10.0, 15.0, (5.0, 50.0)),
    ],
)
def test_changes_are_unknown_when_a_side_is_unknown_and_have_no_percent_from_zero(
    before: float | None, after: float | None, expected: tuple[float | None, float | None]
) -> None:
    assert change(before, after) == expected


def test_a_board_with_one_current_and_one_target_stream_compares_them() -> None:
    streams = (current(step("a", 1)), target(step("a", 1)), stream("x", StreamState.UNSPECIFIED))

    (result,) = compare_board(streams, RULES)

    assert (result.current_stream_id, result.target_stream_id) == ("s-Ist", "s-Soll")


def test_a_board_without_a_target_stream_has_nothing_to_compare() -> None:
    assert compare_board((current(step("a", 1)),), RULES) == ()


def test_several_streams_pair_by_the_title_without_the_state_words() -> None:
    streams = (
        current(name="Ist-Zustand: Abo-Abschluss"),
        current(name="Ist-Zustand: Kündigung"),
        target(name="Soll: Kündigung"),
        target(name="Abo-Abschluss (Soll)"),
    )

    pairs = compare_board(streams, RULES)

    assert [(p.current_stream_name, p.target_stream_name) for p in pairs] == [
        ("Ist-Zustand: Abo-Abschluss", "Abo-Abschluss (Soll)"),
        ("Ist-Zustand: Kündigung", "Soll: Kündigung"),
    ]


def test_huge_streams_match_identical_titles_only() -> None:
    count = int(MAX_FUZZY_PAIRS**0.5) + 50
    before = current(*(step(f"step number {i}", i + 1) for i in range(count)))
    after = target(
        *(step(f"step number {i}x", i + 1) for i in range(count)), step("step number 7", count + 1)
    )

    result = compare_streams(before, after, RULES)

    assert not result.exhaustive
    assert [(k.current_title, k.target_title) for k in result.kept] == [
        ("step number 7", "step number 7")
    ]
