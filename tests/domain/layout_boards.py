"""Test boards laid out the way teams really lay out VSM workshops (issue 11), provider-neutral.

Each function returns the elements of one board (``tests.builders`` layout elements, absolute
centres); ``read`` digitizes it as a Miro or a Mural dump. Stickies are 199 x 228, the typical
size, so rows 260 apart leave a gap of 32, the way people stack stickies.
"""

from __future__ import annotations

from typing import Any

from connectors.dump import load_dump
from service.domain.digitize import digitize
from tests.builders import (
    Card,
    Element,
    Frame,
    Label,
    Link,
    Note,
    Shape,
    to_miro_dump,
    to_mural_dump,
)

PROVIDERS = ("miro", "mural")
ROW = 260  # one sticky row: 228 high plus a gap of 32
COL = 300  # one step column


def read(elements: list[Element], provider: str, name: str = "Workshop") -> dict[str, Any]:
    """The contract v1 document of the board as the provider's dump."""
    if provider == "miro":
        return digitize(load_dump(to_miro_dump(elements, name=name)))
    return digitize(load_dump(to_mural_dump(elements, title=name)))


def stream(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in document["streams"] if s["name"] == name)


def steps_by_title(stream_doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["title"]: step for step in stream_doc["steps"]}


def attached(stream_doc: dict[str, Any], key: str) -> dict[str, str | None]:
    """Problem or idea text -> the title of its step (None: the stream itself)."""
    titles = {step["id"]: step["title"] for step in stream_doc["steps"]}
    return {entry["text"]: titles.get(entry["step_id"]) for entry in stream_doc[key]}


def sideways_times() -> list[Element]:
    """Behaviour 1: the times sticky of "Angebot prüfen" sits a bit right of it, still
    overlapping its column (its centre is over the gap to the next step)."""
    frame = Frame("Ist-Zustand", 800, 600, 1400, 1000)
    return [
        frame,
        Note("Anfrage erfassen", 300, 300, parent=0),
        Note("Angebot prüfen", 300 + COL, 300, parent=0),
        Note("Angebot senden", 300 + 2 * COL, 300, parent=0),
        Note("PT: 10 min\nLT: 1 h", 300, 300 + ROW, "light_blue", parent=0),
        Note("PT: 30 min\nLT: 2 d", 300 + COL + 120, 300 + ROW, "light_blue", parent=0),
        Note("PT: 5 min\nLT: 10 min", 300 + 2 * COL, 300 + ROW, "light_blue", parent=0),
    ]


def column_rows() -> list[Element]:
    """Behaviour 2: step row, data row, problem row, idea row; a second problem stacked under
    the first one of column 1."""
    frame = Frame("Ist-Zustand", 800, 900, 1400, 1600)
    top = 250
    return [
        frame,
        Note("Bestellung erfassen", 300, top, parent=0),
        Note("Bonität prüfen", 300 + COL, top, parent=0),
        Note("Ware versenden", 300 + 2 * COL, top, parent=0),
        Note("PT: 5 min\nLT: 1 h", 300, top + ROW, "light_blue", parent=0),
        Note("PT: 20 min\nLT: 1 d", 300 + COL, top + ROW, "light_blue", parent=0),
        Note("PT: 1 h\nLT: 2 d", 300 + 2 * COL, top + ROW, "light_blue", parent=0),
        Note("Medienbruch Fax", 300, top + 2 * ROW, "red", parent=0),
        Note("Doppelte Erfassung", 300, top + 3 * ROW, "red", parent=0),
        Note("Schufa-Abfrage manuell", 300 + COL, top + 2 * ROW, "red", parent=0),
        Note("Schufa per API", 300 + COL, top + 3 * ROW, "green", parent=0),
        Note("Versand täglich statt wöchentlich", 300 + 2 * COL, top + 2 * ROW, "green", parent=0),
    ]


def lanes_of_different_heights() -> list[Element]:
    """Behaviour 3: a tall customer lane (800 high) over a short sales lane (300 high); the
    lane labels are boxes as tall as their lanes. "Vertrag lesen" sits low in the customer lane,
    below the midpoint between the two labels' centres."""
    return [
        Frame("Ist", 1000, 700, 2000, 1300),
        Shape("Kunde", 150, 500, w=200, h=800, parent=0),
        Shape("Vertrieb", 150, 1050, w=200, h=300, parent=0),
        Note("Angebot anfragen", 450, 300, parent=0),
        Note("Vertrag lesen", 1050, 800, parent=0),
        Note("Angebot erstellen", 750, 1050, parent=0),
        Note("Vertrag senden", 1350, 1050, parent=0),
        Link(3, 5),
        Link(5, 6),
        Link(6, 4),
    ]


def full_width_bands() -> list[Element]:
    """Behaviour 4: two long rectangles across the frame with the lane name inside; the steps
    stand on them."""
    return [
        Frame("Current state", 1200, 600, 2400, 1000),
        Shape("Customer", 1200, 350, w=2200, h=400, color="light_yellow", parent=0),
        Shape("Back office", 1200, 800, w=2200, h=400, color="light_blue", parent=0),
        Note("Submit claim", 500, 350, parent=0),
        Note("Check claim", 900, 800, parent=0),
        Note("Pay out", 1300, 800, parent=0),
        Note("Receive money", 1700, 350, parent=0),
        Link(3, 4),
        Link(4, 5),
        Link(5, 6),
    ]


def column_lanes() -> list[Element]:
    """Behaviour 4: a flow from top to bottom with one column per role, headed on top."""
    return [
        Frame("Ist-Zustand", 600, 900, 1200, 1800),
        Label("Kunde", 300, 150, w=250, parent=0),
        Label("Sachbearbeitung", 800, 150, w=250, parent=0),
        Note("Antrag stellen", 300, 450, parent=0),
        Note("Antrag prüfen", 800, 750, parent=0),
        Note("Rückfrage beantworten", 300, 1050, parent=0),
        Note("Bescheid erstellen", 800, 1350, parent=0),
        Link(3, 4),
        Link(4, 5),
        Link(5, 6),
    ]


def row_headings() -> list[Element]:
    """Behaviour 4: headings at the left edge name the rows, not lanes."""
    frame = Frame("Ist-Zustand", 900, 800, 1800, 1400)
    top = 250
    return [
        frame,
        Label("Prozessschritte", 200, top, w=250, parent=0),
        Label("Daten", 200, top + ROW, w=250, parent=0),
        Label("Probleme:", 200, top + 2 * ROW, w=250, parent=0),
        Label("Ideas", 200, top + 3 * ROW, w=250, parent=0),
        Note("Termin anfragen", 600, top, parent=0),
        Note("Termin bestätigen", 600 + COL, top, parent=0),
        Note("PT: 2 min\nLT: 1 d", 600, top + ROW, "light_blue", parent=0),
        Note("Rückruf dauert", 600 + COL, top + 2 * ROW, "red", parent=0),
    ]


def frames_without_flow() -> list[Element]:
    """Behaviour 5: Agenda, Parking Lot, Check-in and Questions frames beside the current
    state; the agenda items are yellow stickies."""
    return [
        Frame("Agenda", 500, -900, 900, 800),
        Note("Begrüßung", 300, -1000, parent=0),
        Note("Ist-Zustand mappen", 600, -1000, parent=0),
        Note("Soll-Zustand", 300, -700, parent=0),
        Frame("Parking Lot", 1600, -900, 900, 800),
        Note("Budget klären", 1600, -900, parent=4),
        Frame("Check-in: Wie geht's?", 2700, -900, 900, 800),
        Note("Gut!", 2700, -900, parent=6),
        Frame("Questions", 3800, -900, 900, 800),
        Note("Who owns billing?", 3800, -900, "orange", parent=8),
        Frame("Ist-Zustand", 1000, 600, 2000, 1000),
        Note("Anfrage erfassen", 500, 600, parent=10),
        Note("Angebot senden", 900, 600, parent=10),
    ]


def legend_and_state_words() -> list[Element]:
    """Behaviour 6: a 'Farblegende' saying orange means problem, 'Heute' and 'Morgen' frames."""
    return [
        Frame("Farblegende", 300, -700, 600, 500),
        Note("Problem", 200, -700, "orange", parent=0),
        Note("Prozessschritt", 420, -700, "yellow", parent=0),
        Frame("Heute", 1000, 500, 1800, 800),
        Note("Formular ausfüllen\nLT: 2 d", 400, 500, parent=3),
        Note("Formular prüfen\nLT: 3 d", 800, 500, parent=3),
        Note("Formular kommt unvollständig", 800, 760, "orange", parent=3),
        Frame("Morgen", 1000, 1600, 1800, 800),
        Note("Online-Formular\nLT: 1 h", 400, 1600, parent=7),
        Note("Formular prüfen\nLT: 1 d", 800, 1600, parent=7),
    ]


def vsm_template() -> list[Element]:
    """Behaviour 7: a board drawn as Miro's (and Lucid's) VSM template draws one: supplier,
    production control and customer boxes on top, process boxes with data boxes under them,
    inventory triangles between them, a kaizen burst and a timeline ladder at the bottom."""
    boxes_y, data_y, ladder_y = 600, 850, 1200
    return [
        Frame("Current State Map", 1400, 650, 2800, 1500),
        Shape("Lieferant", 400, 150, w=300, h=150, parent=0),
        Shape("Produktionssteuerung", 1400, 150, w=300, h=150, parent=0),
        Shape("Kunde", 2400, 150, w=300, h=150, parent=0),
        Shape("Zuschnitt", 600, boxes_y, w=300, h=150, parent=0),
        Shape("Schweißen", 1400, boxes_y, w=300, h=150, parent=0),
        Shape("Montage", 2200, boxes_y, w=300, h=150, parent=0),
        Shape("C/T = 45 s\nC/O = 30 min\nUptime 85 %", 600, data_y, w=300, h=250, parent=0),
        Shape("C/T = 2 min\nC/O = 1 h\nOperators: 2", 1400, data_y, w=300, h=250, parent=0),
        Shape("C/T = 5 min\nUptime 95 %", 2200, data_y, w=300, h=250, parent=0),
        Shape("I\n300 Stk\n2 days", 1000, boxes_y, "triangle", w=150, h=130, parent=0),
        Shape("I\n120 Stk\n1 day", 1800, boxes_y, "triangle", w=150, h=130, parent=0),
        Shape("Rüstzeit halbieren", 1550, 420, "star", w=180, h=140, parent=0),
        Label("2 days", 1000, ladder_y, w=150, parent=0),
        Label("45 s", 600, ladder_y + 80, w=150, parent=0),
        Label("2 min", 1400, ladder_y + 80, w=150, parent=0),
        Label("5 min", 2200, ladder_y + 80, w=150, parent=0),
    ]


def cards_board() -> list[Element]:
    """Behaviour 8 (Miro only: Mural has no cards): steps written on cards, times in the
    descriptions; one card tagged Step."""
    return [
        Frame("Ist-Zustand", 900, 500, 1800, 900),
        Card("Antrag stellen", 400, 300, "PT: 10 min\nLT: 1 d", parent=0),
        Card("Antrag prüfen", 800, 300, "Sachbearbeitung\nPT: 30 min\nLT: 3 d", parent=0),
        Card("Bescheid senden", 1200, 300, "PT 5 min / LT 1 h", parent=0, tags=("Step",)),
        Note("Unterlagen fehlen oft", 800, 550, "red", parent=0),
    ]


def plain_lines() -> list[Element]:
    """Behaviour 9: steps joined by lines without arrowheads, two drawn right to left, one line
    with heads at both ends; each step 1 d lead time."""
    return [
        Frame("Ist-Zustand", 1000, 400, 2200, 700),
        Note("Auftrag annehmen\nLT: 1 d", 300, 400, parent=0),
        Note("Material bestellen\nLT: 1 d", 700, 400, parent=0),
        Note("Fertigen\nLT: 1 d", 1100, 400, parent=0),
        Note("Prüfen\nLT: 1 d", 1500, 400, parent=0),
        Note("Ausliefern\nLT: 1 d", 1900, 400, parent=0),
        Link(2, 1, heads="none"),
        Link(2, 3, heads="none"),
        Link(4, 3, heads="both"),
        Link(5, 4, heads="none"),
    ]


def arrow_against_the_layout() -> list[Element]:
    """Behaviour 9: where arrowheads are drawn, they decide, even right to left."""
    return [
        Frame("Ist-Zustand", 800, 400, 1600, 700),
        Note("Rechnung buchen", 300, 400, parent=0),
        Note("Rechnung empfangen", 700, 400, parent=0),
        Note("Rechnung zahlen", 1100, 400, parent=0),
        Link(2, 1),
        Link(1, 3, heads="none"),
    ]


def handwritten_times() -> list[Element]:
    """Behaviour 10: times as people write them on data stickies, and a step whose times are
    only on the timeline ladder under the steps."""
    return [
        Frame("Ist-Zustand", 900, 600, 1800, 1200),
        Note("Anruf annehmen", 300, 300, parent=0),
        Note("Fall anlegen", 300 + COL, 300, parent=0),
        Note("Freigabe holen", 300 + 2 * COL, 300, "orange", parent=0),
        Note("Rückruf", 300 + 3 * COL, 300, parent=0),
        Note("BZ ca. 20 min\nDLZ ~1 h", 300, 300 + ROW, "light_blue", parent=0),
        Note("BZ:\n½ Std.\nDLZ:\n3 Arbeitstage", 300 + COL, 300 + ROW, "light_blue", parent=0),
        Note("WZ 2 Tg.", 300 + 2 * COL, 300 + ROW, "light_blue", parent=0),
        # the ladder: waiting between the steps above the line, process time under the step
        Label("1 d", 300 + 3 * COL - COL // 2, 950, w=100, parent=0),
        Label("10 min", 300 + 3 * COL, 1030, w=100, parent=0),
    ]


def empty_of_steps() -> list[Element]:
    """Never silent: a frame with only violet stickies and a row of labelled shapes."""
    return [
        Frame("Ist-Zustand", 900, 500, 1800, 900),
        *(
            Shape(f"Hinweis {i}", 300 + 250 * i, 900, "hexagon", w=200, h=100, parent=0)
            for i in range(6)
        ),
        Note("Anna, 34", 300, 300, "violet", parent=0),
    ]
