"""Dumps for the service tests: a value stream of N connected steps, optionally with problems."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from testkit.builders import Element, Frame, Link, Note, to_miro_dump, to_mural_dump

STEP_GAP = 300.0


def stream_dump(
    steps: int = 3,
    *,
    board_id: str = "uXjVsvc001=",
    name: str = "Service board",
    title: str = "Ist-Zustand",
    problems: Sequence[tuple[int, str]] = (),
    provider: str = "miro",
    step_text: str = "Schritt {n}",
) -> dict[str, Any]:
    """One frame titled ``title`` holding ``steps`` yellow stickies joined left to right;
    ``problems`` are ``(step index, text)`` red stickies just below their step."""
    width = STEP_GAP * (steps + 2)
    elements: list[Element] = [Frame(title, width / 2, 0.0, w=width, h=1200.0)]
    for n in range(steps):
        elements.append(Note(step_text.format(n=n + 1), STEP_GAP * (n + 1), -200.0, parent=0))
    for n in range(steps - 1):
        elements.append(Link(n + 1, n + 2))
    for step, text in problems:
        elements.append(Note(text, STEP_GAP * (step + 1), 100.0, color="red", parent=0))
    if provider == "mural":
        return to_mural_dump(elements, mural_id=board_id, title=name)
    return to_miro_dump(elements, board_id=board_id, name=name)
