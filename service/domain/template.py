"""Shapes drawn the way VSM templates draw a value stream -> roles, with the rule named.

Miro's, Mural's and Lucid's value stream mapping templates (after Rother & Shook) draw no
stickies: the process boxes are rectangle shapes in a row, each with a data box under it
(``C/T = 45 s``, ``C/O = 1 h``, ``Uptime 85 %``, ``Operators: 2``), inventory triangles between
them carry the waiting (``I`` / ``300 pcs`` / ``2 days``), a kaizen burst (a star) marks an idea,
and a timeline ladder under the boxes repeats the times. These rules read such shapes:

* ``template-kaizen``: a star or burst shape with text is an idea (on any board);
* ``template-inventory``: a triangle shape is an inventory, data for the process box after it;
* ``template-data``: a rectangle whose first line starts with a data label (C/T, C/O, PT, LT,
  uptime, operators, shifts, ...) is data for the box above it;
* ``template-process``: where a container (or the board outside every container) holds no step
  sticky or card, the longest row of similar rectangles with text is the row of process boxes.

Everything else keeps the shape's usual reading (titles, lanes, frames).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence

from service.domain.board import Geometry, Item, ItemKind
from service.domain.classification import Decision
from service.domain.ruleset import Role

BOX_SHAPES = frozenset(
    {
        "rectangle",
        "round_rectangle",
        "rounded_rectangle",
        "rounded rectangle",
        "square",
        "flow_chart_process",
        "flow_chart_predefined_process",
        "flow_chart_alternate_process",
        "process",
    }
)
BURST_SHAPES = frozenset({"star", "burst", "starburst", "explosion", "kaizen", "seal"})
TRIANGLE_SHAPES = frozenset({"triangle", "flow_chart_merge", "flow_chart_extract"})
# the labels a template data box starts with (German and English)
_DATA_LABEL = re.compile(
    r"^\s*(?:c/t|c/o|p/t|l/t|w/t|pt|lt|wt|bz|dlz|wz|%\s*c\s*[&/]?\s*a|c\s*&\s*a|uptime|up\s*time"
    r"|verfügbarkeit|operators?|mitarbeiter|werker|shifts?|schichten|avail(?:able)?|batch"
    r"|losgröße|epe|takt|cycle\s*time|zykluszeit|changeover|rüstzeit|process\s*time|lead\s*time"
    r"|wait(?:ing)?\s*time|bearbeitungszeit|durchlaufzeit|wartezeit|scrap|ausschuss)(?![^\W_])",
    re.IGNORECASE,
)
# a row is boxes whose vertical extents overlap by this share of the smaller one
_ROW_OVERLAP = 0.5
# a box much wider than this many box heights is a band or a title bar, not a process box
_BAND_RATIO = 4.0
_STEP_ROLES = frozenset({Role.STEP, Role.WAIT})


def is_data_text(text: str) -> bool:
    """Whether ``text`` opens with a VSM data label and holds a number (``C/T = 45 s``,
    ``Uptime 85 %``); a lane named "Wartezeit" holds no number and is no data box."""
    return _DATA_LABEL.match(text) is not None and any(c.isdigit() for c in text)


def _shape(item: Item) -> str:
    return (item.shape or "").casefold()


def _home(item: Item, excluded: frozenset[str]) -> str | None:
    """The innermost container of the item that is not a legend or skipped frame."""
    if not excluded:
        return item.containers[0] if item.containers else None
    return next((cid for cid in item.containers if cid not in excluded), None)


def _overlap(a: Geometry, b: Geometry) -> float:
    return min(a.bottom, b.bottom) - max(a.top, b.top)


def _rows(boxes: Sequence[Item]) -> list[list[Item]]:
    """Boxes grouped into rows (top to bottom), each row left to right."""
    rows: list[list[Item]] = []
    for box in sorted(boxes, key=lambda item: (_geom(item).y, _geom(item).x, item.id)):
        geometry = _geom(box)
        for row in rows:
            first = _geom(row[0])
            overlap = _overlap(first, geometry)
            smaller = min(first.height, geometry.height)
            similar = max(first.height, geometry.height) <= 2.5 * smaller
            if smaller > 0 and overlap >= _ROW_OVERLAP * smaller and similar:
                row.append(box)
                break
        else:
            rows.append([box])
    for row in rows:
        row.sort(key=lambda item: (_geom(item).x, item.id))
    return rows


def _geom(item: Item) -> Geometry:
    assert item.geometry is not None
    return item.geometry


def template_decisions(
    items: Sequence[Item],
    decided: Mapping[str, Role | None],
    excluded: frozenset[str],
) -> list[Decision]:
    """Decisions for the shapes no other rule decided (see the module docstring).

    ``decided`` holds the items other rules gave a decision (role None: no role); ``excluded``
    the legend and skipped containers, whose items are left alone.
    """
    decisions: list[Decision] = []
    candidates: dict[str | None, list[Item]] = defaultdict(list)
    shape_kind = ItemKind.SHAPE
    for item in [item for item in items if item.kind is shape_kind and item.id not in decided]:
        if not item.text.strip():
            continue
        if excluded and any(cid in excluded for cid in item.containers):
            continue
        geometry = item.geometry
        if geometry is None or not geometry.is_finite():
            continue
        shape = _shape(item)
        if shape in BURST_SHAPES:
            decisions.append(
                Decision(
                    item.id,
                    Role.IDEA,
                    "template-kaizen",
                    f"a {shape} shape with text is a kaizen burst: an improvement idea",
                )
            )
        elif shape in TRIANGLE_SHAPES:
            decisions.append(
                Decision(
                    item.id,
                    Role.DATA,
                    "template-inventory",
                    "a triangle is an inventory (VSM template): its time is the waiting "
                    "before the process box after it",
                )
            )
        elif shape in BOX_SHAPES and is_data_text(item.text):
            decisions.append(
                Decision(
                    item.id,
                    Role.DATA,
                    "template-data",
                    "a box starting with a VSM data label (C/T, C/O, uptime, PT, LT, ...) "
                    "is data for the process box above it",
                )
            )
        elif shape in BOX_SHAPES and geometry.width <= _BAND_RATIO * geometry.height:
            candidates[_home(item, excluded)].append(item)
    if not candidates:
        return decisions
    # the homes that already have a step: only where boxes may be a process row
    homes_with_steps = {
        _home(item, excluded)
        for item in items
        if decided.get(item.id) in _STEP_ROLES
        and not (excluded and any(cid in excluded for cid in item.containers))
    }
    for home, boxes in candidates.items():
        if home in homes_with_steps:
            continue
        rows = [row for row in _rows(boxes) if len(row) >= 2]
        if not rows:
            continue
        # the longest row; of equally long rows the lowest (information flow boxes sit above)
        process_row = max(rows, key=lambda row: (len(row), _geom(row[0]).y))
        for box in process_row:
            decisions.append(
                Decision(
                    box.id,
                    Role.STEP,
                    "template-process",
                    f"one of {len(process_row)} boxes in a row where no sticky or card is a "
                    "step: a process box (VSM template)",
                )
            )
    return decisions
