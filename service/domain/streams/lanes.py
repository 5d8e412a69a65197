"""Swimlanes of a stream: which texts and shapes name lanes, where each lane lies, and each
step's lane.

Three ways teams draw lanes, all read:

* **labels at the left edge** (``lane-label``): texts or shapes left of the stream's left-most
  step name rows top to bottom. A label drawn as a box as tall as its lane (a shape of at least
  half a sticky's height) is the lane: a step inside its extent is in it, however the lanes'
  heights differ. Other steps fall into the band reaching halfway to the neighbouring labels.
* **full-width bands** (``lane-band``): at least two long shapes (three sticky sizes wide or more)
  with the lane name inside, drawn behind the steps; a step is in the band that holds its centre.
* **column lanes** (``lane-column``): in a stream that flows top to bottom, texts or shapes above
  the top-most step head the columns, left to right.

Texts naming the rows of the usual workshop layout (``ruleset.row_headings``: "Process steps",
"Daten", "Probleme", "Ideas", ...) are row headings, not lanes; texts that are nothing but a time
("2 d", "ca. 20 min") belong to the timeline ladder, not to the lanes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from msgspec import Struct

from service.domain.board import Geometry
from service.domain.ruleset import Ruleset
from service.domain.streams.model import Lane
from service.domain.streams.spatial import Placed
from service.domain.streams.titles import first_line, title_state
from service.domain.times import DASHES, parse_bare_time

# a lane label at least this share of a sticky tall is drawn as the lane itself
_BOX_LABEL = 0.5
# a shape at least this many sticky sizes wide, holding steps, is a full-width lane band
_BAND_WIDTH = 3.0
# a stream whose steps spread this many times further down than across flows top to bottom
_VERTICAL = 1.5
_EDGE = " \t:;,.*#\u2022" + DASHES


class Lanes(Struct, frozen=True):
    """The lanes of a stream, first to last, and how steps are assigned to them."""

    lanes: tuple[Lane, ...]
    # the labels' centres (on the lane axis) and names, for the halfway bands
    centres: tuple[tuple[float, str], ...]
    extents: tuple[tuple[float, float, str], ...]  # labels drawn as their lane

    @property
    def names(self) -> tuple[str, ...]:
        names: list[str] = []
        for lane in self.lanes:
            if lane.name not in names:
                names.append(lane.name)
        return tuple(names)

    def lane_of(self, geometry: Geometry) -> str | None:
        """The lane holding the step's centre (its label's extent first, else the halfway
        bands); None when the stream has no lanes."""
        if not self.lanes:
            return None
        value = geometry.x if self.lanes[0].axis == "columns" else geometry.y
        inside = [(end - start, name) for start, end, name in self.extents if start <= value <= end]
        if inside:
            return min(inside)[1]
        best = self.centres[0][1]
        for (a, _), (b, name) in zip(self.centres, self.centres[1:], strict=False):
            if value >= (a + b) / 2:
                best = name
        return best


NO_LANES = Lanes((), (), ())


def _name(candidate: Placed) -> str:
    return first_line(candidate.item.text)


def is_row_heading(name: str, ruleset: Ruleset) -> bool:
    """Whether ``name`` names a row of the layout ("Process steps:", "Daten", "Ideen")."""
    cleaned = " ".join(name.strip(_EDGE).casefold().split())
    return cleaned in {" ".join(h.casefold().split()) for h in ruleset.row_headings}


def _usable(name: str, ruleset: Ruleset) -> bool:
    return bool(name) and (
        title_state(name, ruleset) is None
        and not is_row_heading(name, ruleset)
        and parse_bare_time(name, ruleset) is None
    )


def flows_down(members: Sequence[Placed]) -> bool:
    """Whether the stream's steps run top to bottom (spread far more down than across)."""
    if len(members) < 2:
        return False
    xs = [step.geometry.x for step in members]
    ys = [step.geometry.y for step in members]
    return (max(ys) - min(ys)) > _VERTICAL * max(max(xs) - min(xs), 1e-9)


def find_lanes(
    candidates: Sequence[Placed],
    members: Sequence[Placed],
    frame: Geometry | None,
    typical: float,
    ruleset: Ruleset,
) -> Lanes:
    """The stream's lanes from its label ``candidates`` (texts and shapes without a role)."""
    if not members:
        return NO_LANES
    if flows_down(members):
        columns = _column_lanes(candidates, members, frame, typical, ruleset)
        if columns is not None:
            return columns
    bands = _band_lanes(candidates, members, typical, ruleset)
    labels = _left_labels(candidates, members, frame, typical, ruleset)
    entries = [(c.geometry.y, c.geometry.top, c.geometry.bottom, c, "lane-band") for c in bands]
    entries += [(c.geometry.y, c.geometry.top, c.geometry.bottom, c, "lane-label") for c in labels]
    if not entries:
        return NO_LANES
    entries.sort(key=lambda e: (e[0], _name(e[3]), e[3].item.id))
    return _assemble(
        "rows",
        entries,
        lambda geometry, rule: rule == "lane-band" or geometry.height >= _BOX_LABEL * typical,
    )


def _assemble(
    axis: str,
    entries: Sequence[tuple[float, float, float, Placed, str]],
    drawn_as_lane: Callable[[Geometry, str], bool],
) -> Lanes:
    """Lanes from (centre, start, end, label, rule) entries sorted along the axis."""
    centres = tuple((centre, _name(c)) for centre, _, _, c, _ in entries)
    extents: list[tuple[float, float, str]] = []
    lanes: list[Lane] = []
    for index, (centre, start, end, candidate, rule) in enumerate(entries):
        name = _name(candidate)
        if drawn_as_lane(candidate.geometry, rule):
            extents.append((start, end, name))
            low, high = start, end
            rule = "lane-box" if rule == "lane-label" else rule
        else:
            low = (entries[index - 1][0] + centre) / 2 if index else start
            high = (centre + entries[index + 1][0]) / 2 if index + 1 < len(entries) else end
        lanes.append(Lane(name, axis, low, high, candidate.item.id, rule))
    return Lanes(tuple(lanes), centres, tuple(extents))


def _left_labels(
    candidates: Sequence[Placed],
    members: Sequence[Placed],
    frame: Geometry | None,
    typical: float,
    ruleset: Ruleset,
) -> list[Placed]:
    """Labels left of the stream's left-most step (their right edge at most half a sticky into
    the steps), inside the frame, not above the top-most step by more than one sticky size (a
    text up there is the frame's heading). Without a frame: within 5 sticky sizes left of the
    steps and one sticky size above or below them."""
    leftmost = min(step.geometry.left for step in members)
    highest = min(step.geometry.top for step in members) - typical
    if frame is not None:
        bottom, left = frame.bottom, frame.left
    else:
        bottom = max(step.geometry.bottom for step in members) + typical
        left = leftmost - 5 * typical
    return [
        candidate
        for candidate in candidates
        if left <= candidate.geometry.x
        and candidate.geometry.right <= leftmost + typical / 2
        and highest <= candidate.geometry.y <= bottom
        and _usable(_name(candidate), ruleset)
    ]


def _band_lanes(
    candidates: Sequence[Placed], members: Sequence[Placed], typical: float, ruleset: Ruleset
) -> list[Placed]:
    """Long shapes behind the steps, each holding at least one step's centre; two at least (one
    long box behind everything is a background, not a lane)."""
    bands = [
        candidate
        for candidate in candidates
        if candidate.item.kind.value == "shape"
        and candidate.geometry.width >= _BAND_WIDTH * typical
        and candidate.geometry.width > candidate.geometry.height
        and _usable(_name(candidate), ruleset)
        and any(
            candidate.geometry.contains_point(step.geometry.x, step.geometry.y) for step in members
        )
    ]
    return bands if len(bands) >= 2 else []


def _column_lanes(
    candidates: Sequence[Placed],
    members: Sequence[Placed],
    frame: Geometry | None,
    typical: float,
    ruleset: Ruleset,
) -> Lanes | None:
    """Headers above the top-most step of a top-to-bottom stream, two at least."""
    top = min(step.geometry.top for step in members)
    left = min(step.geometry.left for step in members) - typical
    right = max(step.geometry.right for step in members) + typical
    if frame is not None:
        left, right = max(left, frame.left), min(right, frame.right)
    headers = [
        candidate
        for candidate in candidates
        if candidate.geometry.bottom <= top + typical / 2
        and candidate.geometry.y >= top - 3 * typical
        and left <= candidate.geometry.x <= right
        and _usable(_name(candidate), ruleset)
    ]
    if len(headers) < 2:
        return None
    headers.sort(key=lambda c: (c.geometry.x, c.item.id))
    return _assemble(
        "columns",
        [(c.geometry.x, c.geometry.left, c.geometry.right, c, "lane-column") for c in headers],
        lambda geometry, _: geometry.width >= _BOX_LABEL * typical,
    )
