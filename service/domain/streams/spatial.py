"""The spatial index of the streams code: items bucketed by centre cell, and look-ups on it.

Every spatial look-up goes through a grid with cells of about one look-up distance, so the cost
grows with n log n (sorting), not with all pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import attrgetter

from msgspec import Struct

from service.domain.board import Geometry, Item
from service.domain.record import Record

# a grid key is clamped so absurd coordinates cannot build absurd integers
_KEY_LIMIT = 1e15


def finite_geometry(item: Item) -> Geometry | None:
    """The item's geometry when it is finite (``Geometry.is_finite``, spelled out: it is hot)."""
    geometry = item.geometry
    if geometry is None:
        return None
    finite = math.isfinite
    if finite(geometry.x) and finite(geometry.y) and finite(geometry.width):
        return geometry if finite(geometry.height) else None
    return None


class Placed(Record, frozen=True):
    """An item with its finite geometry (a ``Record``: one is built per placed item)."""

    item: Item
    geometry: Geometry


# (x, y, item id) of a Placed; attrgetter builds the tuple in C, and it runs once per item
position_key: Callable[[Placed], tuple[float, float, str]] = attrgetter(
    "geometry.x", "geometry.y", "item.id"
)


class Grid(Struct, frozen=True):
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


def build_grid(geometries: Sequence[Geometry], cell: float, *, extents: bool = False) -> Grid:
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
    return Grid(cell, extents, buckets, tuple(big))


def near(grid: Grid, left: float, top: float, right: float, bottom: float) -> list[int]:
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


def nearest(point: Geometry, steps: Sequence[Placed], grid: Grid, reach: float) -> str | None:
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
