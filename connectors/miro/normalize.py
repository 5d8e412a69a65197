"""Miro dump (REST v2 items, connectors, tags) -> normalized ``Board``.

Coordinates: an item's ``position`` is its centre, relative to the board centre or, with
``relativeTo: parent_top_left``, to the top-left corner of its parent, and parents nest
(https://developers.miro.com/docs/boards, https://developers.miro.com/docs/frame-1,
miro-api.md 3.2). The absolute centre is ``parent_abs_centre - parent_size / 2 + child``,
applied from the outermost parent inwards. Kanbans, tables, mind maps and story maps can be
parents too but the API does not list them
(https://developers.miro.com/docs/children-inside-parent-items): their children's positions
are relative to a box we never see, so they get no geometry instead of a wrong one.

Every element of ``items`` ends up in exactly one place: on the board, left out with a reason
(not an object, no id, a repeated id) or listed as malformed with the field that could not be
read (``ImportStats``), so the import's account adds up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from typing import Any

import msgspec

from connectors.errors import DumpError
from connectors.miro import wire
from connectors.nesting import container_chains, resolve_nesting
from connectors.normalizing import (
    MAX_ITEMS,
    StatsCollector,
    angle,
    bounded_label,
    json_parts,
    raw_list,
)
from service.domain.board import Board, Connector, Geometry, Item, ItemKind
from service.domain.colors import color_name, nearest_color
from service.domain.record import Record
from service.domain.text import DEFAULT_MAX_CHARS, html_to_text

_KINDS: Mapping[str, ItemKind] = {
    "sticky_note": ItemKind.STICKY,
    "shape": ItemKind.SHAPE,
    "text": ItemKind.TEXT,
    "frame": ItemKind.CONTAINER,
    "card": ItemKind.CARD,
    "app_card": ItemKind.CARD,
    "image": ItemKind.IMAGE,
}
# Types whose text is ``data.content`` (doc_format too: the spec's DocFormatData has
# ``contentType`` and ``content``, no title); cards show a title and a description; the others
# (images, documents, frames) a title.
_CONTENT_TYPES = frozenset({"sticky_note", "shape", "text", "doc_format"})
_CARD_TYPES = frozenset({"card", "app_card"})
# Types that cannot be read without their text: the spec marks text's content required, and
# every sticky note the API returns carries one ("" when empty).
_CONTENT_REQUIRED = frozenset({"sticky_note", "text"})
# Types that always have a size (miro-api.md 3.2: "not every type has both width and height").
_SIZED_TYPES = frozenset({"sticky_note", "shape", "frame", "card", "app_card"})
_MAX_SHARED_LABELS = 1_024
_NO_DATA, _NO_STYLE = wire.MiroItemData(), wire.MiroItemStyle()


def normalize_miro(dump: Mapping[str, Any], *, max_text_chars: int = DEFAULT_MAX_CHARS) -> Board:
    """Normalize a parsed Miro dump (``{"provider": "miro", "board", "items", ...}``).

    The dump is read through the same wire models as a file (its parts as JSON bytes).
    Raises ``DumpError`` when ``items`` (or ``connectors``/``tags``/``item_tags`` when present)
    has the wrong JSON type or there are more than ``MAX_ITEMS`` items. Anything wrong inside an
    item is tolerated and counted in ``Board.stats``, or lists the item as malformed.
    """
    return read_miro(json_parts(dump), max_text_chars=max_text_chars)


def read_miro(
    parts: MutableMapping[str, msgspec.Raw], *, max_text_chars: int = DEFAULT_MAX_CHARS
) -> Board:
    """Normalize a Miro dump given as its top-level parts, each the JSON bytes of its value.

    The parts are taken out of ``parts`` once checked and handed on as ``read_miro_parts``
    takes them: a part is a view of the whole file's bytes and keeps them alive.
    """
    dump = wire.MiroDumpParts(
        provider="miro",
        items=raw_list(parts, "items", "Miro", required=True),
        connectors=raw_list(parts, "connectors", "Miro"),
        tags=raw_list(parts, "tags", "Miro"),
        board=parts.get("board", msgspec.Raw(b"")),
        item_tags=parts.get("item_tags", msgspec.Raw(b"")),
    )
    parts.clear()
    return read_miro_parts(dump, max_text_chars=max_text_chars)


def read_miro_parts(dump: wire.MiroDumpParts, *, max_text_chars: int = DEFAULT_MAX_CHARS) -> Board:
    """Normalize a Miro dump given as ``wire.MiroDumpParts``.

    The lists are taken out of ``dump`` as they are read: their elements are views of the
    file's bytes, so with the caller's own references gone the bytes are freed as soon as the
    items are read. Raises ``DumpError`` for more than ``MAX_ITEMS`` items or ``item_tags``
    that is not an object.
    """
    raw_items, dump.items = dump.items, []
    raw_connectors, dump.connectors = dump.connectors or [], None
    if len(raw_items) + len(raw_connectors) > MAX_ITEMS:
        raise DumpError(f"the dump has more than {MAX_ITEMS:,} items; refusing to import it")
    item_tags: object = msgspec.json.decode(dump.item_tags) if dump.item_tags else None
    item_tags = {} if item_tags is None else item_tags
    if not isinstance(item_tags, Mapping):
        raise DumpError("not a Miro dump: 'item_tags' must be an object of item id -> tag ids")
    raw_board = msgspec.Raw(bytes(dump.board))
    raw_tags = [msgspec.Raw(bytes(tag)) for tag in dump.tags or []]
    dump.board, dump.tags, dump.item_tags = msgspec.Raw(b""), None, msgspec.Raw(b"")
    reader = MiroReader(max_text_chars)
    reader.add_items(raw_items)
    del raw_items
    reader.add_connectors(raw_connectors)
    del raw_connectors
    return reader.board(raw_board, raw_tags, item_tags)


class _Record(Record, frozen=True):
    """What normalizing needs of one wire item once it has been read.

    Position and geometry are kept as read (placed once the parents are known), flat: a dict
    of them per item cost more than the record.
    """

    kind: ItemKind
    text: str
    color: str | None
    shape: str | None
    provider_type: str
    parent: str | None
    frame: bool
    x: float
    y: float
    relative_to: str | None
    width: float
    height: float
    rotation: float


class _Malformed(Exception):
    """An item field that cannot be read: ``field`` names it inside the item."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(field, problem)
        self.field = field
        self.problem = problem


class MiroReader:
    """Reads Miro items and connectors into compact records, then builds the board."""

    def __init__(self, max_text_chars: int = DEFAULT_MAX_CHARS) -> None:
        self.max_text_chars = max_text_chars
        self._items = StatsCollector()
        self._connector_stats = StatsCollector()
        self._records: dict[str, _Record] = {}
        self._connectors: dict[str, Connector] = {}
        self._labels: dict[str, str] = {}
        self._malformed: set[str] = set()

    def add_items(self, raw: list[msgspec.Raw]) -> None:
        """Decode and record every ``items`` element (each from its own JSON bytes)."""
        stats, records = self._items, self._records
        stats.items_read += len(raw)
        decode = wire.ITEM.decode
        for index, element in enumerate(raw):
            try:
                item = decode(element)
            except msgspec.ValidationError:
                decoded = wire.decode_item(element)
                stats.unknown_fields += decoded.unknown_fields
                if decoded.value is None:
                    if decoded.problem == "not a JSON object":
                        stats.leave_out(f"items[{index}]", decoded.problem)
                    else:
                        where = decoded.element_id or f"items[{index}]"
                        stats.malformed_item(where, decoded.field, decoded.problem)
                    continue
                item = decoded.value
            item_id = item.id
            if not stats.admit(item_id, "items", index, records, "item"):
                continue
            try:
                records[item_id] = self._record(item)
            except _Malformed as bad:
                stats.malformed_item(item_id, bad.field, bad.problem)
                self._malformed.add(item_id)

    def _record(self, item: wire.MiroItem) -> _Record:
        """The record of one decoded item; raises ``_Malformed`` for a field it cannot read."""
        stats = self._items
        item_type = item.type or ""
        kind = _KINDS.get(item_type, ItemKind.OTHER)
        if kind is ItemKind.OTHER and item_type not in wire.KNOWN_ITEM_TYPES:
            stats.unknown_type(item_type)
        data, style = item.data or _NO_DATA, item.style or _NO_STYLE
        if item_type in _CONTENT_REQUIRED and data.content is None:
            raise _Malformed("data.content", "missing")
        if item_type == "sticky_note" and item.style is not None and style.fillColor is None:
            raise _Malformed("style.fillColor", "missing")
        position = item.position
        if position is None:
            raise _Malformed("position", "missing")
        x = _coordinate(position.x, "position.x")
        y = _coordinate(position.y, "position.y")
        geometry = item.geometry
        if geometry is None and item_type in _SIZED_TYPES:
            raise _Malformed("geometry", "missing")
        geometry = geometry or wire.MiroGeometry()
        width = _size(geometry.width, "geometry.width")
        height = _size(geometry.height, "geometry.height")
        rotation = angle(wire.to_float(geometry.rotation))
        if item_type in _CONTENT_TYPES:
            raw_text = data.content or ""
        elif item_type in _CARD_TYPES:
            # a card shows its title and, below it, its description (where teams write times)
            raw_text = "\n".join(part for part in (data.title, data.description) if part)
        else:
            raw_text = data.title or ""
        text, truncated = html_to_text(raw_text, self.max_text_chars)
        stats.truncated_texts += truncated
        opacity = wire.to_float(style.fillOpacity)
        return _Record(
            kind=kind,
            text=text,
            color=_color(item_type, style.fillColor, opacity, style.cardTheme),
            shape=None if data.shape is None else self._label(data.shape),
            provider_type=self._label(item_type),
            parent=item.parent.id if item.parent is not None else None,
            frame=item_type == "frame",
            x=x,
            y=y,
            relative_to=position.relativeTo,
            width=width,
            height=height,
            rotation=rotation,
        )

    def _label(self, value: str) -> str:
        """A type or shape name cut to 64 characters, one shared string per distinct name.

        100,000 stickies all say "sticky_note" and "square", and a copy of each per item would
        crowd the working set of every later stage; at most ``_MAX_SHARED_LABELS`` are kept.
        """
        shared = self._labels.get(value)
        if shared is None:
            shared = value[:64]
            if len(self._labels) < _MAX_SHARED_LABELS:
                self._labels[value] = shared
        return shared

    def add_connectors(self, raw: list[msgspec.Raw]) -> None:
        """Decode and record every ``connectors`` element."""
        stats, connectors = self._connector_stats, self._connectors
        stats.items_read += len(raw)
        for index, element in enumerate(raw):
            decoded = wire.decode_connector(element)
            stats.unknown_fields += decoded.unknown_fields
            connector = decoded.value
            if connector is None:
                stats.skip(f"connectors[{index}]", decoded.problem or "not a JSON object")
                continue
            connector_id = connector.id
            if not stats.admit(connector_id, "connectors", index, connectors, "connector"):
                continue
            captions = [
                html_to_text(caption.content or "", self.max_text_chars)[0]
                for caption in (connector.captions or [])[:16]
                if caption is not None
            ]
            start, end = connector.startItem, connector.endItem
            style = connector.style or wire.MiroConnectorStyle()
            connectors[connector_id] = Connector(
                id=connector_id,
                start_id=(start.id or None) if start is not None else None,
                end_id=(end.id or None) if end is not None else None,
                text=" ".join(text for text in captions if text)[: self.max_text_chars],
                heads=_heads(style.startStrokeCap, style.endStrokeCap),
            )

    def board(
        self, raw_board: msgspec.Raw, raw_tags: list[msgspec.Raw], item_tags: Mapping[str, Any]
    ) -> Board:
        """The normalized board of everything read (call once, after the checks of the dump)."""
        stats = self._items
        board = wire.decode_board(raw_board)
        records = self._records

        nesting = resolve_nesting({item_id: record.parent for item_id, record in records.items()})
        unplaced: set[str] = set()
        for item_id, problem in nesting.problems.items():
            record = records[item_id]
            parent = record.parent or ""
            if parent in self._malformed:
                unplaced.add(item_id)
                stats.repair(item_id, f"parent {parent[:80]!r} is malformed; position unknown")
            elif problem.endswith("is not in the dump") and record.relative_to != "canvas_center":
                # a Kanban, table, mind map or story map: the API lists none of them
                unplaced.add(item_id)
                stats.repair(
                    item_id,
                    problem + " (Miro does not list Kanban, table, mind map or story map "
                    "parents); its position inside it is unknown",
                )
            else:
                stats.repair(item_id, problem + "; its coordinates are taken as absolute")
        chains = container_chains(
            nesting, {item_id: record.frame for item_id, record in records.items()}
        )

        geometries: dict[str, Geometry | None] = {}
        for item_id in nesting.order:
            record = records[item_id]
            geometry = (
                None if item_id in unplaced else _place(record, nesting.parent[item_id], geometries)
            )
            geometries[item_id] = geometry
            if geometry is None and item_id not in unplaced:
                stats.repair(item_id, "coordinates not usable (out of range)")

        tag_titles = _tag_titles(wire.decode_tags(raw_tags))
        normalized = [
            Item(
                id=item_id,
                kind=record.kind,
                text=record.text,
                color=record.color,
                geometry=geometries[item_id],
                containers=chains[item_id],
                tags=_item_tags(item_tags.get(item_id), tag_titles) if tag_titles else (),
                shape=record.shape,
                provider_type=record.provider_type,
            )
            for item_id, record in records.items()
        ]
        stats.absorb(self._connector_stats)
        return Board(
            provider="miro",
            id=board.id or "",
            name=html_to_text(board.name or "", 500)[0],
            items=tuple(normalized),
            connectors=tuple(self._connectors.values()),
            stats=stats.freeze(),
        )


def _heads(start_cap: str | None, end_cap: str | None) -> str:
    """Where the line has arrowheads; a missing cap is Miro's default (start none, end stealth,
    miro-api.md 4), and ``none`` is the only cap that draws no head."""
    start = (start_cap or "none") != "none"
    end = (end_cap or "stealth") != "none"
    if start and end:
        return "both"
    if start:
        return "start"
    return "end" if end else "none"


def _coordinate(value: float | str | None, field: str) -> float:
    if type(value) is float and math.isfinite(value):
        return value
    number = wire.to_float(value)
    if number is None:
        problem = "missing" if value is None else f"not a number: {str(value)[:40]!r}"
        raise _Malformed(field, problem)
    if not math.isfinite(number):
        raise _Malformed(field, "not a finite number")
    return number


def _size(value: float | str | msgspec.UnsetType | None, field: str) -> float:
    """A width or height: missing is 0 (not every type has both); anything unusable is malformed."""
    if value is msgspec.UNSET:
        return 0.0
    if type(value) is float and 0 <= value < math.inf:
        return value
    number = None if isinstance(value, msgspec.UnsetType) else wire.to_float(value)
    if number is None:
        raise _Malformed(field, f"not a number: {str(value)[:40]!r}")
    if not math.isfinite(number) or number < 0:
        raise _Malformed(field, "not a finite size")
    return number


def _place(
    record: _Record, parent: str | None, placed: Mapping[str, Geometry | None]
) -> Geometry | None:
    """Absolute geometry of an item given its parent's; None where unknown or not finite."""
    x, y = record.x, record.y
    # Children are relative to the parent's top-left; an explicit "canvas_center" wins.
    if parent is not None and record.relative_to != "canvas_center":
        frame = placed.get(parent)
        if frame is None:
            return None
        x += frame.x - frame.width / 2  # frame.left and frame.top, spelled out: once per item
        y += frame.y - frame.height / 2
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    return Geometry(x=x, y=y, width=record.width, height=record.height, rotation=record.rotation)


def _color(
    item_type: str, fill: str | None, opacity: float | None, card_theme: str | None
) -> str | None:
    if item_type == "sticky_note":
        return color_name(fill)
    if item_type in ("shape", "text", "app_card"):
        if fill is None or opacity == 0:
            return None
        return nearest_color(fill)
    if item_type == "card":
        return nearest_color(card_theme or "#2d9bf0")
    return None


def _tag_titles(tags: list[wire.MiroTag]) -> dict[str, str]:
    titles: dict[str, str] = {}
    for tag in tags:
        if tag.id and tag.title:
            titles.setdefault(tag.id, bounded_label(tag.title, 120) or "")
    return titles


def _item_tags(tag_ids: object, titles: Mapping[str, str]) -> tuple[str, ...]:
    if not isinstance(tag_ids, list):
        return ()
    found: dict[str, None] = {}
    for tag_id in tag_ids[:64]:
        title = titles.get(tag_id) if isinstance(tag_id, str) else None
        if title:
            found[title] = None
    return tuple(found)
