"""Test builders: Miro and Mural dump dicts, raw per item or from one provider-neutral layout.

Two layers:

* Raw builders (``miro_sticky``, ``mural_area``, ...) write one provider object exactly as the
  API returns it. Their ``x``/``y`` are the provider's own numbers: Miro = item centre (relative
  to the parent frame's top-left when ``parent`` is given, else to the board centre); Mural =
  widget top-left (relative to the parent area's top-left when ``parent`` is given).
* Layout builders (``Note``, ``Frame``, ``Label``, ``Shape``, ``Link`` and ``to_miro_dump`` /
  ``to_mural_dump``) take absolute centres and parents given as list indexes, and write the same
  board for either provider. Item ids are ``miro_id(i)`` / ``mural_id(i)`` for element ``i``.

Import as ``from tests.builders import ...`` (test folders need an ``__init__.py`` so that pytest
puts the repository root on ``sys.path``).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.domain.colors import PALETTE

Json = dict[str, Any]


def _miro_html(text: str) -> str:
    return "".join(f"<p>{html.escape(line)}</p>" for line in text.split("\n"))


def _miro_position(x: float, y: float, parent: str | None) -> Json:
    return {
        "x": x,
        "y": y,
        "origin": "center",
        "relativeTo": "parent_top_left" if parent else "canvas_center",
    }


def miro_item(
    id: str,
    type: str,
    x: float,
    y: float,
    *,
    parent: str | None = None,
    w: float | None = 100.0,
    h: float | None = 100.0,
    data: Mapping[str, Any] | None = None,
    style: Mapping[str, Any] | None = None,
) -> Json:
    """Any Miro item; the typed builders below fill ``data`` and ``style`` for you."""
    item: Json = {"id": id, "type": type, "position": _miro_position(x, y, parent)}
    geometry: Json = {}
    if w is not None:
        geometry["width"] = w
    if h is not None:
        geometry["height"] = h
    item["geometry"] = geometry
    if data is not None:
        item["data"] = dict(data)
    if style is not None:
        item["style"] = dict(style)
    if parent:
        item["parent"] = {"id": parent}
    return item


def miro_sticky(
    id: str,
    text: str,
    x: float,
    y: float,
    color: str = "yellow",
    parent: str | None = None,
    w: float = 199.0,
    h: float = 228.0,
    *,
    shape: str = "square",
    content: str | None = None,
) -> Json:
    """A sticky note; ``text`` is plain (escaped into ``<p>`` lines), ``content`` is raw HTML."""
    return miro_item(
        id,
        "sticky_note",
        x,
        y,
        parent=parent,
        w=w,
        h=h,
        data={"content": _miro_html(text) if content is None else content, "shape": shape},
        style={"fillColor": color, "textAlign": "center", "textAlignVertical": "top"},
    )


def miro_frame(
    id: str,
    title: str,
    x: float,
    y: float,
    w: float = 1600.0,
    h: float = 900.0,
    parent: str | None = None,
) -> Json:
    return miro_item(
        id,
        "frame",
        x,
        y,
        parent=parent,
        w=w,
        h=h,
        data={"title": title, "format": "custom", "type": "freeform"},
        style={"fillColor": "#ffffffff"},
    )


def miro_shape(
    id: str,
    text: str,
    x: float,
    y: float,
    shape: str = "rectangle",
    color: str = "#ffffff",
    parent: str | None = None,
    w: float = 200.0,
    h: float = 100.0,
    *,
    opacity: str = "1.0",
) -> Json:
    """A shape; ``color`` is a ``fillColor`` hex, ``"transparent"`` or a palette name."""
    fill = PALETTE.get(color, color)
    return miro_item(
        id,
        "shape",
        x,
        y,
        parent=parent,
        w=w,
        h=h,
        data={"content": _miro_html(text), "shape": shape},
        style={"fillColor": fill, "fillOpacity": opacity, "borderColor": "#1a1a1a"},
    )


def miro_text(
    id: str,
    text: str,
    x: float,
    y: float,
    parent: str | None = None,
    w: float = 300.0,
    h: float = 50.0,
) -> Json:
    return miro_item(
        id,
        "text",
        x,
        y,
        parent=parent,
        w=w,
        h=h,
        data={"content": _miro_html(text)},
        style={"fillColor": "transparent", "fontSize": "24", "textAlign": "left"},
    )


def miro_card(
    id: str,
    title: str,
    x: float,
    y: float,
    parent: str | None = None,
    description: str = "",
    w: float = 320.0,
    h: float = 94.0,
) -> Json:
    """A card; ``description`` is plain text (escaped into ``<p>`` lines like Miro stores it)."""
    return miro_item(
        id,
        "card",
        x,
        y,
        parent=parent,
        w=w,
        h=h,
        data={"title": title, "description": _miro_html(description) if description else ""},
        style={"cardTheme": "#2d9bf0"},
    )


_MIRO_CAPS = {
    "end": ("none", "stealth"),
    "start": ("stealth", "none"),
    "both": ("stealth", "stealth"),
    "none": ("none", "none"),
}
_MURAL_TIPS = {"end": "single", "none": "no tip", "both": "double"}


def miro_connector(
    id: str,
    start: str | None,
    end: str | None,
    caption: str | None = None,
    heads: str = "end",
) -> Json:
    """A connector; ``None`` for an end attached to the canvas (no ``startItem``/``endItem``)."""
    connector: Json = {"id": id, "type": "connector", "shape": "elbowed", "isSupported": True}
    if start is not None:
        connector["startItem"] = {"id": start, "position": {"x": "100%", "y": "50%"}}
    if end is not None:
        connector["endItem"] = {"id": end, "position": {"x": "0%", "y": "50%"}}
    if caption is not None:
        connector["captions"] = [{"content": _miro_html(caption), "position": "50%"}]
    start_cap, end_cap = _MIRO_CAPS[heads]
    connector["style"] = {
        "startStrokeCap": start_cap,
        "endStrokeCap": end_cap,
        "strokeWidth": "2.0",
    }
    return connector


def miro_tag(id: str, title: str, color: str = "red") -> Json:
    return {"id": id, "title": title, "fillColor": color, "type": "tag"}


def miro_dump(
    items: Iterable[Any],
    connectors: Iterable[Any] = (),
    tags: Iterable[Any] = (),
    item_tags: Mapping[str, Sequence[str]] | None = None,
    *,
    board_id: str = "uXjVO1a2b3c=",
    name: str = "Workshop board",
) -> Json:
    return {
        "provider": "miro",
        "board": {"id": board_id, "type": "board", "name": name, "description": ""},
        "items": list(items),
        "connectors": list(connectors),
        "tags": list(tags),
        "item_tags": {k: list(v) for k, v in (item_tags or {}).items()},
    }


def mural_hex(color: str | None) -> str:
    """A palette name -> Mural's ``#RRGGBBAA``; a hex passes through; None -> transparent."""
    if color is None:
        return "#FFFFFF00"
    if color in PALETTE:
        return PALETTE[color].upper() + "FF"
    return color


def _mural_html(text: str) -> str:
    body = "".join(f"<div>{html.escape(line)}</div>" for line in text.split("\n"))
    return f'<html v="1">{body}</html>'


def mural_widget(
    id: str,
    type: str,
    x: float | None,
    y: float | None,
    *,
    parent: str | None = None,
    w: float | None = 100.0,
    h: float | None = 100.0,
    **fields: Any,
) -> Json:
    """Any Mural widget; ``None`` coordinates leave the field out."""
    widget: Json = {"id": id, "type": type}
    for key, value in (("x", x), ("y", y), ("width", w), ("height", h)):
        if value is not None:
            widget[key] = value
    widget.update(
        rotation=0,
        parentId=parent,
        hidden=False,
        invisible=False,
        locked=False,
        stackingOrder=1,
        presentationIndex=-1,
        instruction="",
    )
    widget.update(fields)
    return widget


def mural_sticky(
    id: str,
    text: str,
    x: float,
    y: float,
    color: str = "yellow",
    parent: str | None = None,
    w: float = 168.0,
    h: float = 168.0,
    *,
    tags: Sequence[str] = (),
    plain: bool = False,
    html_text: str | None = None,
    shape: str = "rectangle",
) -> Json:
    """A sticky note, written as UI edits leave it: ``text`` empty, content in ``htmlText``.

    ``plain=True`` writes the text into ``text`` only; ``html_text`` sets raw ``htmlText``.
    ``color`` is a palette name (written as its exact hex) or a Mural hex.
    """
    if plain:
        text_fields: Json = {"text": text}
    else:
        text_fields = {
            "text": "",
            "htmlText": _mural_html(text) if html_text is None else html_text,
        }
    return mural_widget(
        id,
        "sticky note",
        x,
        y,
        parent=parent,
        w=w,
        h=h,
        **text_fields,
        title="",
        shape=shape,
        tags=list(tags),
        style={
            "backgroundColor": mural_hex(color),
            "bold": False,
            "font": "proxima-nova",
            "fontSize": 23,
            "textAlign": "center",
        },
    )


def mural_area(
    id: str,
    title: str,
    x: float,
    y: float,
    w: float = 1600.0,
    h: float = 900.0,
    parent: str | None = None,
) -> Json:
    return mural_widget(
        id,
        "area",
        x,
        y,
        parent=parent,
        w=w,
        h=h,
        title=title,
        showTitle=True,
        layout="free",
        style={"backgroundColor": "#FFFFFFFF", "borderColor": "#EAEAEAFF", "borderWidth": 3},
    )


def mural_shape(
    id: str,
    text: str,
    x: float,
    y: float,
    shape: str = "rectangle",
    color: str | None = None,
    parent: str | None = None,
    w: float = 200.0,
    h: float = 100.0,
) -> Json:
    return mural_widget(
        id,
        "shape",
        x,
        y,
        parent=parent,
        w=w,
        h=h,
        shape=shape,
        text="",
        htmlText=_mural_html(text),
        style={"backgroundColor": mural_hex(color), "borderColor": "#1F1F1FFF"},
    )


def mural_text(
    id: str,
    text: str,
    x: float,
    y: float,
    parent: str | None = None,
    w: float = 300.0,
    h: float = 50.0,
) -> Json:
    """A text box; Mural may put HTML into ``text`` itself, which is what this writes."""
    return mural_widget(
        id,
        "text",
        x,
        y,
        parent=parent,
        w=w,
        h=h,
        text=_mural_html(text),
        fixedWidth=True,
        style={"backgroundColor": "#FFFFFF00", "fontSize": 24, "textAlign": "left"},
    )


def mural_arrow(
    id: str, start: str | None, end: str | None, label: str | None = None, heads: str = "end"
) -> Json:
    """An arrow; Mural draws a single tip at the end only, so ``heads="start"`` swaps the ends."""
    if heads == "start":
        start, end, heads = end, start, "end"
    fields: Json = {
        "arrowType": "straight",
        "tip": _MURAL_TIPS[heads],
        "startRefId": start,
        "endRefId": end,
        "points": [{"x": 0, "y": 0}, {"x": 100, "y": 0}],
        "style": {"strokeColor": "#1F1F1FFF", "strokeWidth": 3},
    }
    if label is not None:
        fields["label"] = {
            "format": {"fontSize": 24},
            # The normalizer reads label text as markup (like every Mural text field), so the
            # builder escapes it the way Mural's editor would.
            "labels": [{"x": 0, "y": 0, "width": 80, "height": 30, "text": html.escape(label)}],
        }
    return mural_widget(id, "arrow", 0.0, 0.0, w=100.0, h=1.0, **fields)


def mural_tag(id: str, text: str) -> Json:
    return {
        "id": id,
        "text": text,
        "backgroundColor": "#FFD6D6FF",
        "borderColor": "#FF4D4DFF",
        "color": "#1F1F1FFF",
    }


def mural_dump(
    widgets: Iterable[Any],
    tags: Iterable[Any] = (),
    *,
    mural_id: str = "acme7380.1754493659737",
    title: str = "Workshop mural",
    votes: Mapping[str, Any] | None = None,
) -> Json:
    """A Mural dump; ``votes`` (widget id -> total votes) is the key the client writes when the
    mural has voting results."""
    dump: Json = {
        "provider": "mural",
        "mural": {"id": mural_id, "title": title, "workspaceId": "acme7380", "status": "active"},
        "widgets": list(widgets),
        "tags": list(tags),
    }
    if votes is not None:
        dump["votes"] = dict(votes)
    return dump


@dataclass(frozen=True)
class Note:
    """A sticky at absolute centre (x, y); ``parent`` is the list index of its frame."""

    text: str
    x: float
    y: float
    color: str = "yellow"
    parent: int | None = None
    w: float = 199.0
    h: float = 228.0
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Frame:
    """A Miro frame / Mural area at absolute centre (x, y)."""

    title: str
    x: float
    y: float
    w: float = 1600.0
    h: float = 900.0
    parent: int | None = None


@dataclass(frozen=True)
class Label:
    """A text item (lane names, headings) at absolute centre (x, y)."""

    text: str
    x: float
    y: float
    w: float = 300.0
    h: float = 50.0
    parent: int | None = None


@dataclass(frozen=True)
class Shape:
    """A shape at absolute centre (x, y); ``color`` is a palette name or None (no fill)."""

    text: str
    x: float
    y: float
    shape: str = "rectangle"
    color: str | None = None
    w: float = 200.0
    h: float = 100.0
    parent: int | None = None


@dataclass(frozen=True)
class Card:
    """A Miro card at absolute centre (x, y) (Mural has no cards: ``to_mural_dump`` refuses)."""

    title: str
    x: float
    y: float
    description: str = ""
    w: float = 320.0
    h: float = 94.0
    parent: int | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Link:
    """A connector between elements ``start`` and ``end`` (list indexes; None = canvas).

    ``heads``: where the arrowheads are (``end``, ``start``, ``both``, ``none``).
    """

    start: int | None
    end: int | None
    text: str = ""
    heads: str = "end"


Element = Note | Frame | Label | Shape | Card | Link


def miro_id(index: int) -> str:
    return str(3458764517517819000 + index)


def mural_id(index: int) -> str:
    return f"0-{1757145000000 + index}"


def _parent_box(elements: Sequence[Element], parent: int | None) -> tuple[float, float] | None:
    """Absolute top-left of the parent frame, or None at top level."""
    if parent is None:
        return None
    frame = elements[parent]
    assert isinstance(frame, Frame), f"element {parent} is not a Frame"
    return frame.x - frame.w / 2, frame.y - frame.h / 2


def to_miro_dump(elements: Sequence[Element], **kwargs: Any) -> Json:
    """The layout as a Miro dump: child centres relative to the parent frame's top-left."""
    items: list[Json] = []
    connectors: list[Json] = []
    tag_ids: dict[str, str] = {}
    item_tags: dict[str, list[str]] = {}
    for i, element in enumerate(elements):
        id = miro_id(i)
        if isinstance(element, Link):
            connectors.append(
                miro_connector(
                    id,
                    None if element.start is None else miro_id(element.start),
                    None if element.end is None else miro_id(element.end),
                    element.text or None,
                    element.heads,
                )
            )
            continue
        box = _parent_box(elements, element.parent)
        x, y = (element.x, element.y) if box is None else (element.x - box[0], element.y - box[1])
        parent = None if element.parent is None else miro_id(element.parent)
        if isinstance(element, Card):
            items.append(
                miro_card(
                    id, element.title, x, y, parent, element.description, element.w, element.h
                )
            )
        elif isinstance(element, Note):
            items.append(
                miro_sticky(id, element.text, x, y, element.color, parent, element.w, element.h)
            )
        elif isinstance(element, Frame):
            items.append(miro_frame(id, element.title, x, y, element.w, element.h, parent))
        elif isinstance(element, Label):
            items.append(miro_text(id, element.text, x, y, parent, element.w, element.h))
        else:
            color = "transparent" if element.color is None else element.color
            items.append(
                miro_shape(
                    id, element.text, x, y, element.shape, color, parent, element.w, element.h
                )
            )
        if isinstance(element, Note | Card):
            for title in element.tags:
                tag_id = tag_ids.setdefault(title, str(3458764500000000 + len(tag_ids)))
                item_tags.setdefault(id, []).append(tag_id)
    tags = [miro_tag(tag_id, title) for title, tag_id in tag_ids.items()]
    return miro_dump(items, connectors, tags, item_tags, **kwargs)


def to_mural_dump(elements: Sequence[Element], **kwargs: Any) -> Json:
    """The layout as a Mural dump: top-left corners relative to the parent area's top-left."""
    widgets: list[Json] = []
    tag_ids: dict[str, str] = {}
    for i, element in enumerate(elements):
        id = mural_id(i)
        if isinstance(element, Link):
            widgets.append(
                mural_arrow(
                    id,
                    None if element.start is None else mural_id(element.start),
                    None if element.end is None else mural_id(element.end),
                    element.text or None,
                    element.heads,
                )
            )
            continue
        assert not isinstance(element, Card), "Mural has no cards"
        box = _parent_box(elements, element.parent) or (0.0, 0.0)
        x = element.x - element.w / 2 - box[0]
        y = element.y - element.h / 2 - box[1]
        parent = None if element.parent is None else mural_id(element.parent)
        if isinstance(element, Note):
            refs = [tag_ids.setdefault(title, f"tag-{len(tag_ids)}") for title in element.tags]
            widgets.append(
                mural_sticky(
                    id, element.text, x, y, element.color, parent, element.w, element.h, tags=refs
                )
            )
        elif isinstance(element, Frame):
            widgets.append(mural_area(id, element.title, x, y, element.w, element.h, parent))
        elif isinstance(element, Label):
            widgets.append(mural_text(id, element.text, x, y, parent, element.w, element.h))
        else:
            widgets.append(
                mural_shape(
                    id,
                    element.text,
                    x,
                    y,
                    element.shape,
                    element.color,
                    parent,
                    element.w,
                    element.h,
                )
            )
    tags = [mural_tag(tag_id, title) for title, tag_id in tag_ids.items()]
    return mural_dump(widgets, tags, **kwargs)
