"""Value streams from a classified board: ordered steps, lanes, times, problems, ideas, persona.

Placement rules (the facilitator-facing table lives in docs/streams.md):

* **Streams.** A container titled as a current or target state (``Ist-Zustand: Abo``, ``Soll``,
  ``Current state``...) is a stream with that state, even when empty. An item belongs to the
  innermost such container of its chain; an item in no state container belongs to the outermost
  other (non-legend) container holding it, which is an ``unspecified`` stream when it holds at
  least one step. Steps outside every container form one ``unspecified`` stream named after the
  board.
* **Order.** Connectors between two steps of a stream give the flow; cycles are broken by dropping
  the back edges of a depth-first search in left-to-right order; longest-path layering numbers
  the steps, so parallel branches share an order number. Steps joined by connectors form
  connected groups; steps without any connector are grouped into columns (x-extents overlapping
  by at least half the narrower step). Groups and columns follow one another left to right by
  their left-most step, each continuing the numbering where the previous one stopped.
* **Lanes.** Text items and shapes without a role, left of the stream's left-most step and
  vertically inside the stream (not above its top-most step: that is a heading), name lanes
  top to bottom; each lane's band runs to the midpoints
  between neighbouring labels; a step is in the lane whose band holds its centre.
* **Data.** A data sticky belongs to the step connected to it, else to the nearest step above it
  (same stream) whose x-extent holds its centre, at most ``DATA_REACH`` typical sizes higher.
  Data sticky times beat times written on the step itself.
* **Problems and ideas.** Connected to a step: that step. Else the nearest step of the same stream
  within ``ruleset.attach_distance`` typical sizes (centre distance); else the stream itself.
  Outside every stream: the nearest step of any stream within that distance, else unplaced.
* **Votes.** Each vote dot counts once, for the problem under its centre (the nearest centre when
  problems overlap); text marks (``(3)``, ``●●●``) add to that.
* **Persona.** Personas inside a stream name it; personas outside every stream name all streams.

All spatial look-ups go through a grid with cells of about one look-up distance, so the cost
grows with n log n (sorting), not with all pairs.
"""

from __future__ import annotations

import hashlib
import math
import re
from bisect import bisect_right
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from operator import attrgetter

from service.domain.board import Board, Geometry, Item, ItemKind
from service.domain.classification import Classification, Times, Unclassified
from service.domain.garbage import gc_paused
from service.domain.record import Record
from service.domain.ruleset import Role, Ruleset, StreamState
from service.domain.times import (
    count_vote_marks,
    leading_marker_pattern,
    parse_times,
    strip_marks_with,
)

STEP_ROLES = frozenset({Role.STEP, Role.WAIT})
# a data sticky sits at most this many typical sticky sizes below the step it belongs to
DATA_REACH = 3.0
# two unconnected steps whose x-extents overlap by this share of the narrower one are stacked
STACK_OVERLAP = 0.5
# a grid key is clamped so absurd coordinates cannot build absurd integers
_KEY_LIMIT = 1e15
# dashes: hyphen with spaces, en dash, em dash
_TITLE_SEPARATORS = (":", "|", "(", ")", "[", "]", "/", " - ", "\u2013", "\u2014")


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


@dataclass(frozen=True, slots=True)
class Stream:
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


def stable_id(prefix: str, *parts: str) -> str:
    """A short id that stays the same across re-imports of the same board items."""
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8"), usedforsecurity=False)
    return f"{prefix}-{digest.hexdigest()[:12]}"


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())
    return ""


def _starts_with_word(text: str, word: str) -> bool:
    return text.startswith(word) and (len(text) == len(word) or not text[len(word)].isalnum())


def _title_segments(title: str) -> list[str]:
    segments = [title]
    for separator in _TITLE_SEPARATORS:
        segments = [part for segment in segments for part in segment.split(separator)]
    return [" ".join(segment.split()) for segment in segments if segment.strip()]


def title_state(title: str, ruleset: Ruleset) -> StreamState | None:
    """The state a container title names, or None.

    The title's first line is cut at separators (``:``, ``|``, brackets, dashes); the first
    piece that starts with a current or target word (a whole word, case-insensitive, longest
    word wins) decides: ``Ist-Zustand: Abo``, ``Abo (Soll)`` and ``Future state`` all match,
    ``Istanbul`` does not.
    """
    words = [
        (" ".join(word.casefold().split()), state)
        for words, state in (
            (ruleset.current_titles, StreamState.CURRENT),
            (ruleset.target_titles, StreamState.TARGET),
        )
        for word in words
    ]
    words.sort(key=lambda pair: -len(pair[0]))
    for segment in _title_segments(first_line(title).casefold()):
        for word, state in words:
            if word and _starts_with_word(segment, word):
                return state
    return None


def title_subject(title: str, ruleset: Ruleset) -> str:
    """What a stream title is about without its state words, case-folded.

    ``Ist-Zustand: Abo-Abschluss`` and ``Abo-Abschluss (Soll)`` both give ``abo-abschluss``.
    """
    words = [
        " ".join(word.casefold().split())
        for word in (*ruleset.current_titles, *ruleset.target_titles)
    ]
    return " ".join(
        segment
        for segment in _title_segments(first_line(title).casefold())
        if not any(word and _starts_with_word(segment, word) for word in words)
    )


def _typical(classification: Classification) -> float:
    size = classification.typical_size
    return size if math.isfinite(size) and size > 0 else 200.0


def _geometry(item: Item) -> Geometry | None:
    """The item's geometry when it is finite (``Geometry.is_finite``, spelled out: it is hot)."""
    geometry = item.geometry
    if geometry is None:
        return None
    finite = math.isfinite
    if finite(geometry.x) and finite(geometry.y) and finite(geometry.width):
        return geometry if finite(geometry.height) else None
    return None


@dataclass(frozen=True, slots=True)
class _Grid:
    """Item indexes bucketed by centre cell.

    With ``extents`` a query also offers items whose extent (not only centre) may reach the query
    area: small items through one extra ring of cells, items larger than a cell (kept in ``big``)
    on every query.
    """

    cell: float
    extents: bool
    buckets: Mapping[tuple[int, int], Sequence[int]]
    big: Sequence[int]


def _key(value: float, cell: float, floor: Callable[[float], int] = math.floor) -> int:
    scaled = value / cell
    if -_KEY_LIMIT <= scaled <= _KEY_LIMIT:  # the hot case, without min() and max() calls
        return floor(scaled)
    return floor(max(-_KEY_LIMIT, min(_KEY_LIMIT, scaled)))  # NaN goes to the upper limit


def _grid(geometries: Sequence[Geometry], cell: float, *, extents: bool = False) -> _Grid:
    buckets: dict[tuple[int, int], list[int]] = {}
    big: list[int] = []
    key = _key
    for index, geometry in enumerate(geometries):
        if extents and max(geometry.width, geometry.height) / 2 > cell:  # Geometry.size
            big.append(index)
        else:
            slot = (key(geometry.x, cell), key(geometry.y, cell))
            bucket = buckets.get(slot)
            if bucket is None:
                buckets[slot] = [index]
            else:
                bucket.append(index)
    return _Grid(cell, extents, buckets, tuple(big))


def _near(grid: _Grid, left: float, top: float, right: float, bottom: float) -> list[int]:
    """Indexes of items whose centre may lie in the rectangle (or, with extents, touch it).

    A superset: callers apply the exact test. A rectangle spanning more cells than the grid has
    buckets walks the buckets instead, so an absurd rectangle costs no more than a full scan.
    A list, not a generator: most look-ups find a handful of items, and resuming a generator
    for each costs more than building the list.
    """
    cell, buckets = grid.cell, grid.buckets
    margin = cell if grid.extents else 0.0
    x0, x1 = _key(left - margin, cell), _key(right + margin, cell)
    y0, y1 = _key(top - margin, cell), _key(bottom + margin, cell)
    found: list[int] = []
    if (x1 - x0 + 1) * (y1 - y0 + 1) > len(buckets):
        for (kx, ky), indexes in buckets.items():
            if x0 <= kx <= x1 and y0 <= ky <= y1:
                found.extend(indexes)
    else:
        get = buckets.get
        for kx in range(x0, x1 + 1):
            for ky in range(y0, y1 + 1):
                bucket = get((kx, ky))
                if bucket is not None:
                    found.extend(bucket)
    found.extend(grid.big)
    return found


@dataclass(frozen=True, slots=True)
class _Frames:
    """The board's containers as far as streams care: their state and which ones are legends."""

    containers: Mapping[str, Item]
    states: Mapping[str, StreamState]
    legends: frozenset[str]


def _frames(board: Board, classification: Classification, ruleset: Ruleset) -> _Frames:
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
    return _Frames(containers, states, legends)


def _home(item: Item, frames: _Frames) -> str | None:
    """The container whose stream the item belongs to (None = outside every container)."""
    chain = [
        cid for cid in item.containers if cid in frames.containers and cid not in frames.legends
    ]
    for cid in chain:
        if cid in frames.states:
            return cid
    return chain[-1] if chain else None


def _in_legend(item: Item, frames: _Frames) -> bool:
    return any(cid in frames.legends for cid in item.containers)


def _break_cycles(count: int, successors: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """Edges of a DAG: depth-first from each node in index order, back edges dropped."""
    state = [0] * count  # 0 new, 1 on the stack, 2 done
    kept: list[tuple[int, int]] = []
    for root in range(count):
        if state[root]:
            continue
        state[root] = 1
        stack: list[tuple[int, int]] = [(root, 0)]
        while stack:
            node, position = stack[-1]
            if position < len(successors[node]):
                stack[-1] = (node, position + 1)
                nxt = successors[node][position]
                if state[nxt] == 1:
                    continue  # back edge: closes a cycle
                kept.append((node, nxt))
                if state[nxt] == 0:
                    state[nxt] = 1
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                stack.pop()
    return kept


def _layers(count: int, edges: Sequence[tuple[int, int]]) -> list[int]:
    """Longest-path layer (0-based) of each node of a DAG."""
    successors: list[list[int]] = [[] for _ in range(count)]
    indegree = [0] * count
    for start, end in edges:
        successors[start].append(end)
        indegree[end] += 1
    layer = [0] * count
    queue = deque(node for node in range(count) if indegree[node] == 0)
    while queue:
        node = queue.popleft()
        for nxt in successors[node]:
            layer[nxt] = max(layer[nxt], layer[node] + 1)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                queue.append(nxt)
    return layer


def _components(count: int, edges: Sequence[tuple[int, int]]) -> list[int]:
    parent = list(range(count))

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for start, end in edges:
        a, b = root(start), root(end)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return [root(node) for node in range(count)]


def _stacked(a: Geometry, b: Geometry) -> bool:
    overlap = min(a.right, b.right) - max(a.left, b.left)
    return overlap > 0 and overlap >= STACK_OVERLAP * min(a.width, b.width)


def flow_order(
    geometries: Sequence[Geometry], links: Sequence[tuple[int, int]]
) -> tuple[list[int], list[tuple[int, int]]]:
    """Order numbers (1-based, dense) for steps already sorted left to right, and the kept edges.

    ``links`` are connector index pairs (start, end); self loops and duplicates are ignored.
    See the module docstring for how connected groups and unconnected columns are merged.
    """
    count = len(geometries)
    unique = sorted({(a, b) for a, b in links if a != b and 0 <= a < count and 0 <= b < count})
    successors: list[list[int]] = [[] for _ in range(count)]
    for start, end in unique:
        successors[start].append(end)
    edges = _break_cycles(count, successors)
    layer = _layers(count, edges)
    component = _components(count, edges)
    linked = {node for edge in edges for node in edge}

    # units: (first node, member nodes, layer of each member within the unit)
    units: list[tuple[int, list[int], list[int]]] = []
    members: dict[int, list[int]] = defaultdict(list)
    for node in sorted(linked):
        members[component[node]].append(node)
    for nodes in members.values():
        units.append((nodes[0], nodes, [layer[node] for node in nodes]))
    column: list[int] = []
    for node in range(count):
        if node in linked:
            continue
        if column and _stacked(geometries[column[0]], geometries[node]):
            column.append(node)
            continue
        if column:
            units.append((column[0], column, [0] * len(column)))
        column = [node]
    if column:
        units.append((column[0], column, [0] * len(column)))

    order = [0] * count
    offset = 0
    for _, nodes, unit_layers in sorted(units, key=lambda unit: unit[0]):
        for node, unit_layer in zip(nodes, unit_layers, strict=True):
            order[node] = offset + unit_layer + 1
        offset += max(unit_layers) + 1
    return order, edges


def _lanes(
    labels: Sequence[tuple[float, str]],
) -> tuple[tuple[str, ...], list[float], list[str]]:
    """Lane names top to bottom, band boundaries and the lane of each band."""
    ordered = sorted(labels)
    names: list[str] = []
    for _, name in ordered:
        if name not in names:
            names.append(name)
    bounds = [(a[0] + b[0]) / 2 for a, b in pairwise(ordered)]
    return tuple(names), bounds, [name for _, name in ordered]


def _lane_of(y: float, bounds: Sequence[float], band_names: Sequence[str]) -> str | None:
    if not band_names:
        return None
    return band_names[bisect_right(bounds, y)]


def _merge(times: Sequence[Times]) -> Times:
    """Field by field, the first stated value wins."""

    finite = math.isfinite
    process = lead = wait = complete_accurate = None
    for candidate in times:
        value = candidate.process_min
        if process is None and value is not None and finite(value):
            process = value
        value = candidate.lead_min
        if lead is None and value is not None and finite(value):
            lead = value
        value = candidate.wait_min
        if wait is None and value is not None and finite(value):
            wait = value
        value = candidate.complete_accurate_pct
        if complete_accurate is None and value is not None and finite(value):
            complete_accurate = value
    return Times(
        process_min=process,
        lead_min=lead,
        wait_min=wait,
        complete_accurate_pct=complete_accurate,
    )


def _completed(times: Times, value_adding: bool) -> Times:
    """Derive what the stated times imply.

    Wait = lead - process when both are stated (and lead is not shorter). Lead = process + wait
    when both are stated; for a waiting step (not value adding) lead = wait when no process time
    is given, because the waiting is all its lead time.
    """
    process, lead, wait = times.process_min, times.lead_min, times.wait_min
    if wait is None and lead is not None and process is not None and lead >= process:
        wait = lead - process
    if lead is None and wait is not None:
        if process is not None:
            lead = process + wait
        elif not value_adding:
            lead = wait
    return Times(process, lead, wait, times.complete_accurate_pct)


def _title(text: str, marker: re.Pattern[str] | None) -> str:
    """One-line display text: role marker (``marker``, the ruleset's
    ``leading_marker_pattern``), vote marks and time lines removed."""
    return strip_marks_with(text, marker)


Key = str | None  # a stream's container id; None is the board-level stream


class _Placed(Record, frozen=True):
    """An item with its finite geometry (a ``Record``: one is built per placed item)."""

    item: Item
    geometry: Geometry


# (x, y, item id) of a _Placed; attrgetter builds the tuple in C, and it runs once per item
_position_key: Callable[[_Placed], tuple[float, float, str]] = attrgetter(
    "geometry.x", "geometry.y", "item.id"
)


@dataclass(frozen=True, slots=True)
class _Seed:
    key: Key
    name: str
    state: StreamState
    frame: Geometry | None


@dataclass(frozen=True, slots=True)
class _Steps:
    """All steps (left to right), grouped by stream, and what connectors join to them."""

    all: Sequence[_Placed]
    by_id: Mapping[str, _Placed]
    by_key: Mapping[Key, Sequence[_Placed]]
    home: Mapping[str, Key]
    connections: Mapping[str, frozenset[str]]  # any item id -> ids of steps joined to it
    flows: Mapping[Key, Sequence[tuple[str, str]]]  # directed step -> step, within a stream


@dataclass(frozen=True, slots=True)
class _Board:
    """The placed items of a board: by role, lane label candidates, and each item's home."""

    by_role: Mapping[Role, Sequence[_Placed]]
    labels: Mapping[Key, Sequence[_Placed]]
    homes: Mapping[str, Key]


def _place_items(board: Board, classification: Classification, frames: _Frames) -> _Board:
    by_role: dict[Role, list[_Placed]] = defaultdict(list)
    labels: dict[Key, list[_Placed]] = defaultdict(list)
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
        geometry = _geometry(item)
        if geometry is None or (label and not first_line(item.text)):
            continue
        chain = chains.get(item.containers)
        if chain is None:
            chain = chains[item.containers] = (_in_legend(item, frames), _home(item, frames))
        in_legend, home = chain
        if in_legend:
            continue
        placed = _Placed(item, geometry)
        homes[item.id] = home
        if role is not None:
            by_role[role].append(placed)
        else:
            labels[home].append(placed)
    for items in (*by_role.values(), *labels.values()):
        items.sort(key=_position_key)
    return _Board(by_role, labels, homes)


def _gather_steps(board: Board, placed: _Board) -> _Steps:
    steps = sorted(
        [*placed.by_role.get(Role.STEP, ()), *placed.by_role.get(Role.WAIT, ())], key=_position_key
    )
    by_key: dict[Key, list[_Placed]] = defaultdict(list)
    home: dict[str, Key] = {}
    for step in steps:
        key = placed.homes[step.item.id]
        by_key[key].append(step)
        home[step.item.id] = key
    connections: dict[str, set[str]] = defaultdict(set)
    flows: dict[Key, set[tuple[str, str]]] = defaultdict(set)
    for connector in board.connectors:
        start, end = connector.start_id, connector.end_id
        if start is None or end is None or start == end:
            continue
        if end in home:
            connections[start].add(end)
        if start in home:
            connections[end].add(start)
        if start in home and end in home and home[start] == home[end]:
            flows[home[start]].add((start, end))
    return _Steps(
        all=steps,
        by_id={step.item.id: step for step in steps},
        by_key=dict(by_key),
        home=home,
        connections={key: frozenset(ids) for key, ids in connections.items()},
        flows={key: sorted(pairs) for key, pairs in flows.items()},
    )


def _seeds(board: Board, frames: _Frames, step_homes: Sequence[Key]) -> list[_Seed]:
    rank = {StreamState.CURRENT: 0, StreamState.TARGET: 1, StreamState.UNSPECIFIED: 2}
    seeds: list[_Seed] = []
    for key in set(frames.states) | set(step_homes):
        if key is None:
            seeds.append(_Seed(None, board.name, StreamState.UNSPECIFIED, None))
        else:
            container = frames.containers[key]
            state = frames.states.get(key, StreamState.UNSPECIFIED)
            name = first_line(container.text) or board.name
            seeds.append(_Seed(key, name, state, _geometry(container)))

    def sort_key(seed: _Seed) -> tuple[int, int, float, float, str]:
        if seed.key is None:
            return (rank[seed.state], 2, 0.0, 0.0, "")
        if seed.frame is None:
            return (rank[seed.state], 1, 0.0, 0.0, seed.key)
        return (rank[seed.state], 0, seed.frame.top, seed.frame.left, seed.key)

    return sorted(seeds, key=sort_key)


def _distance(a: Geometry, b: Geometry) -> float:
    return math.hypot(a.x - b.x, a.y - b.y)


def _connected_step(placed: _Placed, steps: _Steps) -> str | None:
    """The step a connector joins the item to; the nearest one when there are several."""
    joined = steps.connections.get(placed.item.id)
    if not joined:
        return None
    return min(joined, key=lambda sid: (_distance(steps.by_id[sid].geometry, placed.geometry), sid))


@dataclass(frozen=True, slots=True)
class _Pools:
    """Per home: the steps a note may attach to, with a grid over them (built on first use)."""

    steps: _Steps
    keys: frozenset[Key]
    cell: float
    extents: bool
    grids: dict[tuple[bool, Key], _Grid]

    def pool(self, home: Key) -> tuple[bool, Sequence[_Placed], _Grid | None]:
        in_stream = home in self.keys
        members = self.steps.by_key.get(home, ()) if in_stream else self.steps.all
        if not members:
            return in_stream, members, None
        slot = (in_stream, home if in_stream else None)
        if slot not in self.grids:
            self.grids[slot] = _grid(
                [step.geometry for step in members], self.cell, extents=self.extents
            )
        return in_stream, members, self.grids[slot]


def _cell(reach: float) -> float:
    return reach if math.isfinite(reach) and reach > 0 else 1.0


def _place_notes(
    notes: Sequence[_Placed],
    steps: _Steps,
    homes: Mapping[str, Key],
    keys: frozenset[Key],
    reach: float,
    typical: float,
) -> dict[Key, list[tuple[_Placed, str | None]]]:
    """Stream key -> its problems or ideas with their step item id (None: the stream itself).

    Notes placed nowhere are left out; each stream's notes keep the order of ``notes``.
    """
    # cells of one reach: the nearest step within reach lies in the 3 x 3 cells around the note
    pools = _Pools(steps, keys, _cell(max(reach, typical)), False, {})
    placed: dict[Key, list[tuple[_Placed, str | None]]] = defaultdict(list)
    connected = steps.connections
    for note in notes:
        step = _connected_step(note, steps) if note.item.id in connected else None
        if step is None:
            home = homes[note.item.id]
            in_stream, members, grid = pools.pool(home)
            if grid is not None:
                step = _nearest(note.geometry, members, grid, reach)
            if step is None:
                if in_stream:
                    placed[home].append((note, None))
                continue
        placed[steps.home[step]].append((note, step))
    return placed


def _ring(cx: int, cy: int, ring: int) -> Iterator[tuple[int, int]]:
    """The cells at Chebyshev distance ``ring`` from (cx, cy)."""
    if ring == 0:
        yield (cx, cy)
        return
    for dx in range(-ring, ring + 1):
        yield (cx + dx, cy - ring)
        yield (cx + dx, cy + ring)
    for dy in range(-ring + 1, ring):
        yield (cx - ring, cy + dy)
        yield (cx + ring, cy + dy)


def _nearest(point: Geometry, steps: Sequence[_Placed], grid: _Grid, reach: float) -> str | None:
    """The step whose centre is nearest to the point and closer than ``reach`` (ties: item id).

    Searches rings of cells outward and stops once no unseen cell can hold a nearer step; when
    the search area would hold more cells than the grid has buckets, it scans the buckets.
    """
    best: tuple[float, str] | None = None
    x, y = point.x, point.y
    hypot = math.hypot

    def consider(indexes: Iterable[int]) -> None:
        nonlocal best
        for index in indexes:
            step = steps[index]
            geometry = step.geometry
            distance = hypot(geometry.x - x, geometry.y - y)
            if distance < reach and (best is None or (distance, step.item.id) < best):
                best = (distance, step.item.id)

    cell = grid.cell
    buckets = grid.buckets
    rings = math.ceil(min(reach / cell, _KEY_LIMIT)) + 1
    if (2 * rings + 1) ** 2 > 4 * len(buckets):
        for indexes in buckets.values():
            consider(indexes)
        return best[1] if best else None
    cx, cy = _key(x, cell), _key(y, cell)
    # rings 0 and 1, the 3 x 3 block, are always searched (the stop test below cannot hold
    # before ring 2), and the nearest step is the same in any visiting order
    get = buckets.get
    for kx in (cx - 1, cx, cx + 1):
        for ky in (cy - 1, cy, cy + 1):
            found = get((kx, ky))
            if found:
                consider(found)
    for ring in range(2, rings + 1):
        # every point of ring r lies at least (r - 1) cells away from the query point
        if best is not None and (ring - 1) * cell > best[0]:
            break
        for key in _ring(cx, cy, ring):
            found = buckets.get(key)
            if found:
                consider(found)
    return best[1] if best else None


def _place_data(
    data: Sequence[_Placed],
    steps: _Steps,
    homes: Mapping[str, Key],
    keys: frozenset[Key],
    typical: float,
) -> dict[str, list[_Placed]]:
    """Step item id -> its data stickies, nearest first."""
    reach = DATA_REACH * typical
    pools = _Pools(steps, keys, _cell(typical), True, {})
    found: dict[str, list[tuple[float, str, _Placed]]] = defaultdict(list)
    for sticky in data:
        step = _connected_step(sticky, steps) if sticky.item.id in steps.connections else None
        if step is None:
            _, members, grid = pools.pool(homes[sticky.item.id])
            if grid is not None:
                step = _step_above(sticky.geometry, members, grid, reach)
        if step is not None:
            gap = abs(sticky.geometry.y - steps.by_id[step].geometry.y)
            found[step].append((gap, sticky.item.id, sticky))
    return {step: [entry[2] for entry in sorted(entries)] for step, entries in found.items()}


def _step_above(point: Geometry, steps: Sequence[_Placed], grid: _Grid, reach: float) -> str | None:
    best: tuple[float, str] | None = None
    for index in _near(grid, point.x, point.y - reach, point.x, point.y):
        step = steps[index].geometry
        gap = point.y - step.y
        # step.left <= point.x <= step.right, spelled out: this runs for every candidate
        if 0 < gap <= reach and step.x - step.width / 2 <= point.x <= step.x + step.width / 2:
            candidate = (gap, steps[index].item.id)
            if best is None or candidate < best:
                best = candidate
    return best[1] if best else None


def _votes(
    board: Board, classification: Classification, problems: Sequence[_Placed], typical: float
) -> dict[str, list[str]]:
    """Problem item id -> the vote dots whose centre lies on it (each dot counts once)."""
    if not problems or not classification.dots:
        return {}
    grid = _grid([problem.geometry for problem in problems], typical, extents=True)
    votes: dict[str, list[str]] = defaultdict(list)
    for item in board.items:
        dot = _geometry(item) if item.id in classification.dots else None
        if dot is None:
            continue
        best: tuple[float, str] | None = None
        x, y = dot.x, dot.y
        for index in _near(grid, x, y, x, y):
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


def _lane_labels(
    candidates: Sequence[_Placed],
    members: Sequence[_Placed],
    frame: Geometry | None,
    typical: float,
    ruleset: Ruleset,
) -> list[tuple[float, str]]:
    """(centre y, name) of the lane labels.

    A label lies left of the stream's left-most step (its right edge at most half a sticky into
    the steps), inside the frame, and not above the top-most step by more than one sticky size:
    a text up there is the frame's heading, not a lane. Without a frame, labels are looked for
    within 5 sticky sizes left of the steps and one sticky size above or below them.
    """
    if not members:
        return []
    leftmost = min(step.geometry.left for step in members)
    highest = min(step.geometry.top for step in members) - typical
    if frame is not None:
        bottom, left = frame.bottom, frame.left
    else:
        bottom = max(step.geometry.bottom for step in members) + typical
        left = leftmost - 5 * typical
    labels: list[tuple[float, str]] = []
    for candidate in candidates:
        geometry = candidate.geometry
        name = first_line(candidate.item.text)
        if (
            left <= geometry.x
            and geometry.right <= leftmost + typical / 2
            and highest <= geometry.y <= bottom
            and title_state(name, ruleset) is None
        ):
            labels.append((geometry.y, name))
    return labels


@gc_paused
def build_streams(
    board: Board, classification: Classification, ruleset: Ruleset
) -> tuple[Stream, ...]:
    """The board's value streams: current states first, then target, then unspecified.

    Within a state, container streams come top to bottom, then left to right; the board-level
    stream is last. Items without a finite position or inside a legend are skipped
    (``unplaced`` lists what was left out and why). Shuffling the items or moving the whole
    board gives the same streams.
    """
    typical = _typical(classification)
    frames = _frames(board, classification, ruleset)
    placed = _place_items(board, classification, frames)
    steps = _gather_steps(board, placed)
    seeds = _seeds(board, frames, list(steps.by_key))
    keys = frozenset(seed.key for seed in seeds)
    reach = typical * ruleset.attach_distance
    problems = placed.by_role.get(Role.PROBLEM, ())
    notes = {
        Role.PROBLEM: _place_notes(problems, steps, placed.homes, keys, reach, typical),
        Role.IDEA: _place_notes(
            placed.by_role.get(Role.IDEA, ()), steps, placed.homes, keys, reach, typical
        ),
    }
    data = _place_data(placed.by_role.get(Role.DATA, ()), steps, placed.homes, keys, typical)
    votes = _votes(board, classification, problems, typical)

    marker = leading_marker_pattern(ruleset)
    personas: dict[Key, list[str]] = defaultdict(list)
    everywhere: list[str] = []
    for persona in sorted(
        placed.by_role.get(Role.PERSONA, ()), key=lambda p: (p.geometry.y, p.geometry.x, p.item.id)
    ):
        text = _title(persona.item.text, marker)
        home = placed.homes[persona.item.id]
        target = personas[home] if home in keys else everywhere
        if text and text not in target:
            target.append(text)

    context = _Context(
        board, ruleset, marker, classification.roles, typical, steps, data, votes, {}
    )
    return tuple(
        _stream(
            context,
            seed,
            placed.labels.get(seed.key, ()),
            notes[Role.PROBLEM].get(seed.key, []),
            notes[Role.IDEA].get(seed.key, []),
            [
                *personas.get(seed.key, []),
                *(p for p in everywhere if p not in personas.get(seed.key, [])),
            ],
        )
        for seed in seeds
    )


@dataclass(frozen=True, slots=True)
class _Context:
    board: Board
    ruleset: Ruleset
    marker: re.Pattern[str] | None  # the ruleset's leading_marker_pattern
    roles: Mapping[str, Role]
    typical: float
    steps: _Steps
    data: Mapping[str, Sequence[_Placed]]
    votes: Mapping[str, Sequence[str]]
    parsed_times: dict[str, Times]  # filled while the streams are built


def _step_times(context: _Context, step: _Placed, value_adding: bool) -> Times:
    stated = [_parsed_times(context, d.item.text) for d in context.data.get(step.item.id, ())]
    stated.append(_parsed_times(context, step.item.text))
    return _completed(_merge(stated), value_adding)


def _parsed_times(context: _Context, text: str) -> Times:
    """``parse_times`` once per distinct text: data stickies repeat ("BZ: 5 min")."""
    times = context.parsed_times.get(text)
    if times is None:
        times = context.parsed_times[text] = parse_times(text, context.ruleset)
    return times


def _stream(
    context: _Context,
    seed: _Seed,
    labels: Sequence[_Placed],
    problem_notes: Sequence[tuple[_Placed, str | None]],
    idea_notes: Sequence[tuple[_Placed, str | None]],
    personas: Sequence[str],
) -> Stream:
    board, ruleset = context.board, context.ruleset
    members = context.steps.by_key.get(seed.key, ())
    index = {step.item.id: i for i, step in enumerate(members)}
    links = [(index[a], index[b]) for a, b in context.steps.flows.get(seed.key, ())]
    order, edges = flow_order([step.geometry for step in members], links)
    lanes, bounds, band_names = _lanes(
        _lane_labels(labels, members, seed.frame, context.typical, ruleset)
    )
    step_id = {step.item.id: stable_id("st", board.id, step.item.id) for step in members}
    step_order = {step.item.id: order[i] for i, step in enumerate(members)}
    unattached = len(members) + 1

    def rank(step: str | None) -> int:
        return step_order[step] if step is not None else unattached

    def place(note: _Placed) -> tuple[float, float, str]:
        return (note.geometry.y, note.geometry.x, note.item.id)

    # ties are broken by position and item id, never by the derived (provider-specific) hash id
    ranked_problems: list[tuple[tuple[int, int, str, float, float, str], Problem]] = []
    for note, step in problem_notes:
        dots = context.votes.get(note.item.id, ())
        marks = count_vote_marks(note.item.text)
        problem = Problem(
            id=stable_id("p", board.id, note.item.id),
            text=_title(note.item.text, context.marker),
            step_id=step_id[step] if step is not None else None,
            weight=len(dots) + marks + note.item.votes,
            dot_votes=len(dots),
            mark_votes=marks,
            source_item_ids=(note.item.id, *dots),
            provider_votes=note.item.votes,
        )
        ranked_problems.append(((-problem.weight, rank(step), problem.text, *place(note)), problem))
    ranked_problems.sort(key=lambda pair: pair[0])
    problems = [problem for _, problem in ranked_problems]
    ranked_ideas: list[tuple[tuple[int, str, float, float, str], Idea]] = []
    for note, step in idea_notes:
        idea = Idea(
            id=stable_id("i", board.id, note.item.id),
            text=_title(note.item.text, context.marker),
            step_id=step_id[step] if step is not None else None,
            source_item_ids=(note.item.id,),
        )
        ranked_ideas.append(((rank(step), idea.text, *place(note)), idea))
    ranked_ideas.sort(key=lambda pair: pair[0])
    ideas = [idea for _, idea in ranked_ideas]
    problems_of: dict[str, list[str]] = defaultdict(list)
    for problem in problems:
        if problem.step_id is not None:
            problems_of[problem.step_id].append(problem.id)

    built: list[tuple[tuple[int, float, float, str], Step]] = []
    for i, member in enumerate(members):
        value_adding = context.roles.get(member.item.id) is Role.STEP
        times = _step_times(context, member, value_adding)
        sid = step_id[member.item.id]
        built_step = Step(
            id=sid,
            order=order[i],
            title=_title(member.item.text, context.marker),
            lane=_lane_of(member.geometry.y, bounds, band_names),
            value_adding=value_adding,
            process_time_min=times.process_min,
            lead_time_min=times.lead_min,
            wait_time_min=times.wait_min,
            complete_accurate_pct=times.complete_accurate_pct,
            source_item_ids=(
                member.item.id,
                *(d.item.id for d in context.data.get(member.item.id, ())),
            ),
            problem_ids=tuple(problems_of.get(sid, ())),
        )
        built.append(((order[i], member.geometry.y, member.geometry.x, member.item.id), built_step))
    built.sort(key=lambda pair: pair[0])
    flow = sorted(
        (
            step_order[members[a].item.id],
            step_order[members[b].item.id],
            step_id[members[a].item.id],
            step_id[members[b].item.id],
        )
        for a, b in edges
    )
    return Stream(
        id=stable_id("s", board.id, seed.key or ""),
        name=seed.name,
        state=seed.state,
        frame_id=seed.key,
        persona=", ".join(personas) or None,
        lanes=lanes,
        steps=tuple(step for _, step in built),
        problems=tuple(problems),
        ideas=tuple(ideas),
        edges=tuple((a, b) for _, _, a, b in flow),
    )


_PLACED_ROLES = frozenset({Role.STEP, Role.WAIT, Role.PROBLEM, Role.IDEA, Role.DATA, Role.PERSONA})


def unplaced(
    board: Board, classification: Classification, streams: Sequence[Stream]
) -> tuple[Unclassified, ...]:
    """Items that got a stream role but landed in no stream, with the reason (sorted by id).

    Items without a finite position get the reason ``no position``.
    """
    used = {
        item_id
        for stream in streams
        for sources in (
            *(step.source_item_ids for step in stream.steps),
            *(problem.source_item_ids for problem in stream.problems),
            *(idea.source_item_ids for idea in stream.ideas),
        )
        for item_id in sources
    }
    legends = classification.legend_ids
    reasons = {
        Role.PROBLEM: "problem outside every value stream and not near a step",
        Role.IDEA: "idea outside every value stream and not near a step",
        Role.DATA: "data sticky not under a step",
        Role.PERSONA: "no value stream on the board",
        Role.STEP: "step outside every value stream",
        Role.WAIT: "step outside every value stream",
    }
    found: list[Unclassified] = []
    for item in board.items:
        role = classification.roles.get(item.id)
        if role not in _PLACED_ROLES or item.id in used:
            continue
        if _geometry(item) is None:
            found.append(Unclassified(item.id, item.text, "no position"))
        elif role is not None and not (
            any(cid in legends for cid in item.containers) or (role is Role.PERSONA and streams)
        ):
            found.append(Unclassified(item.id, item.text, reasons[role]))
    # sorted here, not the board's items up front: few items land outside every stream
    return tuple(sorted(found, key=attrgetter("item_id")))
