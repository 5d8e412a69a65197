"""Write the example board dumps in this folder: two Miro and one Mural workshop.

The boards are laid out in absolute canvas coordinates (item centres, y down) and written in each
provider's own shape: Miro frame children as centres relative to the frame's top-left, Mural area
children as top-left corners relative to the area's top-left. Ids, timestamps and users are
generated from fixed seeds, so running this again gives byte-identical files:

    .venv/bin/python examples/make_examples.py
"""

from __future__ import annotations

import html
import itertools
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

Json = dict[str, Any]
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Box:
    """Absolute centre and size of a container, to turn absolute positions into relative ones."""

    x: float
    y: float
    w: float
    h: float

    @property
    def left(self) -> float:
        return self.x - self.w / 2

    @property
    def top(self) -> float:
        return self.y - self.h / 2


def _p(*lines: str) -> str:
    """Plain lines as Miro sticky HTML: one ``<p>`` per line, text escaped."""
    return "".join(f"<p>{html.escape(line, quote=False)}</p>" for line in lines)


# --------------------------------------------------------------------------- Miro


class MiroBoard:
    """Collects Miro REST v2 objects (items, connectors, tags) for one board."""

    def __init__(self, board_id: str, seed: int, start: datetime) -> None:
        self.board_id = board_id
        self.rng = random.Random(seed)  # noqa: S311 - fixed seed for reproducible files
        self.clock = start
        self.next_id = 3458764612904331000
        self.items: list[Json] = []
        self.connectors: list[Json] = []
        self.tags: list[Json] = []
        self.item_tags: dict[str, list[str]] = {}
        self.boxes: dict[str, Box] = {}
        self.users = ["3458764599214370001", "3458764599214370077", "3458764599214370123"]

    def _id(self) -> str:
        self.next_id += self.rng.randint(900, 60000)
        return str(self.next_id)

    def _stamp(self) -> str:
        self.clock += timedelta(seconds=self.rng.randint(4, 95))
        return self.clock.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _link(self, kind: str, item_id: str) -> str:
        return f"https://api.miro.com/v2/boards/{quote(self.board_id, safe='')}/{kind}/{item_id}"

    def _item(
        self,
        kind: str,
        type_: str,
        x: float,
        y: float,
        w: float | None,
        h: float | None,
        data: Json,
        style: Json,
        parent: str | None,
    ) -> str:
        item_id = self._id()
        if parent is None:
            position = {"x": x, "y": y, "origin": "center", "relativeTo": "canvas_center"}
        else:
            box = self.boxes[parent]
            position = {
                "x": round(x - box.left, 2),
                "y": round(y - box.top, 2),
                "origin": "center",
                "relativeTo": "parent_top_left",
            }
        geometry: Json = {}
        if w is not None:
            geometry["width"] = w
        if h is not None:
            geometry["height"] = h
        created = self._stamp()
        author = self.rng.choice(self.users)
        item: Json = {
            "id": item_id,
            "type": type_,
            "data": data,
            "style": style,
            "position": position,
            "geometry": geometry,
            "createdAt": created,
            "createdBy": {"id": author, "type": "user"},
            "modifiedAt": created,
            "modifiedBy": {"id": author, "type": "user"},
            "links": {"self": self._link(kind, item_id)},
        }
        if parent is not None:
            item["parent"] = {"id": parent, "links": {"self": self._link("frames", parent)}}
        self.items.append(item)
        return item_id

    def frame(self, title: str, x: float, y: float, w: float, h: float) -> str:
        frame_id = self._item(
            "frames",
            "frame",
            x,
            y,
            w,
            h,
            {"title": title, "format": "custom", "type": "freeform", "showContent": True},
            {"fillColor": "#ffffffff"},
            None,
        )
        self.boxes[frame_id] = Box(x, y, w, h)
        self.items[-1]["links"]["related"] = (
            f"https://api.miro.com/v2/boards/{quote(self.board_id, safe='')}/items"
            f"?parent_item_id={frame_id}&limit=10&cursor="
        )
        return frame_id

    def sticky(
        self,
        content: str,
        x: float,
        y: float,
        color: str,
        parent: str | None = None,
        *,
        shape: str = "square",
    ) -> str:
        """A sticky note; ``content`` is Miro's HTML (use ``_p`` for plain lines)."""
        w = 199.0 if shape == "square" else 350.0
        return self._item(
            "sticky_notes",
            "sticky_note",
            x,
            y,
            w,
            228.0,
            {"content": content, "shape": shape},
            {"fillColor": color, "textAlign": "center", "textAlignVertical": "top"},
            parent,
        )

    def dot(self, x: float, y: float, parent: str | None) -> str:
        """A vote dot as facilitators place them: a small filled circle shape."""
        return self._item(
            "shapes",
            "shape",
            x,
            y,
            28.0,
            28.0,
            {"content": "", "shape": "circle"},
            {
                "fillColor": "#4262ff",
                "fillOpacity": "1.0",
                "borderColor": "#4262ff",
                "borderOpacity": "1.0",
                "borderStyle": "normal",
                "borderWidth": "2.0",
                "color": "#1a1a1a",
                "fontFamily": "open_sans",
                "fontSize": "14",
                "textAlign": "center",
                "textAlignVertical": "middle",
            },
            parent,
        )

    def text(self, content: str, x: float, y: float, w: float, parent: str | None = None) -> str:
        return self._item(
            "texts",
            "text",
            x,
            y,
            w,
            None,
            {"content": content},
            {
                "color": "#1a1a1a",
                "fillColor": "transparent",
                "fillOpacity": "1.0",
                "fontFamily": "open_sans",
                "fontSize": "48",
                "textAlign": "left",
            },
            parent,
        )

    def shape(
        self,
        lines: tuple[str, ...],
        x: float,
        y: float,
        w: float,
        h: float,
        parent: str | None = None,
        *,
        shape: str = "rectangle",
        fill: str = "#ffffff",
    ) -> str:
        """A shape with text, drawn as the VSM template draws its boxes (black border)."""
        return self._item(
            "shapes",
            "shape",
            x,
            y,
            w,
            h,
            {"content": _p(*lines), "shape": shape},
            {
                "fillColor": fill,
                "fillOpacity": "1.0",
                "borderColor": "#1a1a1a",
                "borderOpacity": "1.0",
                "borderStyle": "normal",
                "borderWidth": "2.0",
                "color": "#1a1a1a",
                "fontFamily": "open_sans",
                "fontSize": "14",
                "textAlign": "center",
                "textAlignVertical": "middle",
            },
            parent,
        )

    def connect(
        self, start: str, end: str, *, shape: str = "elbowed", end_cap: str = "stealth"
    ) -> str:
        connector_id = self._id()
        stamp = self._stamp()
        author = self.rng.choice(self.users)
        self.connectors.append(
            {
                "id": connector_id,
                "type": "connector",
                "shape": shape,
                "isSupported": True,
                "startItem": {
                    "id": start,
                    "position": {"x": "100%", "y": "50%"},
                    "links": {"self": self._link("items", start)},
                },
                "endItem": {
                    "id": end,
                    "position": {"x": "0%", "y": "50%"},
                    "links": {"self": self._link("items", end)},
                },
                "style": {
                    "startStrokeCap": "none",
                    "endStrokeCap": end_cap,
                    "strokeColor": "#1a1a1a",
                    "strokeStyle": "normal",
                    "strokeWidth": "2.0",
                    "color": "#1a1a1a",
                    "fontSize": "14",
                    "textOrientation": "horizontal",
                },
                "createdAt": stamp,
                "createdBy": {"id": author, "type": "user"},
                "modifiedAt": stamp,
                "modifiedBy": {"id": author, "type": "user"},
                "links": {"self": self._link("connectors", connector_id)},
            }
        )
        return connector_id

    def tag(self, title: str, color: str) -> str:
        tag_id = str(3458764599305000000 + self.rng.randint(10000, 99999))
        self.tags.append({"id": tag_id, "title": title, "fillColor": color, "type": "tag"})
        return tag_id

    def attach(self, item_id: str, tag_id: str) -> None:
        self.item_tags.setdefault(item_id, []).append(tag_id)

    def dump(self, board: Json) -> Json:
        items = list(self.items)
        # The items listing has no documented order; shuffling keeps readers order-independent.
        random.Random(7).shuffle(items)  # noqa: S311
        return {
            "provider": "miro",
            "board": board,
            "items": items,
            "connectors": self.connectors,
            "tags": self.tags,
            "item_tags": self.item_tags,
        }


def _abo_setting(b: MiroBoard, heading: str) -> None:
    """The Digital-Abo board around its streams: title, legend, persona, participants.

    Both workshops of the board draw it first, so the items after it (the Ist-Zustand frame
    among them) get the same ids in both: the board was edited, not drawn anew.
    """
    b.text(_p(heading), 1350, -880, 2200)

    # The legend: one sticky per colour, naming its role.
    legend = b.frame("Legende", 700, -520, 1500, 360)
    for i, (word, color) in enumerate(
        [
            ("Prozessschritt", "yellow"),
            ("Problem", "red"),
            ("Idee", "green"),
            ("Daten", "light_blue"),
            ("Wartezeit", "orange"),
            ("Persona", "violet"),
        ]
    ):
        b.sticky(_p(word), 100 + 240 * i, -500, color, legend)

    b.sticky(_p("Persona: Lena, 34, liest täglich mobil"), -380, 700, "violet")
    b.sticky(
        _p("Teilnehmende: Vertrieb, Produkt, IT, Kundenservice, Marketing"), -380, 1000, "gray"
    )


def miro_abo_workshop() -> Json:
    """Allied Medien AG, Digital-Abo: the customer journey from the article to the first issue."""
    board_id = "uXjVN4pQ2kE="
    b = MiroBoard(board_id, seed=20261112, start=datetime(2026, 11, 12, 8, 47, 5, tzinfo=UTC))

    _abo_setting(b, "VSM-Workshop Digital-Abo · Allied Medien AG · 12.11.2026")

    # Current state: 8 steps from the customer's point of view, left to right, all connected.
    ist = b.frame("Ist-Zustand", 1350, 750, 2700, 1500)
    step_y, problem_y, data_y, upper_y = 700.0, 440.0, 960.0, 180.0

    def step_x(i: int) -> float:
        return 250.0 + 300.0 * i

    steps = [
        b.sticky(_p("Artikel entdecken"), step_x(0), step_y, "yellow", ist),
        b.sticky("<p><strong>Paywall sehen</strong></p>", step_x(1), step_y, "yellow", ist),
        b.sticky(_p("Abo-Angebot vergleichen"), step_x(2), step_y, "yellow", ist),
        b.sticky(_p("Registrieren"), step_x(3), step_y, "yellow", ist),
        b.sticky(_p("Zahlungsdaten eingeben"), step_x(4), step_y, "yellow", ist),
        b.sticky(_p("Bestätigungs-E-Mail abwarten"), step_x(5), step_y, "orange", ist),
        # Times written on the step sticky itself instead of a data sticky.
        b.sticky(
            _p("Konto aktivieren", "BZ: 2 min", "DLZ: 1 T", "%C&A: 85"),
            step_x(6),
            step_y,
            "yellow",
            ist,
        ),
        b.sticky(_p("Erste Ausgabe lesen"), step_x(7), step_y, "yellow", ist),
    ]
    for start, end in itertools.pairwise(steps):
        b.connect(start, end)

    data = {
        0: ("BZ: 3 min", "DLZ: 1 Std", "%C&A: 95"),
        1: ("BZ: 1 min", "DLZ: 5 min", "%C&A: 60"),
        2: ("BZ: 15 min", "DLZ: 2 T", "%C&A: 70"),
        3: ("BZ: 8 min", "DLZ: 30 min", "%C&A: 75"),
        4: ("BZ: 6,5 min", "DLZ: 1 Std", "%C&A: 80"),
        5: ("WZ: 2-6 Std", "DLZ: 4 Std"),
        7: ("BZ: 20 min", "DLZ: 20 min", "%C&A: 90"),
    }
    for i, lines in data.items():
        b.sticky(_p(*lines), step_x(i), data_y, "light_blue", ist)

    def problem(i: int, content: str, votes: int, color: str = "red") -> str:
        sticky = b.sticky(content, step_x(i), problem_y, color, ist)
        for k in range(votes):
            b.dot(step_x(i) - 60 + 30 * k, problem_y + 80, ist)
        return sticky

    problem(1, _p("Paywall verdeckt den Artikel, Preis erst nach zwei Klicks sichtbar"), 4)
    problem(2, _p("Sieben Abo-Varianten, Unterschiede unklar"), 1)
    # A yellow sticky made a problem by its tag, not by its colour.
    tagged = problem(3, _p("Passwortregeln erst nach dem Absenden sichtbar"), 2, "yellow")
    b.attach(tagged, b.tag("Problem", "red"))
    problem(4, _p("Zahlungsseite lädt langsam, Abbrüche bei PayPal (3)"), 0)
    problem(5, _p("Bestätigungs-E-Mail landet oft im Spam-Ordner"), 5)
    problem(7, _p("App zeigt nach dem Login wieder die Paywall ●●"), 0)

    b.sticky(_p("Personalisierte Empfehlungen im Newsletter"), step_x(0), problem_y, "green", ist)
    b.sticky(_p("Idee: Magic Link statt Passwort"), step_x(6), problem_y, "light_yellow", ist)
    wallet = b.sticky(_p("Apple Pay und Google Pay anbieten"), step_x(5), upper_y, "green", ist)
    b.connect(wallet, steps[4], shape="curved")
    b.attach(wallet, b.tag("Quick Win", "green"))
    b.sticky(_p("Ein Abo für Web, App und E-Paper"), 2450, 1330, "green", ist)

    # Target state: 5 steps, no connectors (ordered left to right).
    soll = b.frame("Soll-Zustand", 950, 2300, 1900, 1000)
    soll_y, soll_data_y = 2150.0, 2410.0
    target = [
        ("Artikel entdecken", ("BZ: 3 min", "DLZ: 1 Std", "%C&A: 95")),
        ("Paywall sehen", ("BZ: 1 min", "DLZ: 2 min", "%C&A: 90")),
        ("Abo-Angebot vergleichen", ("BZ: 5 min", "DLZ: 30 min", "%C&A: 90")),
        ("Mit Apple Pay oder Google Pay bezahlen", ("BZ: 1 min", "DLZ: 2 min", "%C&A: 95")),
        ("Erste Ausgabe lesen", ("BZ: 20 min", "DLZ: 20 min", "%C&A: 95")),
    ]
    for i, (title, lines) in enumerate(target):
        x = 250.0 + 350.0 * i
        b.sticky(_p(title), x, soll_y, "yellow", soll)
        b.sticky(_p(*lines), x, soll_data_y, "light_blue", soll)

    board = {
        "id": board_id,
        "type": "board",
        "name": "Allied Medien AG – VSM Digital-Abo",  # noqa: RUF001
        "description": "Wertstromanalyse Digital-Abo aus Kundensicht: Ist- und Soll-Zustand.",
        "viewLink": f"https://miro.com/app/board/{board_id}",
        "team": {"id": "3458764599214300099", "name": "Allied Medien Produkt", "type": "team"},
        "project": {"id": "3458764599214355501"},
        "owner": {"id": b.users[0], "name": "Sabine Krüger", "type": "user"},
        "createdBy": {"id": b.users[0], "name": "Sabine Krüger", "type": "user"},
        "modifiedBy": {"id": b.users[1], "name": "Jonas Weber", "type": "user"},
        "createdAt": "2026-11-10T16:02:41Z",
        "modifiedAt": b._stamp(),
        "lastOpenedAt": "2026-11-13T07:58:12Z",
        "lastOpenedBy": {"id": b.users[0], "name": "Sabine Krüger", "type": "user"},
        "currentUserMembership": {
            "id": b.users[0],
            "name": "Sabine Krüger",
            "role": "owner",
            "type": "board_member",
        },
        "policy": {
            "permissionsPolicy": {
                "collaborationToolsStartAccess": "all_editors",
                "copyAccess": "anyone",
                "sharingAccess": "team_members_with_editing_rights",
            },
            "sharingPolicy": {
                "access": "private",
                "inviteToAccountAndBoardLinkAccess": "no_access",
                "organizationAccess": "private",
                "teamAccess": "edit",
            },
        },
        "links": {
            "self": f"https://api.miro.com/v2/boards/{quote(board_id, safe='')}",
            "related": (
                f"https://api.miro.com/v2/boards/{quote(board_id, safe='')}"
                "/members?limit=20&offset=0"
            ),
        },
    }
    return b.dump(board)


def miro_abo_workshop_march() -> Json:
    """The same Digital-Abo board at the follow-up workshop in March, after the first round of
    improvements: Apple Pay and Google Pay replaced the payment form, the offer page was cut to
    three variants. The Ist-Zustand frame is the same frame (followed by its frame); the target
    state was redrawn in a new frame (followed by its title). Two steps now share one problem,
    e-mails landing in the spam folder, so it shows among the recurring problems."""
    board_id = "uXjVN4pQ2kE="
    b = MiroBoard(board_id, seed=20261112, start=datetime(2027, 3, 5, 8, 31, 40, tzinfo=UTC))
    _abo_setting(b, "VSM-Workshop Digital-Abo · Allied Medien AG · 05.03.2027 (Folgeworkshop)")

    ist = b.frame("Ist-Zustand", 1350, 750, 2700, 1500)
    step_y, problem_y, data_y = 700.0, 440.0, 960.0

    def step_x(i: int) -> float:
        return 250.0 + 330.0 * i

    titles = [
        ("Artikel entdecken", "yellow", ("BZ: 3 min", "DLZ: 1 Std", "%C&A: 95")),
        ("Paywall sehen", "yellow", ("BZ: 1 min", "DLZ: 3 min", "%C&A: 85")),
        ("Abo-Angebot vergleichen", "yellow", ("BZ: 8 min", "DLZ: 4 Std", "%C&A: 85")),
        ("Registrieren", "yellow", ("BZ: 5 min", "DLZ: 15 min", "%C&A: 80")),
        (
            "Mit Apple Pay oder Google Pay bezahlen",
            "yellow",
            ("BZ: 1 min", "DLZ: 5 min", "%C&A: 95"),
        ),
        ("Bestätigungs-E-Mail abwarten", "orange", ("WZ: 1-3 Std", "DLZ: 2 Std")),
        ("Erste Ausgabe lesen", "yellow", ("BZ: 20 min", "DLZ: 20 min", "%C&A: 90")),
    ]
    steps = []
    for i, (title, color, lines) in enumerate(titles):
        steps.append(b.sticky(_p(title), step_x(i), step_y, color, ist))
        b.sticky(_p(*lines), step_x(i), data_y, "light_blue", ist)
    for start, end in itertools.pairwise(steps):
        b.connect(start, end)

    def problem(i: int, content: str, votes: int) -> None:
        b.sticky(_p(content), step_x(i), problem_y, "red", ist)
        for k in range(votes):
            b.dot(step_x(i) - 60 + 30 * k, problem_y + 80, ist)

    problem(2, "Drei Varianten, Jahresabo trotzdem schwer zu finden", 1)
    problem(3, "Passwortregeln erst nach dem Absenden sichtbar", 2)
    problem(5, "Bestätigungs-E-Mail landet immer noch im Spam-Ordner", 4)
    problem(6, "Rechnungs-E-Mail landet im Spam-Ordner", 2)
    b.sticky(_p("Idee: Magic Link statt Passwort"), step_x(3), 180.0, "green", ist)

    # The target state, redrawn in a new frame with the next round's goals.
    soll = b.frame("Soll-Zustand", 950, 2300, 1900, 1000)
    soll_y, soll_data_y = 2150.0, 2410.0
    target = [
        ("Artikel entdecken", ("BZ: 3 min", "DLZ: 1 Std", "%C&A: 95")),
        ("Paywall sehen", ("BZ: 1 min", "DLZ: 2 min", "%C&A: 90")),
        ("Abo-Angebot vergleichen", ("BZ: 5 min", "DLZ: 30 min", "%C&A: 90")),
        ("Mit Magic Link anmelden und bezahlen", ("BZ: 2 min", "DLZ: 5 min", "%C&A: 95")),
        ("Erste Ausgabe lesen", ("BZ: 20 min", "DLZ: 20 min", "%C&A: 95")),
    ]
    for i, (title, lines) in enumerate(target):
        x = 250.0 + 350.0 * i
        b.sticky(_p(title), x, soll_y, "yellow", soll)
        b.sticky(_p(*lines), x, soll_data_y, "light_blue", soll)

    board = {
        **miro_abo_workshop()["board"],
        "description": "Folgeworkshop Digital-Abo: Ist-Zustand nach den ersten Maßnahmen.",
        "modifiedAt": "2027-03-05T15:41:09Z",
        "lastOpenedAt": "2027-03-06T08:12:44Z",
    }
    return b.dump(board)


# --------------------------------------------------------------------------- Mural


class Mural:
    """Collects Mural widgets (and tags) for one mural."""

    def __init__(self, seed: int, start_ms: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - fixed seed for reproducible files
        self.clock = start_ms
        self.widgets: list[Json] = []
        self.tags: list[Json] = []
        self.boxes: dict[str, Box] = {}
        self.users = [
            {"id": "u4f2a91c0", "firstName": "Priya", "lastName": "Raman"},
            {"id": "u7b13e5d2", "firstName": "Tom", "lastName": "Becker"},
            {"id": "u9c55a0e7", "firstName": "Lucía", "lastName": "Ortega"},
        ]
        self.order = 0

    def _id(self) -> str:
        self.clock += self.rng.randint(900, 45000)
        return f"0-{self.clock}"

    def _widget(
        self,
        type_: str,
        x: float,
        y: float,
        w: float,
        h: float,
        parent: str | None,
        fields: Json,
    ) -> str:
        """``x``/``y`` are the absolute centre; Mural stores the top-left relative to the parent."""
        widget_id = self._id()
        created = self.clock
        edited = created + self.rng.randint(2000, 240000)
        user = self.rng.choice(self.users)
        left, top = x - w / 2, y - h / 2
        if parent is not None:
            box = self.boxes[parent]
            left -= box.left
            top -= box.top
        self.order += 1
        widget: Json = {
            "id": widget_id,
            "type": type_,
            "x": round(left, 2),
            "y": round(top, 2),
            "width": w,
            "height": h,
            "rotation": 0,
            "parentId": parent,
            "hidden": False,
            "invisible": False,
            "locked": False,
            "lockedByFacilitator": False,
            "stackingOrder": self.order,
            "presentationIndex": -1,
            "title": "",
            "instruction": "",
            "hideOwner": False,
            "hideEditor": False,
            "createdOn": created,
            "createdBy": user,
            "updatedOn": edited,
            "updatedBy": user,
            "contentEditedOn": edited,
            "contentEditedBy": user,
        }
        widget.update(fields)
        self.widgets.append(widget)
        return widget_id

    def area(
        self, title: str, x: float, y: float, w: float, h: float, parent: str | None = None
    ) -> str:
        area_id = self._widget(
            "area",
            x,
            y,
            w,
            h,
            parent,
            {
                "title": title,
                "showTitle": True,
                "layout": "free",
                "style": {
                    "backgroundColor": "#FFFFFFFF",
                    "borderColor": "#EAEAEAFF",
                    "borderStyle": "solid",
                    "borderWidth": 3,
                    "titleFontSize": 36,
                },
            },
        )
        self.boxes[area_id] = Box(x, y, w, h)
        return area_id

    def sticky(
        self,
        html_text: str,
        x: float,
        y: float,
        color: str,
        parent: str | None = None,
        *,
        tags: tuple[str, ...] = (),
    ) -> str:
        """A sticky as UI edits leave it: ``text`` empty, content in ``htmlText``."""
        return self._widget(
            "sticky note",
            x,
            y,
            168.0,
            168.0,
            parent,
            {
                "text": "",
                "htmlText": html_text,
                "shape": "rectangle",
                "minLines": 3,
                "hyperlink": "",
                "hyperlinkTitle": "",
                "tags": list(tags),
                "style": {
                    "backgroundColor": color,
                    "bold": False,
                    "italic": False,
                    "underline": False,
                    "strike": False,
                    "border": False,
                    "font": "proxima-nova",
                    "fontSize": 23,
                    "textAlign": "center",
                },
            },
        )

    def label(
        self, html_text: str, x: float, y: float, parent: str | None, *, w: float = 180.0
    ) -> str:
        return self._widget(
            "text",
            x,
            y,
            w,
            60.0,
            parent,
            {
                "text": html_text,
                "fixedWidth": True,
                "hyperlink": "",
                "hyperlinkTitle": "",
                "style": {
                    "backgroundColor": "#FFFFFF00",
                    "font": "proxima-nova",
                    "fontSize": 36,
                    "textAlign": "left",
                },
            },
        )

    def dot(self, x: float, y: float, parent: str | None) -> str:
        return self._widget(
            "shape",
            x,
            y,
            30.0,
            30.0,
            parent,
            {
                "shape": "circle",
                "text": "",
                "htmlText": "",
                "style": {
                    "backgroundColor": "#414BB2FF",
                    "borderColor": "#414BB2FF",
                    "borderStyle": "solid",
                    "borderWidth": 1,
                    "bold": False,
                    "italic": False,
                    "underline": False,
                    "strike": False,
                    "font": "proxima-nova",
                    "fontColor": "#FFFFFFFF",
                    "fontSize": 12,
                    "textAlign": "center",
                },
            },
        )

    def arrow(self, start: str, end: str, parent: str) -> str:
        """An arrow from the right edge of ``start`` to the left edge of ``end`` (same parent)."""
        by_id = {w["id"]: w for w in self.widgets}
        a, z = by_id[start], by_id[end]
        x1, y1 = a["x"] + a["width"], a["y"] + a["height"] / 2
        x2, y2 = z["x"], z["y"] + z["height"] / 2
        left, top = min(x1, x2), min(y1, y2)
        box = self.boxes[parent]
        return self._widget(
            "arrow",
            box.left + left + abs(x2 - x1) / 2,
            box.top + top + abs(y2 - y1) / 2,
            round(abs(x2 - x1), 2),
            round(abs(y2 - y1), 2),
            parent,
            {
                "arrowType": "orthogonal" if y1 != y2 else "straight",
                "tip": "single",
                "startRefId": start,
                "endRefId": end,
                "points": [
                    {"x": round(x1 - left, 2), "y": round(y1 - top, 2)},
                    {"x": round(x2 - left, 2), "y": round(y2 - top, 2)},
                ],
                "stackable": True,
                "style": {"strokeColor": "#1F1F1FFF", "strokeStyle": "solid", "strokeWidth": 3},
            },
        )

    def tag(self, tag_id: str, text: str, background: str, border: str) -> str:
        self.tags.append(
            {
                "id": tag_id,
                "text": text,
                "backgroundColor": background,
                "borderColor": border,
                "color": "#1F1F1FFF",
            }
        )
        return tag_id


def _div(*lines: str, bold: bool = False) -> str:
    """Plain lines as Mural ``htmlText``: ``<html v="1"><div>…</div></html>``."""
    body = "".join(
        f"<div><b>{html.escape(line, quote=False)}</b></div>"
        if bold
        else f"<div>{html.escape(line, quote=False)}</div>"
        for line in lines
    )
    return f'<html v="1">{body}</html>'


STEP = "#FCFE7DFF"  # Mural's default sticky yellow
WAIT = "#FF9D48FF"
PROBLEM = "#FCB6D4FF"
IDEA = "#C7FE80FF"
DATA = "#9BEDFDFF"
PERSONA = "#F36DFFFF"
NOTE = "#E6E6E6FF"

LANES = ("Growth", "Design", "Development", "Test")
LANE_H = 620.0
TITLE_BAR = 120.0
COL_W = 300.0


def mural_app_release() -> Json:
    """A mobility provider's app team: from user insight to a feature in the app stores."""
    m = Mural(seed=20260905, start_ms=1757066400000)
    nva = m.tag("tag-61c0e2", "NVA", "#FFE08AFF", "#F5A623FF")
    quick = m.tag("tag-8d4b17", "Quick win", "#C7FE80FF", "#3BA55CFF")

    m.label(
        _div("Value stream: in-app ticket feature, from insight to release"),
        1500,
        120,
        None,
        w=2400,
    )
    m.sticky(
        _div("Persona: Mia, 29, commutes daily and buys her tickets in the app"),
        3250,
        900,
        PERSONA,
    )
    m.sticky(_div("Team: 1 growth, 1 designer, 2 developers, 2 testers"), 3250, 1150, NOTE)

    def lane_band(top: float, lane: str) -> tuple[float, float]:
        """(band top, band centre) of a lane in an area whose top edge is ``top``."""
        band_top = top + TITLE_BAR + LANE_H * LANES.index(lane)
        return band_top, band_top + LANE_H / 2

    def draw_lanes(area: str, left: float, top: float) -> None:
        for lane in LANES:
            _, centre = lane_band(top, lane)
            m.label(_div(lane, bold=True), left + 110, centre, area)

    def col_x(left: float, col: int) -> float:
        return left + 340.0 + COL_W * (col - 1)

    # ---- current state
    cur_left, cur_top, cur_w = 100.0, 300.0, 2900.0
    cur_h = TITLE_BAR + LANE_H * len(LANES)
    current = m.area("Current state", cur_left + cur_w / 2, cur_top + cur_h / 2, cur_w, cur_h)
    draw_lanes(current, cur_left, cur_top)

    def place(
        area: str, left: float, top: float, col: int, lane: str, row: str
    ) -> tuple[float, float]:
        band_top, _ = lane_band(top, lane)
        offset = {"problem": 110.0, "step": 320.0, "data": 530.0}[row]
        return col_x(left, col), band_top + offset

    def step(
        area: str,
        left: float,
        top: float,
        col: int,
        lane: str,
        title: str,
        data: str | None,
        color: str = STEP,
        tags: tuple[str, ...] = (),
    ) -> str:
        x, y = place(area, left, top, col, lane, "step")
        sticky = m.sticky(_div(title), x, y, color, area, tags=tags)
        if data is not None:
            dx, dy = place(area, left, top, col, lane, "data")
            m.sticky(_div(data), dx, dy, DATA, area)
        return sticky

    def problem(
        area: str, left: float, top: float, col: int, lane: str, text: str, votes: int
    ) -> str:
        x, y = place(area, left, top, col, lane, "problem")
        sticky = m.sticky(_div(text), x, y, PROBLEM, area)
        for k in range(votes):
            m.dot(x - 56 + 28 * k, y + 55, area)
        return sticky

    cur = (current, cur_left, cur_top)
    insights = step(*cur, 1, "Growth", "Collect user insights", "PT 4h / LT 3d / %C&A 80%")
    brief = step(*cur, 2, "Growth", "Write feature brief", "PT 6h / LT 5d / %C&A 60%")
    mockups = step(*cur, 3, "Design", "Create mockups", "PT 2d / LT 1 week / %C&A 70%")
    review_wait = step(*cur, 4, "Design", "Wait for design review", "WT 3-7 d / LT 5d", WAIT)
    implement = step(*cur, 5, "Development", "Implement feature", "PT 5d / LT 8d / %C&A 85%")
    ui_tests = step(*cur, 6, "Test", "Write UI tests", "PT 1.5d / LT 3d / %C&A 90%")
    api_docs = step(*cur, 6, "Development", "Update API docs", "PT 4h / LT 1d / %C&A 95%")
    release_review = step(
        *cur, 7, "Test", "Release review", "PT 1h / LT 2d / %C&A 75%", tags=(nva,)
    )
    publish = step(*cur, 8, "Development", "Publish to app stores", "PT 2h / LT 2d / %C&A 95%")
    for a, z in [
        (insights, brief),
        (brief, mockups),
        (mockups, review_wait),
        (review_wait, implement),
        (implement, ui_tests),
        (implement, api_docs),
        (ui_tests, release_review),
        (api_docs, release_review),
        (release_review, publish),
    ]:
        m.arrow(a, z, current)

    problem(*cur, 1, "Growth", "Insights arrive as slide decks nobody reads", 2)
    problem(*cur, 2, "Growth", "Brief changes after design has started", 3)
    problem(*cur, 4, "Design", "Design review only every second Thursday", 5)
    problem(*cur, 6, "Test", "Flaky UI tests block the pipeline", 4)
    problem(*cur, 7, "Test", "Release review waits for three sign-offs (2)", 0)
    # Far from every step; the arrow says which step it belongs to.
    rejected = problem(
        *cur, 7, "Development", "App store rejects builds with a missing privacy label", 1
    )
    m.arrow(rejected, publish, current)

    x, y = place(*cur, 5, "Development", "problem")
    m.sticky(_div("Pair designer and developer on day one"), x, y, IDEA, current, tags=(quick,))
    x, y = place(*cur, 3, "Test", "problem")
    ci = m.sticky(_div("Run UI tests on every pull request"), x, y, IDEA, current)
    m.arrow(ci, ui_tests, current)
    x, y = place(*cur, 6, "Growth", "problem")
    m.sticky(_div("Idea: shared backlog for Growth and Design"), x, y, STEP, current)

    # ---- target state
    tgt_left, tgt_top, tgt_w = 100.0, 3200.0, 2300.0
    target = m.area("Target state", tgt_left + tgt_w / 2, tgt_top + cur_h / 2, tgt_w, cur_h)
    draw_lanes(target, tgt_left, tgt_top)
    tgt = (target, tgt_left, tgt_top)
    t_insights = step(*tgt, 1, "Growth", "Collect user insights", "PT 4h / LT 1d / %C&A 90%")
    t_codesign = step(
        *tgt, 2, "Design", "Co-design feature with developers", "PT 1d / LT 2d / %C&A 90%"
    )
    t_implement = step(*tgt, 3, "Development", "Implement feature", "PT 4d / LT 5d / %C&A 90%")
    t_regression = step(
        *tgt, 4, "Test", "Automated regression run", "PT 30-60 min / LT 2h / %C&A 95%"
    )
    t_docs = step(*tgt, 4, "Development", "Update API docs", "PT 4h / LT 1d / %C&A 95%")
    t_publish = step(*tgt, 5, "Development", "Publish to app stores", "PT 2h / LT 1d / %C&A 95%")
    for a, z in [
        (t_insights, t_codesign),
        (t_codesign, t_implement),
        (t_implement, t_regression),
        (t_implement, t_docs),
        (t_regression, t_publish),
        (t_docs, t_publish),
    ]:
        m.arrow(a, z, target)

    # A nested area for ideas nobody placed on a step yet.
    lot_left, lot_top = tgt_left + 1800.0, tgt_top + TITLE_BAR + 40.0
    lot = m.area("Parking lot", lot_left + 200, lot_top + 260, 400, 520, parent=target)
    m.sticky(_div("Feature flags for staged rollouts"), lot_left + 200, lot_top + 300, IDEA, lot)

    widgets = list(m.widgets)
    random.Random(11).shuffle(widgets)  # noqa: S311
    mural = {
        "id": "acme7380.1754493659737",
        "title": "App release value stream – workshop",  # noqa: RUF001
        "workspaceId": "acme7380",
        "roomId": 1754480000123,
        "folderId": None,
        "status": "active",
        "favorite": False,
        "infinite": False,
        "thumbnailUrl": "https://app.mural.co/api/murals/acme7380/1754493659737/thumbnail",
        "createdOn": 1754493659737,
        "createdBy": {
            "id": "u4f2a91c0",
            "firstName": "Priya",
            "lastName": "Raman",
            "email": "priya.raman@example.com",
        },
        "updatedOn": m.clock,
        "updatedBy": {
            "id": "u7b13e5d2",
            "firstName": "Tom",
            "lastName": "Becker",
            "email": "tom.becker@example.com",
        },
        "width": 9216,
        "height": 6237,
        "backgroundColor": "#FAFAFAFF",
        "visitorsSettings": {"link": "", "visitors": "none", "workspaceMembers": "none"},
        "sharingSettings": {"link": "https://app.mural.co/t/acme7380/m/acme7380/1754493659737"},
        "_canvasLink": "https://app.mural.co/t/acme7380/m/acme7380/1754493659737",
    }
    return {"provider": "mural", "mural": mural, "widgets": widgets, "tags": m.tags}


def miro_vsm_template() -> Json:
    """A board made on Miro's Value Stream Mapping template (Rother & Shook symbols): no sticky
    is a step. Process boxes are rectangle shapes with data boxes under them, inventory
    triangles between them, kaizen bursts (stars), a timeline ladder at the bottom, plain lines
    without arrowheads between the boxes, and an Agenda frame with yellow stickies."""
    m = MiroBoard("uXjVKsT3mpl=", seed=20260311, start=datetime(2026, 3, 11, 8, 30, tzinfo=UTC))
    agenda = m.frame("Agenda", -1700, 0, 700, 1100)
    for index, line in enumerate(
        ("Begrüßung", "Ist-Zustand aufnehmen", "Soll-Zustand", "Maßnahmen")
    ):
        m.sticky(_p(line), -1700, -380 + 250 * index, "yellow", agenda)

    current = m.frame("Current State Map", 1400, 0, 3200, 1700)
    for title, x in (
        ("Stahlhändler", 0),
        ("Produktionsplanung (ERP)", 1400),
        ("Kunde: Landtechnik", 2800),
    ):
        m.shape((title,), x, -620, 360, 160, current)
    boxes: list[str] = []
    layout = (
        ("Zuschnitt", ("C/T = 45 s", "C/O = 30 min", "Uptime 85 %", "Operators: 1"), "45 s"),
        ("Kanten", ("C/T = 62 s", "C/O = 45 min", "Uptime 80 %", "Operators: 1"), "62 s"),
        ("Schweißen", ("C/T = 2 min", "C/O = 15 min", "Uptime 90 %", "Operators: 2"), "2 min"),
        ("Pulverbeschichten", ("C/T = 5 min", "Uptime 95 %", "Operators: 2"), "5 min"),
    )
    inventories = (
        ("I", "1.200 Stk", "5 days"),
        ("I", "600 Stk", "2 days"),
        ("I", "900 Stk", "3 days"),
    )
    for index, (title, data, ladder) in enumerate(layout):
        x = 200 + 750 * index
        boxes.append(m.shape((title,), x, -150, 300, 160, current))
        m.shape(data, x, 120, 300, 240, current)
        m.text(_p(ladder), x, 620, 160, current)
    for index, lines in enumerate(inventories):
        x = 575 + 750 * index
        m.shape(lines, x, -150, 170, 150, current, shape="triangle", fill="#fff9b1")
        m.text(_p(lines[2]), x, 540, 160, current)
    for start, end in itertools.pairwise(boxes):
        m.connect(start, end, shape="straight", end_cap="none")
    m.shape(
        ("Rüstzeit Kanten halbieren",), 1100, -390, 220, 150, current, shape="star", fill="#ffd02f"
    )
    m.shape(
        ("Puffer vor Pulver abbauen",), 2350, -390, 220, 150, current, shape="star", fill="#ffd02f"
    )
    m.text(
        _p("Production lead time = 10 days", "Processing time = 8.8 min"), 2900, 600, 420, current
    )

    future = m.frame("Future State Map", 1400, 2000, 3200, 1400)
    target_boxes = []
    for index, (title, data) in enumerate(
        (
            ("Zuschnitt", ("C/T = 45 s", "C/O = 10 min")),
            ("Kanten", ("C/T = 62 s", "C/O = 20 min")),
            ("Schweißen + Beschichten", ("C/T = 7 min", "Operators: 3")),
        )
    ):
        x = 300 + 1000 * index
        target_boxes.append(m.shape((title,), x, 1800, 300, 160, future))
        m.shape(data, x, 2060, 300, 200, future)
    m.shape(
        ("I", "200 Stk", "1 day"), 800, 1800, 170, 150, future, shape="triangle", fill="#fff9b1"
    )
    m.shape(
        ("FIFO", "max. 50 Stk", "0.5 days"),
        1800,
        1800,
        170,
        150,
        future,
        shape="triangle",
        fill="#fff9b1",
    )
    for start, end in itertools.pairwise(target_boxes):
        m.connect(start, end, shape="straight", end_cap="none")

    board = {
        "id": "uXjVKsT3mpl=",
        "type": "board",
        "name": "Kessler Metallbau \u2013 VSM Blechteile (Miro-Vorlage)",
        "description": "Value Stream Mapping template, Werk Nord",
        "createdAt": "2026-03-11T08:30:00Z",
        "modifiedAt": m.clock.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return m.dump(board)


def write(name: str, dump: Json) -> Path:
    path = HERE / name
    path.write_text(json.dumps(dump, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def main() -> None:
    for name, dump in (
        ("miro-abo-workshop.json", miro_abo_workshop()),
        ("mural-app-release.json", mural_app_release()),
        ("miro-abo-workshop-march.json", miro_abo_workshop_march()),
        ("miro-vsm-template.json", miro_vsm_template()),
    ):
        print(write(name, dump))


if __name__ == "__main__":
    main()
