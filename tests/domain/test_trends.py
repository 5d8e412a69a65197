"""Trends: a stream followed across revisions by its frame, else by its title."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from service.domain.contract_model import decode_metrics
from service.domain.ruleset import Ruleset
from service.domain.trends import (
    BoardRevision,
    RevisionStream,
    follow_streams,
    since_last_workshop,
)

RULES = Ruleset()


def stream(
    stream_id: int, name: str, frame: str | None, lead: float | None, state: str = "current"
) -> RevisionStream:
    return RevisionStream(
        stream_id,
        name,
        state,
        frame,
        decode_metrics(
            {"total_lead_time_min": lead, "total_process_time_min": 10.0, "handoffs": 2}
        ),
    )


def revision(number: int, *streams: RevisionStream) -> BoardRevision:
    return BoardRevision(number, f"2026-0{number}-01T09:00:00Z", streams)


def test_a_renamed_stream_in_the_same_frame_is_the_same_stream() -> None:
    trends = follow_streams(
        [
            revision(1, stream(1, "Ist-Zustand", "frame-a", 1000.0)),
            revision(2, stream(1, "Ist-Zustand März (nach Kaizen)", "frame-a", 600.0)),
        ],
        RULES,
    )

    assert len(trends) == 1
    assert [p.matched_by for p in trends[0].points] == ["first", "frame"]
    assert trends[0].name == "Ist-Zustand März (nach Kaizen)"


def test_a_stream_in_a_new_frame_is_followed_by_its_title() -> None:
    trends = follow_streams(
        [
            revision(
                1,
                stream(1, "Ist: Abo-Abschluss", "f1", 1000.0),
                stream(2, "Ist: Kündigung", "f2", 50.0),
            ),
            revision(
                2,
                stream(3, "Ist: Kündigungen", "f9", 40.0),
                stream(4, "Ist: Abo-Abschluss", "f8", 500.0),
            ),
        ],
        RULES,
    )

    followed = {t.name: [(p.stream_id, p.matched_by) for p in t.points] for t in trends}
    assert followed == {
        "Ist: Kündigungen": [(2, "first"), (3, "title")],
        "Ist: Abo-Abschluss": [(1, "first"), (4, "title")],
    }


def test_a_target_state_never_continues_a_current_state() -> None:
    trends = follow_streams(
        [
            revision(1, stream(1, "Abo", "f1", 1000.0, state="current")),
            revision(2, stream(2, "Abo", "f2", 100.0, state="target")),
        ],
        RULES,
    )

    assert [(t.state, len(t.points)) for t in trends] == [("target", 1), ("current", 1)]


def test_a_stream_missing_from_one_revision_is_picked_up_when_it_returns() -> None:
    trends = follow_streams(
        [
            revision(1, stream(1, "Ist", "f1", 900.0)),
            revision(2),
            revision(3, stream(1, "Ist", "f1", 700.0)),
        ],
        RULES,
    )

    assert [[p.revision for p in t.points] for t in trends] == [[1, 3]]


def test_since_last_workshop_skips_revisions_without_a_change() -> None:
    trend = follow_streams(
        [
            revision(1, stream(1, "Ist", "f1", 1000.0)),
            revision(2, stream(1, "Ist", "f1", 800.0)),
            revision(3, stream(1, "Ist", "f1", 800.0)),
        ],
        RULES,
    )[0]

    delta = since_last_workshop(trend)

    assert delta is not None
    assert delta.since_revision == 1
    assert (delta.lead_time_change_min, delta.lead_time_change_pct) == (-200.0, -20.0)
    assert delta.handoffs_change == 0


def test_a_stream_that_never_changed_has_no_delta() -> None:
    trend = follow_streams(
        [revision(1, stream(1, "Ist", "f1", 1000.0)), revision(2, stream(1, "Ist", "f1", 1000.0))],
        RULES,
    )[0]

    assert since_last_workshop(trend) is None


@given(st.permutations(range(1, 6)))
def test_the_order_revisions_arrive_in_does_not_change_the_trends(order: list[int]) -> None:
    revisions = [
        revision(
            n,
            stream(n, f"Ist {n}", "f1", 100.0 * n),
            stream(10 + n, "Soll", f"t{n}", 50.0, "target"),
        )
        for n in range(1, 6)
    ]

    trends = follow_streams([revisions[n - 1] for n in order], RULES)

    assert [[p.revision for p in t.points] for t in trends] == [[1, 2, 3, 4, 5]] * 2
