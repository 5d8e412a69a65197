"""The grid index of the streams code finds what a scan of every item would find."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.board import Geometry, Item, ItemKind
from service.domain.streams.spatial import Placed, build_grid, finite_geometry, near, nearest

coordinates = st.floats(-5000, 5000, allow_nan=False)
sizes = st.floats(1, 3000, allow_nan=False)
geometries = st.builds(Geometry, coordinates, coordinates, sizes, sizes)
cells = st.floats(10, 2000, allow_nan=False)


def placed(geometries: list[Geometry]) -> list[Placed]:
    return [
        Placed(Item(id=f"i{index:03}", kind=ItemKind.STICKY, geometry=g), g)
        for index, g in enumerate(geometries)
    ]


def touches(g: Geometry, left: float, top: float, right: float, bottom: float) -> bool:
    return g.left <= right and left <= g.right and g.top <= bottom and top <= g.bottom


@settings(max_examples=200, deadline=None)
@given(st.lists(geometries, max_size=40), cells, coordinates, coordinates, sizes, sizes)
def test_near_offers_every_item_whose_centre_lies_in_the_rectangle(
    items: list[Geometry], cell: float, x: float, y: float, w: float, h: float
) -> None:
    left, top, right, bottom = x, y, x + w, y + h
    found = set(near(build_grid(items, cell), left, top, right, bottom))

    inside = {i for i, g in enumerate(items) if left <= g.x <= right and top <= g.y <= bottom}
    assert inside <= found


@settings(max_examples=200, deadline=None)
@given(st.lists(geometries, max_size=40), cells, coordinates, coordinates, sizes, sizes)
def test_near_with_extents_offers_every_item_that_touches_the_rectangle(
    items: list[Geometry], cell: float, x: float, y: float, w: float, h: float
) -> None:
    left, top, right, bottom = x, y, x + w, y + h
    found = set(near(build_grid(items, cell, extents=True), left, top, right, bottom))

    touching = {i for i, g in enumerate(items) if touches(g, left, top, right, bottom)}
    assert touching <= found


@settings(max_examples=300, deadline=None)
@given(st.lists(geometries, max_size=60), cells, geometries, st.floats(1, 8000))
def test_nearest_is_the_closest_centre_within_reach_ties_broken_by_item_id(
    items: list[Geometry], cell: float, point: Geometry, reach: float
) -> None:
    steps = placed(items)
    grid = build_grid([step.geometry for step in steps], cell)

    found = nearest(point, steps, grid, reach)

    candidates = [
        (math.hypot(s.geometry.x - point.x, s.geometry.y - point.y), s.item.id) for s in steps
    ]
    within = sorted(c for c in candidates if c[0] < reach)
    assert found == (within[0][1] if within else None)


def test_two_steps_at_the_same_distance_resolve_to_the_smaller_item_id() -> None:
    steps = placed([Geometry(100, 0, 50, 50), Geometry(-100, 0, 50, 50)])
    grid = build_grid([step.geometry for step in steps], 60.0)

    assert nearest(Geometry(0, 0, 10, 10), list(reversed(steps)), grid, 500) == "i000"


def test_a_step_two_cells_away_beats_a_farther_one_in_a_neighbouring_cell() -> None:
    # enough far-away steps that the search walks rings of cells instead of scanning them all
    far = [Geometry(10_000 + 100 * i, 10_000, 10, 10) for i in range(30)]
    steps = placed([Geometry(-99, -99, 10, 10), Geometry(201, 50, 10, 10), *far])
    grid = build_grid([step.geometry for step in steps], 100.0)

    assert nearest(Geometry(99, 50, 10, 10), steps, grid, 300) == "i001"


def test_absurd_coordinates_neither_fail_nor_hide_the_items_near_the_query() -> None:
    items = [Geometry(1e300, -1e300, 10, 10), Geometry(0, 0, 10, 10), Geometry(-1e308, 5, 10, 10)]
    grid = build_grid(items, 100.0)

    assert 1 in near(grid, -50, -50, 50, 50)
    assert set(near(grid, -1e308, -1e308, 1e308, 1e308)) == {0, 1, 2}
    assert nearest(Geometry(1, 1, 1, 1), placed(items), grid, 1e300) == "i001"


@pytest.mark.parametrize(
    ("geometry", "finite"),
    [
        (Geometry(1, 2, 3, 4), True),
        (Geometry(math.nan, 2, 3, 4), False),
        (Geometry(1, math.inf, 3, 4), False),
        (Geometry(1, 2, -math.inf, 4), False),
        (Geometry(1, 2, 3, math.nan), False),
        (None, False),
    ],
)
def test_only_items_with_a_finite_position_and_size_are_placed(
    geometry: Geometry | None, finite: bool
) -> None:
    item = Item(id="a", kind=ItemKind.STICKY, geometry=geometry)

    assert (finite_geometry(item) is not None) == finite
