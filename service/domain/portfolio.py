"""The workspace portfolio: one row of key figures per stored stream, sorted and paged.

Rows are built from stored contract v1 stream documents (their ``metrics`` object, written by
``metrics.stream_metrics`` at import), never recomputed from the board. A current-state stream
paired with a target-state stream of the same revision (``compare.pair_streams``, the pairing the
board's comparison uses) carries the gap between them, worked out with ``compare.change``.

Units as in the contract: minutes; ``activity_ratio`` and ``rolled_complete_accurate`` are
fractions (0.042 = 4.2 %); unknown is None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from service.domain.compare import change, pair_streams
from service.domain.contract_model import ContractMetrics
from service.domain.ruleset import Ruleset, StreamState

# figure name (API, sorting, charts) -> field of the contract's ``metrics`` object
FIGURE_KEYS: Mapping[str, str] = {
    "lead_time_min": "total_lead_time_min",
    "process_time_min": "total_process_time_min",
    "activity_ratio": "activity_ratio",
    "rolled_complete_accurate": "rolled_complete_accurate",
    "handoffs": "handoffs",
    "problem_weight": "problem_weight",
    "problem_count": "problem_count",
    "step_count": "step_count",
}
# the figures a portfolio can sort by, besides the texts below
SORT_FIELDS: tuple[str, ...] = (
    "board_name",
    "name",
    *FIGURE_KEYS,
    "lead_time_change_pct",
    "activity_ratio_change",
)
_TEXT_FIELDS = frozenset({"board_name", "name"})
Direction = Literal["asc", "desc"]


@dataclass(frozen=True, slots=True)
class StoredStream:
    """One stream as stored for one revision: ids, name, state and its contract metrics."""

    stream_id: int
    key: str
    name: str
    state: str
    figures: ContractMetrics


@dataclass(frozen=True, slots=True)
class BoardStreams:
    """A board's latest revision: its streams in board order, and the board's labels."""

    board_id: int
    board_name: str
    revision: int
    streams: Sequence[StoredStream]
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Gap:
    """Target minus current: minutes and percent of current (negative = the target is faster);
    ``activity_ratio_change`` in fraction points (0.05 = five percentage points better)."""

    target_stream_id: int
    target_name: str
    lead_time_change_min: float | None
    lead_time_change_pct: float | None
    process_time_change_min: float | None
    process_time_change_pct: float | None
    activity_ratio_change: float | None


@dataclass(frozen=True, slots=True)
class PortfolioRow:
    board_id: int
    board_name: str
    revision: int
    stream_id: int
    key: str
    name: str
    state: str
    labels: Mapping[str, str]
    figures: ContractMetrics
    gap: Gap | None


def _gap(current: StoredStream, target: StoredStream) -> Gap:
    now, aim = current.figures, target.figures
    lead_min, lead_pct = change(now.total_lead_time_min, aim.total_lead_time_min)
    process_min, process_pct = change(now.total_process_time_min, aim.total_process_time_min)
    ratio = (
        None
        if now.activity_ratio is None or aim.activity_ratio is None
        else round(aim.activity_ratio - now.activity_ratio, 4) + 0.0
    )
    return Gap(
        target_stream_id=target.stream_id,
        target_name=target.name,
        lead_time_change_min=None if lead_min is None else round(lead_min, 2) + 0.0,
        lead_time_change_pct=None if lead_pct is None else round(lead_pct, 1) + 0.0,
        process_time_change_min=None if process_min is None else round(process_min, 2) + 0.0,
        process_time_change_pct=None if process_pct is None else round(process_pct, 1) + 0.0,
        activity_ratio_change=ratio,
    )


def board_rows(board: BoardStreams, ruleset: Ruleset) -> list[PortfolioRow]:
    """The portfolio rows of one board: every stream that is not a target state, in board order.

    Target-state streams are no rows of their own: they are the plan a current stream is
    measured against (its ``gap``), paired as the board's comparison pairs them.
    """
    currents = [s for s in board.streams if s.state == StreamState.CURRENT]
    targets = [s for s in board.streams if s.state == StreamState.TARGET]
    pairs = pair_streams([s.name for s in currents], [s.name for s in targets], ruleset)
    gaps = {currents[i].stream_id: _gap(currents[i], targets[j]) for i, j in pairs.items()}
    return [
        PortfolioRow(
            board_id=board.board_id,
            board_name=board.board_name,
            revision=board.revision,
            stream_id=stream.stream_id,
            key=stream.key,
            name=stream.name,
            state=stream.state,
            labels=board.labels,
            figures=stream.figures,
            gap=gaps.get(stream.stream_id),
        )
        for stream in board.streams
        if stream.state != StreamState.TARGET
    ]


def has_labels(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    """Whether ``labels`` holds every wanted key with its value (keys as given, values exact)."""
    return all(labels.get(key) == value for key, value in wanted.items())


def sort_value(row: PortfolioRow, field: str) -> float | str | None:
    """The value ``field`` (one of ``SORT_FIELDS``) of a row; texts case-folded."""
    if field == "board_name":
        return row.board_name.casefold()
    if field == "name":
        return row.name.casefold()
    if field == "lead_time_change_pct":
        return None if row.gap is None else row.gap.lead_time_change_pct
    if field == "activity_ratio_change":
        return None if row.gap is None else row.gap.activity_ratio_change
    if field not in FIGURE_KEYS:
        raise ValueError(f"cannot sort by {field!r}")
    value = getattr(row.figures, FIGURE_KEYS[field])
    return None if value is None else float(value)


Position = tuple[float | str | None, int]


def sort_rows(rows: Sequence[PortfolioRow], field: str, direction: Direction) -> list[PortfolioRow]:
    """Rows by ``field`` in ``direction``, ties by stream id (in the same direction); rows whose
    value is unknown come last in either direction, by stream id."""
    known = [row for row in rows if sort_value(row, field) is not None]
    unknown = [row for row in rows if sort_value(row, field) is None]
    known.sort(key=lambda row: (sort_value(row, field), row.stream_id), reverse=direction == "desc")
    unknown.sort(key=lambda row: row.stream_id)
    return known + unknown


def position(row: PortfolioRow, field: str) -> Position:
    """Where a row stands in a sorted list: the keyset cursor of the page that ends with it."""
    return sort_value(row, field), row.stream_id


def rows_after(
    rows: Sequence[PortfolioRow], field: str, direction: Direction, after: Position
) -> list[PortfolioRow]:
    """The rows of ``sort_rows(rows, field, direction)`` that come after ``after``.

    A keyset, not an offset: a row added or removed before the cursor shifts no page.
    """
    value, stream_id = after
    if (value is not None) and (
        isinstance(value, str) != (field in _TEXT_FIELDS) or isinstance(value, bool)
    ):
        raise ValueError("the cursor does not fit the sort field")
    result = []
    for row in sort_rows(rows, field, direction):
        mine = sort_value(row, field)
        if value is None:
            later = mine is None and row.stream_id > stream_id
        elif mine is None:
            later = True
        elif direction == "asc":
            later = (mine, row.stream_id) > (value, stream_id)
        else:
            later = (mine, row.stream_id) < (value, stream_id)
        if later:
            result.append(row)
    return result
