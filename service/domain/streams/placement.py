"""Placement: which stream, step and lane each item of a classified board belongs to."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

from msgspec import Struct

from service.domain.board import Board, Geometry, Item, ItemKind
from service.domain.classification import Classification
from service.domain.ruleset import Role, Ruleset, StreamState
from service.domain.streams.flow import orient_lines
from service.domain.streams.spatial import (
    Grid,
    Placed,
    build_grid,
    finite_geometry,
    near,
    nearest,
    position_key,
)
from service.domain.streams.titles import first_line, title_state
from service.domain.template import TRIANGLE_SHAPES

# a data sticky sits at most this many typical sticky sizes below the step it belongs to
DATA_REACH = 3.0
# a column (step row, data row, problem row, idea row, ...) reaches at most this many sizes down
COLUMN_REACH = 10.0
# two items stacked in a column leave at most this many sticky sizes between them (an empty
# cell of the data row, say)
COLUMN_GAP = 1.5


Key = str | None  # a stream's container id; None is the board-level stream


class Frames(Struct, frozen=True):
    """The board's containers as far as streams care: their state and which ones are legends."""

    containers: Mapping[str, Item]
    states: Mapping[str, StreamState]
    legends: frozenset[str]
    # frames that hold no flow (Agenda, Parking Lot, ...): never a stream; what they hold
    # belongs to the stream around them, if any
    skipped: frozenset[str] = frozenset()


def find_frames(board: Board, classification: Classification, ruleset: Ruleset) -> Frames:
    containers = {item.id: item for item in board.items if item.kind is ItemKind.CONTAINER}
    legend_titles = {" ".join(title.casefold().split()) for title in ruleset.legend_titles}
    legends = frozenset(
        cid
        for cid, item in containers.items()
        if cid in classification.legend_ids or first_line(item.text).casefold() in legend_titles
    )
    states = {
        cid: state
        for cid, item in containers.items()
        if cid not in legends and (state := title_state(item.text, ruleset)) is not None
    }
    return Frames(containers, states, legends, classification.skipped_ids)


def _home(item: Item, frames: Frames) -> str | None:
    """The container whose stream the item belongs to (None = outside every container)."""
    chain = [
        cid
        for cid in item.containers
        if cid in frames.containers and cid not in frames.legends and cid not in frames.skipped
    ]
    for cid in chain:
        if cid in frames.states:
            return cid
    return chain[-1] if chain else None


def _in_legend(item: Item, frames: Frames) -> bool:
    return any(cid in frames.legends for cid in item.containers)


class Seed(Struct, frozen=True):
    key: Key
    name: str
    state: StreamState
    frame: Geometry | None


class PlacedSteps(Struct, frozen=True):
    """All steps (left to right), grouped by stream, and what connectors join to them."""

    all: Sequence[Placed]
    by_id: Mapping[str, Placed]
    by_key: Mapping[Key, Sequence[Placed]]
    home: Mapping[str, Key]
    connections: Mapping[str, frozenset[str]]  # any item id -> ids of steps joined to it
    flows: Mapping[Key, Sequence[tuple[str, str]]]  # directed step -> step, within a stream


class PlacedBoard(Struct, frozen=True):
    """The placed items of a board: by role, lane label candidates, and each item's home."""

    by_role: Mapping[Role, Sequence[Placed]]
    labels: Mapping[Key, Sequence[Placed]]
    homes: Mapping[str, Key]


def place_items(board: Board, classification: Classification, frames: Frames) -> PlacedBoard:
    by_role: dict[Role, list[Placed]] = defaultdict(list)
    labels: dict[Key, list[Placed]] = defaultdict(list)
    homes: dict[str, Key] = {}
    # many items share one container chain: resolve each chain once
    chains: dict[tuple[str, ...], tuple[bool, Key]] = {}
    role_of, dots = classification.roles.get, classification.dots
    for item in board.items:
        kind = item.kind
        if kind is ItemKind.CONTAINER:
            continue
        role = role_of(item.id)
        label = role is None
        if label and (
            (kind is not ItemKind.TEXT and kind is not ItemKind.SHAPE) or item.id in dots
        ):
            continue
        geometry = finite_geometry(item)
        if geometry is None or (label and not first_line(item.text)):
            continue
        chain = chains.get(item.containers)
        if chain is None:
            chain = chains[item.containers] = (_in_legend(item, frames), _home(item, frames))
        in_legend, home = chain
        if in_legend:
            continue
        placed = Placed(item, geometry)
        homes[item.id] = home
        if role is not None:
            by_role[role].append(placed)
        else:
            labels[home].append(placed)
    for items in (*by_role.values(), *labels.values()):
        items.sort(key=position_key)
    return PlacedBoard(by_role, labels, homes)


def gather_steps(board: Board, placed: PlacedBoard) -> PlacedSteps:
    steps = sorted(
        [*placed.by_role.get(Role.STEP, ()), *placed.by_role.get(Role.WAIT, ())], key=position_key
    )
    by_key: dict[Key, list[Placed]] = defaultdict(list)
    home: dict[str, Key] = {}
    for step in steps:
        key = placed.homes[step.item.id]
        by_key[key].append(step)
        home[step.item.id] = key
    connections: dict[str, set[str]] = defaultdict(set)
    flows: dict[Key, set[tuple[str, str]]] = defaultdict(set)
    lines: dict[Key, list[tuple[str, str]]] = defaultdict(list)
    for connector in board.connectors:
        start, end = connector.start_id, connector.end_id
        if start is None or end is None or start == end:
            continue
        if end in home:
            connections[start].add(end)
        if start in home:
            connections[end].add(start)
        if start in home and end in home and home[start] == home[end]:
            if connector.heads == "end":
                flows[home[start]].add((start, end))
            elif connector.heads == "start":
                flows[home[start]].add((end, start))
            else:  # no arrowhead, or one at each end: the layout of the chain decides
                lines[home[start]].append((start, end))
    by_id = {step.item.id: step for step in steps}
    for key, undirected in lines.items():
        geometry = {sid: by_id[sid].geometry for pair in undirected for sid in pair}
        arrows = sorted(flows.get(key, ()))
        geometry.update({sid: by_id[sid].geometry for pair in arrows for sid in pair})
        flows[key].update(orient_lines(sorted(undirected), arrows, geometry))
    return PlacedSteps(
        all=steps,
        by_id=by_id,
        by_key=dict(by_key),
        home=home,
        connections={key: frozenset(ids) for key, ids in connections.items()},
        flows={key: sorted(pairs) for key, pairs in flows.items()},
    )


def stream_seeds(board: Board, frames: Frames, step_homes: Sequence[Key]) -> list[Seed]:
    rank = {StreamState.CURRENT: 0, StreamState.TARGET: 1, StreamState.UNSPECIFIED: 2}
    seeds: list[Seed] = []
    for key in set(frames.states) | set(step_homes):
        if key is None:
            seeds.append(Seed(None, board.name, StreamState.UNSPECIFIED, None))
        else:
            container = frames.containers[key]
            state = frames.states.get(key, StreamState.UNSPECIFIED)
            name = first_line(container.text) or board.name
            seeds.append(Seed(key, name, state, finite_geometry(container)))

    def sort_key(seed: Seed) -> tuple[int, int, float, float, str]:
        if seed.key is None:
            return (rank[seed.state], 2, 0.0, 0.0, "")
        if seed.frame is None:
            return (rank[seed.state], 1, 0.0, 0.0, seed.key)
        return (rank[seed.state], 0, seed.frame.top, seed.frame.left, seed.key)

    return sorted(seeds, key=sort_key)


def _distance(a: Geometry, b: Geometry) -> float:
    return math.hypot(a.x - b.x, a.y - b.y)


def _connected_step(placed: Placed, steps: PlacedSteps) -> str | None:
    """The step a connector joins the item to; the nearest one when there are several."""
    joined = steps.connections.get(placed.item.id)
    if not joined:
        return None
    return min(joined, key=lambda sid: (_distance(steps.by_id[sid].geometry, placed.geometry), sid))


class _Pools(Struct, frozen=True):
    """Per home: the steps a note may attach to, with a grid over them (built on first use)."""

    steps: PlacedSteps
    keys: frozenset[Key]
    cell: float
    extents: bool
    grids: dict[tuple[bool, Key], Grid]

    def pool(self, home: Key) -> tuple[bool, Sequence[Placed], Grid | None]:
        in_stream = home in self.keys
        members = self.steps.by_key.get(home, ()) if in_stream else self.steps.all
        if not members:
            return in_stream, members, None
        slot = (in_stream, home if in_stream else None)
        if slot not in self.grids:
            self.grids[slot] = build_grid(
                [step.geometry for step in members], self.cell, extents=self.extents
            )
        return in_stream, members, self.grids[slot]


def _cell(reach: float) -> float:
    return reach if math.isfinite(reach) and reach > 0 else 1.0


class Columns(Struct):
    """The items that stack in a step's column (data, problems, ideas), indexed for look-ups:
    the column rule attaches an item to the step at the top of an unbroken stack.

    The grid over the stacked items is built on the first look-up that needs it: on most
    boards every note and data sticky is placed by an earlier rule and it is never needed.
    """

    stacked: Sequence[Placed]
    steps: _Pools
    typical: float
    _grid: Grid | None = None

    @classmethod
    def of(
        cls, stacked: Sequence[Placed], steps: PlacedSteps, keys: frozenset[Key], typical: float
    ) -> Columns:
        return cls(stacked, _Pools(steps, keys, _cell(typical), True, {}), typical)

    @property
    def grid(self) -> Grid:
        if self._grid is None:
            cell = _cell(self.typical)
            self._grid = build_grid([item.geometry for item in self.stacked], cell, extents=True)
        return self._grid

    def step_of(self, item: Placed, home: Key) -> str | None:
        """The step at the top of the column the item is stacked in, or None.

        The item overlaps the step's column by at least half the narrower width, lies below
        it within ``COLUMN_REACH`` sizes, and the items stacked between them leave no gap
        wider than ``COLUMN_GAP`` sizes.
        """
        _, members, grid = self.steps.pool(home)
        if grid is None:
            return None
        box, reach = item.geometry, COLUMN_REACH * self.typical
        best: tuple[float, str] | None = None
        for index in near(grid, box.left, box.y - reach, box.right, box.y):
            step = members[index].geometry
            gap = box.top - step.bottom
            if -self.typical / 2 < gap <= reach and _in_column(step, box):
                candidate = (gap, members[index].item.id)
                if best is None or candidate < best:
                    best = candidate
        if best is None:
            return None
        step = self.steps.steps.by_id[best[1]].geometry
        between = sorted(
            (self.stacked[i].geometry.top, self.stacked[i].geometry.bottom)
            for i in near(self.grid, step.left, step.bottom, step.right, box.top)
            if self.stacked[i].item.id != item.item.id
            and _in_column(step, self.stacked[i].geometry)
            and step.bottom <= self.stacked[i].geometry.y <= box.y
        )
        cursor, allowed = step.bottom, COLUMN_GAP * self.typical
        for top, bottom in between:
            if top - cursor > allowed:
                break
            cursor = max(cursor, bottom)
        return best[1] if box.top - cursor <= allowed else None


def _in_column(step: Geometry, box: Geometry) -> bool:
    overlap = min(step.right, box.right) - max(step.left, box.left)
    return overlap > 0 and overlap >= 0.5 * min(step.width, box.width)


def place_notes(
    notes: Sequence[Placed],
    steps: PlacedSteps,
    homes: Mapping[str, Key],
    keys: frozenset[Key],
    reach: float,
    typical: float,
    columns: Columns | None = None,
    ruled: dict[str, str] | None = None,
) -> dict[Key, list[tuple[Placed, str | None]]]:
    """Stream key -> its problems or ideas with their step item id (None: the stream itself).

    Connected to a step: that step; else the nearest step within ``reach``; else, when it is
    stacked in a step's column (``Columns``), the step at the top. Notes placed nowhere are
    left out; each stream's notes keep the order of ``notes``.
    """
    # cells of one reach: the nearest step within reach lies in the 3 x 3 cells around the note
    pools = _Pools(steps, keys, _cell(max(reach, typical)), False, {})
    placed: dict[Key, list[tuple[Placed, str | None]]] = defaultdict(list)
    connected = steps.connections
    for note in notes:
        step = _connected_step(note, steps) if note.item.id in connected else None
        if step is None:
            home = homes[note.item.id]
            in_stream, members, grid = pools.pool(home)
            if grid is not None:
                step = nearest(note.geometry, members, grid, reach)
            if step is None and columns is not None and grid is not None:
                step = columns.step_of(note, home)
                if step is not None and ruled is not None:
                    ruled[note.item.id] = "column"
            if step is None:
                if in_stream:
                    placed[home].append((note, None))
                continue
        placed[steps.home[step]].append((note, step))
    return placed


def place_data(
    data: Sequence[Placed],
    steps: PlacedSteps,
    homes: Mapping[str, Key],
    keys: frozenset[Key],
    typical: float,
    columns: Columns | None = None,
    ruled: dict[str, str] | None = None,
) -> dict[str, list[Placed]]:
    """Step item id -> its data stickies, nearest first.

    Connected to a step: that step. An inventory triangle (VSM template): the step right after
    it in its row. Else the nearest step above whose width holds the sticky's centre or, failing
    that, overlaps the sticky (a times sticky put a bit to the side), at most ``DATA_REACH``
    sizes higher; else the step at the top of the column it is stacked in (``Columns``).
    ``ruled`` collects item id -> rule for the data placed by a rule of issue 11
    (``data-overlap``, ``column``), so their decisions can name it.
    """
    reach = DATA_REACH * typical
    pools = _Pools(steps, keys, _cell(typical), True, {})
    found: dict[str, list[tuple[float, str, Placed]]] = defaultdict(list)
    for sticky in data:
        step = _connected_step(sticky, steps) if sticky.item.id in steps.connections else None
        home = homes[sticky.item.id]
        if step is None:
            _, members, grid = pools.pool(home)
            if grid is not None and is_inventory(sticky.item):
                step = _step_after(sticky.geometry, members, grid, reach, typical)
            elif grid is not None:
                step = _step_above(sticky.geometry, members, grid, reach)
                if step is not None and ruled is not None:
                    above = steps.by_id[step].geometry
                    if not above.left <= sticky.geometry.x <= above.right:
                        ruled[sticky.item.id] = "data-overlap"
                if step is None and columns is not None:
                    step = columns.step_of(sticky, home)
                    if step is not None and ruled is not None:
                        ruled[sticky.item.id] = "column"
        if step is not None:
            other = steps.by_id[step].geometry
            gap = abs(sticky.geometry.y - other.y) + abs(sticky.geometry.x - other.x)
            found[step].append((gap, sticky.item.id, sticky))
    return {step: [entry[2] for entry in sorted(entries)] for step, entries in found.items()}


def is_inventory(item: Item) -> bool:
    """A triangle shape: a VSM template's inventory, waiting before the next step."""
    return item.kind is ItemKind.SHAPE and (item.shape or "").casefold() in TRIANGLE_SHAPES


def _step_above(point: Geometry, steps: Sequence[Placed], grid: Grid, reach: float) -> str | None:
    """The nearest step above whose width holds the point's centre; failing that, the nearest
    one whose width overlaps the point's (most overlap first)."""
    best: tuple[int, float, float, str] | None = None
    left, right = point.x - point.width / 2, point.x + point.width / 2
    for index in near(grid, left, point.y - reach, right, point.y):
        step = steps[index].geometry
        gap = point.y - step.y
        if not 0 < gap <= reach:
            continue
        step_left, step_right = step.x - step.width / 2, step.x + step.width / 2
        if step_left <= point.x <= step_right:
            candidate = (0, gap, 0.0, steps[index].item.id)
        elif min(step_right, right) - max(step_left, left) > 0:
            overlap = min(step_right, right) - max(step_left, left)
            candidate = (1, -overlap, gap, steps[index].item.id)
        else:
            continue
        if best is None or candidate < best:
            best = candidate
    return best[-1] if best else None


def _step_after(
    point: Geometry, steps: Sequence[Placed], grid: Grid, reach: float, typical: float
) -> str | None:
    """The nearest step right of the point in its row (the point's centre within a sticky's
    height of the step's), at most ``reach`` away."""
    best: tuple[float, str] | None = None
    for index in near(grid, point.x, point.y - typical, point.x + reach, point.y + typical):
        step = steps[index].geometry
        ahead = step.left - point.x
        if -step.width / 2 < ahead <= reach and abs(step.y - point.y) <= typical:
            candidate = (ahead, steps[index].item.id)
            if best is None or candidate < best:
                best = candidate
    return best[1] if best else None


def count_votes(
    board: Board, classification: Classification, problems: Sequence[Placed], typical: float
) -> dict[str, list[str]]:
    """Problem item id -> the vote dots whose centre lies on it (each dot counts once)."""
    if not problems or not classification.dots:
        return {}
    grid = build_grid([problem.geometry for problem in problems], typical, extents=True)
    votes: dict[str, list[str]] = defaultdict(list)
    for item in board.items:
        dot = finite_geometry(item) if item.id in classification.dots else None
        if dot is None:
            continue
        best: tuple[float, str] | None = None
        x, y = dot.x, dot.y
        for index in near(grid, x, y, x, y):
            problem = problems[index]
            area = problem.geometry
            # area.contains_point(x, y), spelled out: this runs for every candidate
            if (
                area.x - area.width / 2 <= x <= area.x + area.width / 2
                and area.y - area.height / 2 <= y <= area.y + area.height / 2
            ):
                candidate = (_distance(area, dot), problem.item.id)
                if best is None or candidate < best:
                    best = candidate
        if best is not None:
            votes[best[1]].append(item.id)
    return {problem: sorted(dots) for problem, dots in votes.items()}
