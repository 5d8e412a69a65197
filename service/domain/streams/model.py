"""The values the streams code builds: ``Step``, ``Problem``, ``Idea`` and ``Stream``."""

from __future__ import annotations

from msgspec import Struct

from service.domain.record import Record
from service.domain.ruleset import Role, StreamState

STEP_ROLES = frozenset({Role.STEP, Role.WAIT})


class Step(Record, frozen=True):
    """One process step. Times are minutes (``complete_accurate_pct`` a percent); None = unknown.

    ``order`` starts at 1 and is dense; parallel steps share it. ``source_item_ids`` holds the
    step's own item first, then the data stickies whose times were read for it.
    """

    id: str
    order: int
    title: str
    lane: str | None
    value_adding: bool
    process_time_min: float | None
    lead_time_min: float | None
    wait_time_min: float | None
    complete_accurate_pct: float | None
    source_item_ids: tuple[str, ...]
    problem_ids: tuple[str, ...] = ()


class Problem(Record, frozen=True):
    """A problem with its votes: ``weight = dot_votes + mark_votes + provider_votes``;
    ``step_id`` None = stream.

    ``provider_votes`` are the votes the whiteboard itself recorded for the problem's item
    (Mural voting results, ``Item.votes``). ``source_item_ids`` holds the problem's own item
    first, then the vote dots counted for it.
    """

    id: str
    text: str
    step_id: str | None
    weight: int
    dot_votes: int
    mark_votes: int
    source_item_ids: tuple[str, ...]
    provider_votes: int = 0


class Idea(Record, frozen=True):
    id: str
    text: str
    step_id: str | None
    source_item_ids: tuple[str, ...]


class Lane(Struct, frozen=True):
    """One lane: its name, its axis (``rows`` or ``columns``), the span its label covers (top and
    bottom for rows, left and right for columns; the label's own extent, or the band halfway to
    the neighbours), the id of the naming item and the rule that found it."""

    name: str
    axis: str
    start: float
    end: float
    label_id: str
    rule: str


class Stream(Struct, frozen=True):
    """A value stream. ``steps`` are sorted by order, then top to bottom, then left to right.

    ``problems`` are sorted by weight (highest first), then by their step's order (problems on
    the stream itself last), then by text. ``edges`` are the flow connectors kept for ordering
    (step id pairs, cycles removed); ``frame_id`` is None for the board-level stream.
    """

    id: str
    name: str
    state: StreamState
    frame_id: str | None
    persona: str | None
    lanes: tuple[str, ...]
    steps: tuple[Step, ...]
    problems: tuple[Problem, ...]
    ideas: tuple[Idea, ...]
    edges: tuple[tuple[str, str], ...] = ()
    # where each lane lies on the board (canvas units), for pictures of the board
    lane_spans: tuple[Lane, ...] = ()
    # (item id, rule, why) of the items placed by a layout rule of issue 11 (lane bands and
    # boxes, column lanes, ladder rungs, data to the side, items stacked in a column), so
    # their decisions can name the rule
    placements: tuple[tuple[str, str, str], ...] = ()
