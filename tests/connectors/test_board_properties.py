"""Properties of normalization: provider, item order and board position do not change the board."""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.dump import load_dump, read_dump_file
from connectors.miro.normalize import normalize_miro
from connectors.mural.normalize import normalize_mural
from service.domain.board import Board, Geometry
from service.domain.colors import PALETTE
from testkit.builders import (
    Element,
    Frame,
    Label,
    Link,
    Note,
    Shape,
    miro_id,
    mural_id,
    to_miro_dump,
    to_mural_dump,
)

coords = st.floats(-10_000, 10_000, allow_nan=False, allow_infinity=False)
sizes = st.floats(1, 5_000, allow_nan=False, allow_infinity=False)
texts = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs"), include_characters="\n"),
    max_size=24,
)
# A Mural area without a title is a group, no container (docs/mural.md), while a Miro frame
# stays a frame: the frames of a layout read alike from both providers carry a title.
titles = texts.filter(lambda text: bool(text.strip()))
colors = st.sampled_from(sorted(PALETTE))
tag_sets = st.lists(st.sampled_from(["Problem", "Idee", "NVA", "Persona"]), max_size=2, unique=True)


@st.composite
def layouts(draw: st.DrawFn) -> list[Element]:
    """Frames (nested in earlier frames or not), then stickies, labels and shapes, then links."""
    elements: list[Element] = []
    frame_count = draw(st.integers(0, 4))
    for i in range(frame_count):
        parent = draw(st.none() | st.integers(0, i - 1)) if i else None
        elements.append(
            Frame(draw(titles), draw(coords), draw(coords), draw(sizes), draw(sizes), parent)
        )
    parents = st.none() | st.integers(0, frame_count - 1) if frame_count else st.none()
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["note", "note", "label", "shape"]))
        x, y, w, h, parent = draw(coords), draw(coords), draw(sizes), draw(sizes), draw(parents)
        if kind == "note":
            tags = tuple(draw(tag_sets))
            elements.append(Note(draw(texts), x, y, draw(colors), parent, w, h, tags))
        elif kind == "label":
            elements.append(Label(draw(texts), x, y, w, h, parent))
        else:
            color = draw(st.none() | colors)
            elements.append(Shape(draw(texts), x, y, "circle", color, w, h, parent))
    ends = st.none() | st.integers(0, len(elements) - 1) if elements else st.none()
    for _ in range(draw(st.integers(0, 3))):
        elements.append(Link(draw(ends), draw(ends), draw(texts)))
    return elements


def close(a: Geometry | None, b: Geometry | None, dx: float = 0.0, dy: float = 0.0) -> bool:
    if a is None or b is None:
        return a is b
    return all(
        math.isclose(p, q, abs_tol=1e-6)
        for p, q in [
            (a.x + dx, b.x),
            (a.y + dy, b.y),
            (a.width, b.width),
            (a.height, b.height),
            (a.rotation, b.rotation),
        ]
    )


@settings(max_examples=150, deadline=None)
@given(layouts())
def test_the_same_board_from_miro_and_from_mural_normalizes_the_same(
    layout: list[Element],
) -> None:
    miro = load_dump(to_miro_dump(layout)).by_id()
    mural = load_dump(to_mural_dump(layout)).by_id()
    miro_index = {miro_id(i): i for i in range(len(layout))}
    mural_index = {mural_id(i): i for i in range(len(layout))}

    for i, element in enumerate(layout):
        if isinstance(element, Link):
            continue
        a, b = miro[miro_id(i)], mural[mural_id(i)]
        assert (a.kind, a.text, a.color, a.tags) == (b.kind, b.text, b.color, b.tags)
        assert close(a.geometry, b.geometry)
        assert [miro_index[c] for c in a.containers] == [mural_index[c] for c in b.containers]


@settings(max_examples=100, deadline=None)
@given(layouts())
def test_connectors_match_between_providers(layout: list[Element]) -> None:
    miro = load_dump(to_miro_dump(layout)).connectors
    mural = load_dump(to_mural_dump(layout)).connectors

    def ends(index: dict[str | None, int | None], board: Sequence[Any]) -> list[Any]:
        return [(index[c.start_id], index[c.end_id], c.text) for c in board]

    miro_index: dict[str | None, int | None] = {miro_id(i): i for i in range(len(layout))}
    mural_index: dict[str | None, int | None] = {mural_id(i): i for i in range(len(layout))}
    miro_index[None] = mural_index[None] = None
    assert ends(miro_index, miro) == ends(mural_index, mural)


Normalizer = Callable[[dict[str, Any]], Board]
PROVIDERS: list[tuple[Callable[[list[Element]], dict[str, Any]], str, Normalizer]] = [
    (to_miro_dump, "items", normalize_miro),
    (to_mural_dump, "widgets", normalize_mural),
]


@settings(max_examples=100, deadline=None)
@given(layouts(), st.sampled_from(PROVIDERS), st.randoms(use_true_random=False))
def test_shuffling_the_item_order_gives_the_same_board(
    layout: list[Element],
    provider: tuple[Callable[[list[Element]], dict[str, Any]], str, Normalizer],
    random: Any,
) -> None:
    write, key, normalize = provider
    dump = write(layout)
    shuffled = write(layout)
    random.shuffle(shuffled[key])

    before, after = normalize(dump), normalize(shuffled)

    assert before.by_id() == after.by_id()
    assert set(before.connectors) == set(after.connectors)


@settings(max_examples=100, deadline=None)
@given(layouts(), st.sampled_from(PROVIDERS), coords, coords)
def test_moving_the_whole_board_moves_every_item_by_the_same_offset(
    layout: list[Element],
    provider: tuple[Callable[[list[Element]], dict[str, Any]], str, Normalizer],
    dx: float,
    dy: float,
) -> None:
    write, _, normalize = provider
    moved_layout = [
        element
        if isinstance(element, Link)
        else type(element)(**{**element.__dict__, "x": element.x + dx, "y": element.y + dy})
        for element in layout
    ]

    before, after = normalize(write(layout)).by_id(), normalize(write(moved_layout)).by_id()

    assert before.keys() == after.keys()
    for item_id, item in before.items():
        assert close(item.geometry, after[item_id].geometry, dx, dy)
        assert item.containers == after[item_id].containers


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
miro_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=3) | st.integers(),
        "type": st.sampled_from(["sticky_note", "frame", "shape", "text", "x"]) | json_values,
        "data": json_values | st.fixed_dictionaries({}, optional={"content": json_values}),
        "style": json_values
        | st.fixed_dictionaries(
            {},
            optional={
                "fillColor": json_values | colors,
                "fillOpacity": json_values | st.sampled_from(["1.0", "0", " 0.5 ", "x"]),
            },
        ),
        "position": json_values
        | st.fixed_dictionaries(
            {},
            optional={"x": json_values, "y": json_values, "relativeTo": json_values},
        ),
        "geometry": json_values,
        "parent": json_values | st.fixed_dictionaries({"id": st.text(max_size=3)}),
    },
)
refs = json_values | st.fixed_dictionaries({"id": st.text(max_size=3)})
miro_connector_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=3) | st.integers(),
        "startItem": refs,
        "endItem": refs,
        "captions": json_values | st.lists(st.fixed_dictionaries({"content": json_values})),
        "shape": json_values,
    },
)
mural_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=3),
        "type": st.sampled_from(["sticky note", "area", "arrow", "x"]) | json_values,
        "x": json_values,
        "y": json_values,
        "width": json_values,
        "parentId": st.text(max_size=3) | json_values,
        "htmlText": json_values,
        "tags": json_values,
        "label": json_values,
        "startRefId": json_values,
    },
)


@settings(max_examples=200, deadline=None)
@given(st.lists(miro_like | json_values, max_size=12), st.lists(json_values, max_size=4))
def test_arbitrary_miro_items_never_crash_normalization(
    items: list[Any], connectors: list[Any]
) -> None:
    board = normalize_miro({"board": {}, "items": items, "connectors": connectors})

    kept = len(board.items) + len(board.connectors)
    listed = len(board.stats.skipped) + board.stats.malformed_total
    assert kept + listed == len(items) + len(connectors)
    assert all(item.geometry is None or item.geometry.is_finite() for item in board.items)


@settings(max_examples=200, deadline=None)
@given(st.lists(mural_like | json_values, max_size=12))
def test_arbitrary_mural_widgets_never_crash_normalization(widgets: list[Any]) -> None:
    board = normalize_mural({"mural": {}, "widgets": widgets})

    kept = len(board.items) + len(board.connectors)
    listed = len(board.stats.skipped) + board.stats.malformed_total
    assert kept + listed == len(widgets)
    assert all(item.geometry is None or item.geometry.is_finite() for item in board.items)


def _read_from_file(dump: Any) -> Board:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "dump.json"
        path.write_text(json.dumps(dump), encoding="utf-8")
        return read_dump_file(path)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(miro_like | json_values, max_size=12),
    st.lists(json_values | miro_connector_like, max_size=4),
)
def test_a_miro_dump_reads_the_same_from_its_file_as_from_its_parsed_json(
    items: list[Any], connectors: list[Any]
) -> None:
    dump = {"provider": "miro", "board": {"id": "b"}, "items": items, "connectors": connectors}

    # repr: 1 and 1.0 would be equal, and print differently
    assert repr(_read_from_file(dump)) == repr(load_dump(dump))
