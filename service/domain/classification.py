"""What classification decided about each item: the role, the rule that fired, and why.

``classify()`` (in ``classify.py``) produces a ``Classification``; ``build_streams()`` reads it.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
from msgspec import Struct

from service.domain.record import Record
from service.domain.ruleset import Role


class Decision(Record, frozen=True):
    """One recorded decision. ``rule`` is a stable identifier such as ``tag``, ``marker``,
    ``legend``, ``color``, ``dot`` or ``empty``; ``why`` is a sentence a facilitator understands."""

    item_id: str
    role: Role | None
    rule: str
    why: str


class Unclassified(Record, frozen=True):
    item_id: str
    text: str
    reason: str


class Overruled(Record, frozen=True):
    """A colour of the rules that the board's legend outranked (``Ruleset.precedence``): the
    stickies ``item_ids`` took ``legend_role`` from the legend sticky instead of ``rule_role``."""

    color: str
    rule_role: Role
    legend_role: Role
    legend_sticky: str  # the legend sticky's first line, quoted
    legend_title: str  # "frame 'Legende'"
    item_ids: tuple[str, ...]


class Times(Record, frozen=True):
    """Times found in a text, in minutes. None means "not stated", never 0."""

    process_min: float | None = None
    lead_min: float | None = None
    wait_min: float | None = None
    complete_accurate_pct: float | None = None
    # the ranges as written, e.g. {"process": (30.0, 60.0)}, in minutes
    ranges: Mapping[str, tuple[float, float]] = msgspec.field(default_factory=dict)

    def is_empty(self) -> bool:
        return (
            self.process_min is None
            and self.lead_min is None
            and self.wait_min is None
            and self.complete_accurate_pct is None
        )


class Classification(Struct, frozen=True):
    """Roles for the items that got one, plus everything needed to explain the result.

    ``dots`` are the ids of vote dots (circles or tiny stickies); they carry no role.
    ``legend_ids`` are the legend containers found on the board; ``skipped_ids`` the containers
    whose title says they hold no flow.
    ``typical_size`` is the median larger side of the board's stickies (canvas units), the
    yardstick for "near" and "tiny".
    """

    roles: Mapping[str, Role]
    decisions: tuple[Decision, ...]
    unclassified: tuple[Unclassified, ...]
    dots: frozenset[str] = frozenset()
    legend_ids: frozenset[str] = frozenset()
    typical_size: float = 200.0
    # containers that hold no flow (Agenda, Parking Lot, ...): never streams
    skipped_ids: frozenset[str] = frozenset()
    # colours of the rules that the board's legend outranked, by colour
    overruled: tuple[Overruled, ...] = ()
