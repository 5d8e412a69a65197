"""The timeline ladder under the steps: bare times read as the steps' process and waiting times.

Under the process boxes teams (and the VSM templates) draw a ladder: a time right under a step
is that step's process time (the low rung), a time between two steps the waiting before the
step after it (the high rung). Only texts and shapes that are nothing but a time ("2 d",
"ca. 20 min") and stand below the stream's lowest step count; a time stated on the step or on a
data sticky beats the ladder's.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.domain.classification import Times
from service.domain.ruleset import Ruleset
from service.domain.streams.spatial import Placed
from service.domain.times import parse_bare_time

# a ladder stands at most this many sticky sizes below the lowest step (data rows in between)
LADDER_REACH = 8.0


def ladder_times(
    candidates: Sequence[Placed],
    members: Sequence[Placed],
    typical: float,
    ruleset: Ruleset,
    rungs: dict[str, tuple[str, str]] | None = None,
) -> dict[str, Times]:
    """Step item id -> the times the ladder gives it (process and/or wait).

    ``rungs`` collects each rung read: item id -> (step item id, ``process`` or ``wait``).
    """
    if not members:
        return {}
    lowest = max(step.geometry.bottom for step in members)
    left = min(step.geometry.left for step in members) - 2 * typical
    right = max(step.geometry.right for step in members)
    columns = sorted(members, key=lambda s: (s.geometry.left, s.item.id))
    process: dict[str, float] = {}
    wait: dict[str, float] = {}
    for rung in sorted(candidates, key=lambda c: (c.geometry.y, c.geometry.x, c.item.id)):
        box = rung.geometry
        if not (lowest < box.y <= lowest + LADDER_REACH * typical and left <= box.x <= right):
            continue
        minutes = parse_bare_time(rung.item.text, ruleset)
        if minutes is None:
            continue
        under = [s for s in columns if s.geometry.left <= box.x <= s.geometry.right]
        if under:
            step = max(under, key=lambda s: (s.geometry.y, s.item.id)).item.id
            if step not in process and rungs is not None:
                rungs[rung.item.id] = (step, "process")
            process.setdefault(step, minutes)
            continue
        after = next((s for s in columns if s.geometry.left > box.x), None)
        if after is not None:
            if after.item.id not in wait and rungs is not None:
                rungs[rung.item.id] = (after.item.id, "wait")
            wait.setdefault(after.item.id, minutes)
    return {
        step: Times(process_min=process.get(step), wait_min=wait.get(step))
        for step in {*process, *wait}
    }
