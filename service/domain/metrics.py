"""VSM summary metrics of one value stream (definitions: shared/reference/vsm-metrics.md).

Units and scales: times are minutes; ``activity_ratio`` and ``rolled_complete_accurate`` are
fractions from 0 to 1 (0.042 = 4.2 %), like every contract field named ``*ratio`` or ``rolled_*``;
fields ending in ``_pct`` are percents from 0 to 100. Unknown is None, never 0.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from msgspec import Struct

from service.domain.streams import Step, Stream


class Metrics(Struct, frozen=True):
    step_count: int
    value_adding_steps: int
    non_value_adding_steps: int
    total_process_time_min: float | None
    total_lead_time_min: float | None
    activity_ratio: float | None
    rolled_complete_accurate: float | None
    handoffs: int
    problem_count: int
    problem_weight: int


def _groups(steps: Sequence[Step]) -> list[list[Step]]:
    groups: dict[int, list[Step]] = defaultdict(list)
    for step in steps:
        groups[step.order].append(step)
    return [groups[order] for order in sorted(groups)]


def critical_path(steps: Sequence[Step]) -> list[Step]:
    """One step per order number: the one with the longest lead time.

    When no step of a parallel group states a lead time, the one with the longest process time
    stands in; a group with neither contributes its first step (which then adds nothing).
    Ties go to the first step in stream order.
    """
    path: list[Step] = []
    for group in _groups(steps):
        timed = [step for step in group if step.lead_time_min is not None]
        if timed:
            path.append(max(timed, key=lambda step: step.lead_time_min or 0.0))
            continue
        processed = [step for step in group if step.process_time_min is not None]
        path.append(
            max(processed, key=lambda s: s.process_time_min or 0.0) if processed else group[0]
        )
    return path


def _total(values: Sequence[float | None]) -> float | None:
    known = [value for value in values if value is not None and math.isfinite(value)]
    return math.fsum(known) if known else None


def activity_ratio(process_min: float | None, lead_min: float | None) -> float | None:
    """Total process time / total lead time as a fraction; None when either is unknown or LT 0."""
    if process_min is None or lead_min is None or lead_min <= 0:
        return None
    return process_min / lead_min


def rolled_complete_accurate(steps: Sequence[Step]) -> float | None:
    """Product of every stated %C&A (parallel steps included), as a fraction; None when none."""
    known = [
        step.complete_accurate_pct / 100
        for step in steps
        if step.complete_accurate_pct is not None and math.isfinite(step.complete_accurate_pct)
    ]
    return math.prod(known) if known else None


def handoffs(stream: Stream) -> int:
    """Lane changes along the flow.

    A step with incoming flow connectors counts one handoff per predecessor in another lane. A
    step without incoming connectors (and order above 1) counts one handoff when none of the
    steps one order number earlier is in its lane. Steps without a lane never count.
    """
    lane = {step.id: step.lane for step in stream.steps}
    predecessors: dict[str, list[str]] = defaultdict(list)
    for start, end in stream.edges:
        predecessors[end].append(start)
    lanes_at: dict[int, set[str | None]] = defaultdict(set)
    for step in stream.steps:
        lanes_at[step.order].add(step.lane)
    count = 0
    for step in stream.steps:
        if step.lane is None:
            continue
        if step.id in predecessors:
            count += sum(
                1
                for before in predecessors[step.id]
                if lane[before] is not None and lane[before] != step.lane
            )
        elif step.order > 1:
            earlier = lanes_at[step.order - 1] - {None}
            if earlier and step.lane not in earlier:
                count += 1
    return count


def stream_metrics(stream: Stream) -> Metrics:
    """The metrics of one stream; totals follow the critical path (see ``critical_path``)."""
    path = critical_path(stream.steps)
    process = _total([step.process_time_min for step in path])
    lead = _total([step.lead_time_min for step in path])
    value_adding = sum(1 for step in stream.steps if step.value_adding)
    return Metrics(
        step_count=len(stream.steps),
        value_adding_steps=value_adding,
        non_value_adding_steps=len(stream.steps) - value_adding,
        total_process_time_min=process,
        total_lead_time_min=lead,
        activity_ratio=activity_ratio(process, lead),
        rolled_complete_accurate=rolled_complete_accurate(stream.steps),
        handoffs=handoffs(stream),
        problem_count=len(stream.problems),
        problem_weight=sum(problem.weight for problem in stream.problems),
    )
