"""digitize() on dump input: one board drawn in Miro and in Mural gives the same result."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.dump import load_dump
from service.domain.digitize import digitize
from tests.builders import (
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

COLORS = ["yellow", "yellow", "orange", "red", "green", "light_blue", "violet", "gray"]
TEXTS = ["Angebot", "Prüfen\nPT 30 min", "Problem: langsam (2)", "Idee: Portal", "LT 2 d", "WT 1 h"]


@st.composite
def layouts(draw: st.DrawFn) -> list[Element]:
    """Two state frames, lane labels, notes in and out of them, vote dots and connectors."""
    elements: list[Element] = [
        Frame("Ist-Zustand: Abo", 2000, 1000, 4000, 2000),
        Frame("Soll", 2000, 4000, 4000, 2000),
        Label("Kunde", 200, 500, parent=0),
        Label("Vertrieb", 200, 1500, parent=0),
    ]
    notes: list[int] = []
    for _ in range(draw(st.integers(0, 14))):
        frame = draw(st.sampled_from([0, 1, None]))
        x = draw(st.integers(5, 35)) * 100
        y = draw(st.integers(2, 17)) * 100 + (3000 if frame == 1 else 0)
        if frame is None:
            x += 6000
        text = draw(st.sampled_from(TEXTS))
        notes.append(len(elements))
        elements.append(Note(text, x, y, draw(st.sampled_from(COLORS)), frame, 200, 200))
    for _ in range(draw(st.integers(0, 4))):
        x, y = draw(st.integers(5, 35)) * 100, draw(st.integers(2, 17)) * 100
        elements.append(Shape("", x, y, "circle", "red", 30, 30))
    if notes:
        for _ in range(draw(st.integers(0, 8))):
            elements.append(Link(draw(st.sampled_from(notes)), draw(st.sampled_from(notes))))
    return elements


def canonical(document: dict[str, Any], item_id: Any) -> Any:
    """The document with provider ids replaced by element indexes and derived ids by their source.

    ``why`` sentences and the warnings' ``message`` and ``fix`` (which name "frame" or "area"),
    the board id and the stats differ by design.
    """
    indexes = {item_id(i): f"e{i}" for i in range(200)}
    # ("board" is the board's own header, "message"/"fix" the warnings' sentences)
    derived: dict[str, str] = {}
    for stream in document["streams"]:
        derived[stream["id"]] = f"stream:{indexes.get(stream['frame_id'], 'board')}"
        for key in ("steps", "problems", "ideas"):
            for entry in stream[key]:
                derived[entry["id"]] = f"{key}:{indexes[entry['source_item_ids'][0]]}"

    def walk(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items() if k not in _PROVIDER_WORDED}
        if isinstance(value, list):
            return [walk(v, key) for v in value]
        if isinstance(value, str):
            return indexes.get(value, derived.get(value, value))
        return value

    return walk(document)


_PROVIDER_WORDED = frozenset({"why", "stats", "board", "message", "fix"})


@settings(max_examples=40, deadline=None)
@given(layouts())
def test_the_same_board_from_miro_and_from_mural_digitizes_the_same(
    elements: list[Element],
) -> None:
    from_miro = digitize(load_dump(to_miro_dump(elements, name="Abo workshop")))
    from_mural = digitize(load_dump(to_mural_dump(elements, title="Abo workshop")))

    assert canonical(from_miro, miro_id) == canonical(from_mural, mural_id)


def test_a_miro_workshop_dump_digitizes_to_ordered_steps_with_problems() -> None:
    elements: list[Element] = [
        Frame("Ist-Zustand: Abo", 2000, 1000, 4000, 2000),
        Note("Artikel lesen", 500, 500, "yellow", 0, 200, 200),
        Note("Abo abschließen\nPT 5 min", 900, 500, "yellow", 0, 200, 200),
        Note("PT 2 min\nLT 1 h", 500, 720, "light_blue", 0, 200, 200),
        Note("Paywall nervt", 900, 760, "red", 0, 200, 200),
        Shape("", 880, 740, "circle", "red", 30, 30),
        Link(1, 2),
    ]

    (stream,) = digitize(load_dump(to_miro_dump(elements)))["streams"]

    assert [(s["order"], s["title"], s["process_time_min"]) for s in stream["steps"]] == [
        (1, "Artikel lesen", 2),
        (2, "Abo abschließen", 5),
    ]
    assert stream["steps"][0]["source_item_ids"] == [miro_id(1), miro_id(3)]
    assert [(p["text"], p["weight"]) for p in stream["problems"]] == [("Paywall nervt", 1)]
