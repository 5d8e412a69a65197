"""The portfolio rows: key figures per stream, the gap to the target, sorting and keyset pages."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.contract_model import decode_metrics
from service.domain.portfolio import (
    SORT_FIELDS,
    BoardStreams,
    PortfolioRow,
    StoredStream,
    board_rows,
    has_labels,
    position,
    rows_after,
    sort_rows,
)
from service.domain.ruleset import Ruleset

RULES = Ruleset()


def metrics(lead: float | None = None, process: float | None = None, **more: Any) -> dict[str, Any]:
    ratio = None if lead in (None, 0) or process is None else round(process / lead, 4)
    return {
        "step_count": 3,
        "total_lead_time_min": lead,
        "total_process_time_min": process,
        "activity_ratio": ratio,
        "rolled_complete_accurate": 0.5,
        "handoffs": 1,
        "problem_count": 2,
        "problem_weight": 5,
        **more,
    }


def stream(stream_id: int, name: str, state: str, **figures: Any) -> StoredStream:
    return StoredStream(
        stream_id, f"s-{stream_id}", name, state, decode_metrics(metrics(**figures))
    )


def board(
    *streams: StoredStream, board_id: int = 1, labels: dict[str, str] | None = None
) -> BoardStreams:
    return BoardStreams(board_id, f"Board {board_id}", 3, streams, labels or {})


def test_a_current_stream_carries_its_gap_to_the_target_and_the_target_is_no_row() -> None:
    rows = board_rows(
        board(
            stream(1, "Ist-Zustand", "current", lead=1000.0, process=50.0),
            stream(2, "Soll-Zustand", "target", lead=250.0, process=40.0),
        ),
        RULES,
    )

    assert [row.name for row in rows] == ["Ist-Zustand"]
    gap = rows[0].gap
    assert gap is not None
    assert gap.target_stream_id == 2
    assert (gap.lead_time_change_min, gap.lead_time_change_pct) == (-750.0, -75.0)
    assert (gap.process_time_change_min, gap.process_time_change_pct) == (-10.0, -20.0)
    assert gap.activity_ratio_change == pytest.approx(0.16 - 0.05)


def test_several_streams_pair_with_their_targets_by_title_as_the_comparison_does() -> None:
    rows = board_rows(
        board(
            stream(1, "Ist: Abo-Abschluss", "current", lead=100.0, process=10.0),
            stream(2, "Ist: Kündigung", "current", lead=300.0, process=10.0),
            stream(3, "Soll: Kündigung", "target", lead=30.0, process=10.0),
            stream(4, "Soll: Abo-Abschluss", "target", lead=50.0, process=10.0),
        ),
        RULES,
    )

    targets = {row.name: row.gap.target_stream_id if row.gap else None for row in rows}
    assert targets == {"Ist: Abo-Abschluss": 4, "Ist: Kündigung": 3}


def test_a_stream_without_a_target_or_without_a_state_has_no_gap() -> None:
    rows = board_rows(
        board(stream(1, "Board", "unspecified", lead=10.0, process=5.0)),
        RULES,
    )

    assert len(rows) == 1
    assert rows[0].gap is None
    assert rows[0].figures.activity_ratio == 0.5


def test_unknown_or_malformed_metrics_are_unknown_figures_not_zero() -> None:
    row = board_rows(
        board(
            StoredStream(
                1,
                "k",
                "Ist",
                "current",
                decode_metrics({"total_lead_time_min": "soon", "handoffs": True}),
            )
        ),
        RULES,
    )[0]

    assert row.figures.total_lead_time_min is None
    assert row.figures.handoffs is None


def test_labels_filter_needs_every_wanted_label() -> None:
    labels = {"client": "acme", "team": "checkout"}

    assert has_labels(labels, {"client": "acme"})
    assert has_labels(labels, {})
    assert not has_labels(labels, {"client": "acme", "team": "search"})
    assert not has_labels(labels, {"region": "eu"})


def make_rows(leads: list[float | None]) -> list[PortfolioRow]:
    return [
        row
        for index, lead in enumerate(leads)
        for row in board_rows(
            board(stream(index + 1, f"Stream {index % 3}", "current", lead=lead, process=1.0)),
            RULES,
        )
    ]


def test_unknown_values_sort_last_in_both_directions() -> None:
    rows = make_rows([30.0, None, 10.0, 20.0])

    ascending = sort_rows(rows, "lead_time_min", "asc")
    descending = sort_rows(rows, "lead_time_min", "desc")

    assert [r.figures.total_lead_time_min for r in ascending] == [10.0, 20.0, 30.0, None]
    assert [r.figures.total_lead_time_min for r in descending] == [30.0, 20.0, 10.0, None]


@given(
    leads=st.lists(st.one_of(st.none(), st.sampled_from([1.0, 2.0, 5.0, 480.0])), max_size=25),
    field=st.sampled_from(SORT_FIELDS),
    direction=st.sampled_from(["asc", "desc"]),
    size=st.integers(min_value=1, max_value=7),
)
def test_walking_the_keyset_pages_gives_every_row_once_in_sorted_order(
    leads: list[float | None], field: str, direction: Any, size: int
) -> None:
    rows = make_rows(leads)
    walked: list[PortfolioRow] = []
    page = sort_rows(rows, field, direction)[:size]
    while page:
        walked.extend(page)
        page = rows_after(rows, field, direction, position(page[-1], field))[:size]

    assert [row.stream_id for row in walked] == [
        row.stream_id for row in sort_rows(rows, field, direction)
    ]


def test_a_cursor_of_another_sort_field_is_refused() -> None:
    rows = make_rows([1.0, 2.0])

    with pytest.raises(ValueError, match="cursor"):
        rows_after(rows, "name", "asc", (3.0, 1))
