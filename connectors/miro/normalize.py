"""Miro dump (REST v2 items, connectors, tags) -> normalized ``Board``.

Coordinates: an item's ``position`` is its centre, relative to the board centre, or, with
``relativeTo: parent_top_left``, to the top-left corner of its parent frame, and frames nest
(https://developers.miro.com/docs/boards, https://developers.miro.com/docs/frame-1,
miro-api.md 3.2). The absolute centre is ``parent_abs_centre - parent_size / 2 + child``,
applied from the outermost frame inwards.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.errors import DumpError
from connectors.miro import typed, wire
from connectors.nesting import container_chains, resolve_nesting
from connectors.normalizing import (
    MAX_ITEMS,
    StatsCollector,
    Streamed,
    angle,
    batches,
    bounded_label,
    checked_list,
    dimension,
    paused_gc,
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
_CONTENT_TYPES = frozenset({"sticky_note", "shape", "text"})
# Keys that are not unknown: the ones we read plus the ones Miro documents.
_ITEM_KEYS = wire.ITEM_FIELDS | wire.DOCUMENTED_ITEM_FIELDS
_CONNECTOR_KEYS = wire.CONNECTOR_FIELDS | wire.DOCUMENTED_CONNECTOR_FIELDS
_MAX_SHARED_LABELS = 1_024
_NO_DATA, _NO_STYLE = typed.Data(), typed.Style()
_NO_POSITION, _NO_GEOMETRY = typed.Position(), typed.Geometry()


def normalize_miro(
    dump: Mapping[str, Any],
    *,
    max_text_chars: int = DEFAULT_MAX_CHARS,
    consume: bool = False,
    reader: MiroReader | None = None,
) -> Board:
    """Normalize a Miro dump (``{"provider": "miro", "board", "items", ...}``).

    With ``consume`` the caller hands the dump over and its ``items`` and ``connectors`` lists
    are emptied (elements replaced by None) while they are read. ``reader`` holds the arrays a
    streaming parser already fed to it; in ``dump`` they are ``Streamed`` stand-ins.

    Raises ``DumpError`` when ``items`` (or ``connectors``/``tags``/``item_tags`` when present)
    has the wrong JSON type or there are more than ``MAX_ITEMS`` items. Anything wrong inside an
    item is tolerated and counted in ``Board.stats``.
    """
    with paused_gc():
        return _normalize_miro(dump, consume, reader or MiroReader(max_text_chars))


def _array(dump: Mapping[str, Any], key: str, *, required: bool = False) -> list[Any] | Streamed:
    value = dump.get(key)
    return (
        value if isinstance(value, Streamed) else checked_list(dump, key, "Miro", required=required)
    )


def _normalize_miro(dump: Mapping[str, Any], consume: bool, reader: MiroReader) -> Board:
    raw_items = _array(dump, "items", required=True)
    raw_connectors = _array(dump, "connectors")
    raw_tags = checked_list(dump, "tags", "Miro")
    raw_item_tags = dump.get("item_tags")
    raw_item_tags = {} if raw_item_tags is None else raw_item_tags
    if not isinstance(raw_item_tags, Mapping):
        raise DumpError("not a Miro dump: 'item_tags' must be an object of item id -> tag ids")
    if len(raw_items) + len(raw_connectors) > MAX_ITEMS:
        raise DumpError(f"the dump has more than {MAX_ITEMS:,} items; refusing to import it")
    if not isinstance(raw_items, Streamed):
        for batch in batches(raw_items, consume=consume):
            reader.add_items(batch)
    if not isinstance(raw_connectors, Streamed):
        for batch in batches(raw_connectors, consume=consume):
            reader.add_connectors(batch)
    return reader.board(dump.get("board"), raw_tags, raw_item_tags)


class _Record(Record, frozen=True):
    """What normalizing needs of one wire item once it has been read.

    A ``Record``: one is built per item. Position and geometry are kept as they came (placed
    once the frames are known), flat: a dict of them per item cost more than the record.
    """

    kind: ItemKind
    text: str
    color: str | None
    shape: str | None
    provider_type: str
    parent: str | None
    frame: bool
    x: float | None
    y: float | None
    relative_to: str | None
    width: float | None
    height: float | None
    rotation: float | None


class MiroReader:
    """Reads Miro items and connectors batch by batch into compact records, then builds the board.

    Each raw element is validated and reduced as soon as its batch arrives, so a streaming parser
    never has to hold the raw items of a big board at once. Batches must come in dump order
    (items among themselves, connectors among themselves).
    """

    def __init__(self, max_text_chars: int = DEFAULT_MAX_CHARS) -> None:
        self.max_text_chars = max_text_chars
        self.item_count = 0
        self.connector_count = 0
        self._items = StatsCollector()
        self._connector_stats = StatsCollector()
        self._records: dict[str, _Record] = {}
        self._connectors: dict[str, Connector] = {}
        self._labels: dict[str, str] = {}

    def add_items(self, raw: list[Any]) -> None:
        """Validate and record one batch of ``items`` elements."""
        start = self.item_count
        self.item_count += len(raw)
        if self.item_count + self.connector_count > MAX_ITEMS:
            return  # refused when the board is built; no work on an absurd dump
        stats, add = self._items, self._add
        validated = wire.ITEMS.validate_python(raw)
        for offset, (source, item) in enumerate(zip(raw, validated, strict=True)):
            if item is None:
                stats.skip(f"items[{start + offset}]", "not a JSON object")
                continue
            # counted on the raw element: the validated one drops the fields we do not read
            unknown = 0
            if not _ITEM_KEYS.issuperset(source):  # the set difference only when there is one
                unknown = len(source.keys() - _ITEM_KEYS)
            data = item.get("data") or {}
            style = item.get("style") or {}
            position = item.get("position") or {}
            geometry = item.get("geometry") or {}
            add(
                start + offset,
                item.get("id"),
                item.get("type") or "",
                unknown,
                data.get("content"),
                data.get("title"),
                data.get("description"),
                data.get("shape"),
                style.get("fillColor"),
                style.get("fillOpacity"),
                style.get("cardTheme"),
                (item.get("parent") or {}).get("id"),
                position.get("x"),
                position.get("y"),
                position.get("relativeTo"),
                geometry.get("width"),
                geometry.get("height"),
                geometry.get("rotation"),
            )

    def add_typed_items(self, items: list[typed.Item]) -> None:
        """Record items decoded by ``connectors.miro.typed`` (same records as ``add_items``)."""
        start = self.item_count
        self.item_count += len(items)
        if self.item_count + self.connector_count > MAX_ITEMS:
            return
        add = self._add
        for offset, item in enumerate(items):
            data, style = item.data or _NO_DATA, item.style or _NO_STYLE
            position, geometry = item.position or _NO_POSITION, item.geometry or _NO_GEOMETRY
            opacity = style.fillOpacity
            add(
                start + offset,
                item.id,
                item.type or "",
                0,  # typed items have no unknown fields: those take the validating path
                data.content,
                data.title,
                data.description,
                data.shape,
                style.fillColor,
                wire.loose_float(opacity) if isinstance(opacity, str) else opacity,
                style.cardTheme,
                item.parent.id if item.parent is not None else None,
                position.x,
                position.y,
                position.relativeTo,
                geometry.width,
                geometry.height,
                geometry.rotation,
            )

    def _add(
        self,
        index: int,
        item_id: str | None,
        item_type: str,
        unknown_fields: int,
        content: str | None,
        title: str | None,
        description: str | None,
        shape: str | None,
        fill_color: str | None,
        fill_opacity: float | None,
        card_theme: str | None,
        parent: str | None,
        x: float | None,
        y: float | None,
        relative_to: str | None,
        width: float | None,
        height: float | None,
        rotation: float | None,
    ) -> None:
        """Record the item at ``items[index]`` from its wire fields (the hot loop's body)."""
        stats, records = self._items, self._records
        if not stats.admit(item_id, "items", index, records, "item"):
            return
        stats.unknown_fields += unknown_fields
        kind = _KINDS.get(item_type, ItemKind.OTHER)
        if kind is ItemKind.OTHER and item_type not in wire.KNOWN_ITEM_TYPES:
            stats.unknown_type(item_type)
        raw_text = (content if item_type in _CONTENT_TYPES else title) or ""
        text, truncated = html_to_text(raw_text, self.max_text_chars)
        if description and item_type in ("card", "app_card"):
            # a card shows its title and, under it, its description (where teams write times)
            more, cut = html_to_text(description, self.max_text_chars)
            text = f"{text}\n{more}"[: self.max_text_chars] if more else text
            truncated = truncated or cut
        stats.truncated_texts += truncated
        records[item_id] = _Record(  # positional: once per item, keywords cost more
            kind,
            text,
            _color(item_type, fill_color, fill_opacity, card_theme),
            None if shape is None else self._label(shape),
            self._label(item_type),
            parent,
            item_type == "frame",
            x,
            y,
            relative_to,
            width,
            height,
            rotation,
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

    def add_connectors(self, raw: list[Any]) -> None:
        """Validate and record one batch of ``connectors`` elements."""
        start = self.connector_count
        self.connector_count += len(raw)
        if self.item_count + self.connector_count > MAX_ITEMS:
            return
        add = self._add_connector
        for offset, connector in enumerate(wire.CONNECTORS.validate_python(raw)):
            if connector is None:
                add(start + offset, None, 0, None, None, (), "end")
                continue
            style = connector.get("style") or {}
            add(
                start + offset,
                connector.get("id"),
                len(connector.keys() - _CONNECTOR_KEYS),
                (connector.get("startItem") or {}).get("id"),
                (connector.get("endItem") or {}).get("id"),
                [
                    caption.get("content")
                    for caption in (connector.get("captions") or [])[:16]
                    if caption is not None
                ],
                _heads(style.get("startStrokeCap"), style.get("endStrokeCap")),
            )

    def add_typed_connectors(self, connectors: list[typed.Connector]) -> None:
        """Record connectors decoded by ``connectors.miro.typed`` (as ``add_connectors`` does)."""
        start = self.connector_count
        self.connector_count += len(connectors)
        if self.item_count + self.connector_count > MAX_ITEMS:
            return
        add = self._add_connector
        for offset, connector in enumerate(connectors):
            add(
                start + offset,
                connector.id,
                0,
                connector.startItem.id if connector.startItem is not None else None,
                connector.endItem.id if connector.endItem is not None else None,
                [
                    caption.content
                    for caption in (connector.captions or [])[:16]
                    if caption is not None
                ],
                _heads(
                    connector.style.startStrokeCap if connector.style is not None else None,
                    connector.style.endStrokeCap if connector.style is not None else None,
                ),
            )

    def _add_connector(
        self,
        index: int,
        connector_id: str | None,
        unknown_fields: int,
        start_id: str | None,
        end_id: str | None,
        captions: Sequence[str | None],
        heads: str,
    ) -> None:
        """Record the connector at ``connectors[index]`` from its wire fields."""
        stats, connectors = self._connector_stats, self._connectors
        if not stats.admit(connector_id, "connectors", index, connectors, "connector"):
            return
        stats.unknown_fields += unknown_fields
        texts = [html_to_text(caption or "", self.max_text_chars)[0] for caption in captions]
        connectors[connector_id] = Connector(
            id=connector_id,
            start_id=start_id or None,
            end_id=end_id or None,
            text=" ".join(text for text in texts if text)[: self.max_text_chars],
            heads=heads,
        )

    def board(
        self, raw_board: object, raw_tags: list[Any], raw_item_tags: Mapping[str, Any]
    ) -> Board:
        """The normalized board of everything read (call once, after the checks of the dump)."""
        stats = self._items
        stats.items_read = self.item_count + self.connector_count
        board = wire.BOARD.validate_python(raw_board) or {}
        records = self._records

        nesting = resolve_nesting({item_id: record.parent for item_id, record in records.items()})
        for item_id, problem in nesting.problems.items():
            stats.repair(item_id, problem + "; its coordinates are taken as absolute")
        chains = container_chains(
            nesting, {item_id: record.frame for item_id, record in records.items()}
        )

        geometries: dict[str, Geometry | None] = {}
        for item_id in nesting.order:
            record = records[item_id]
            geometry = _place(record, nesting.parent[item_id], geometries)
            geometries[item_id] = geometry
            if geometry is None and record.x is not None and record.y is not None:
                stats.repair(item_id, "coordinates not usable (not finite, or frame without size)")

        tag_titles = _tag_titles(wire.TAGS.validate_python(raw_tags))
        # positional, in the order of Item's fields (id, kind, text, color, geometry,
        # containers, tags, shape, provider_type): keywords cost a third more per item
        normalized = [
            Item(
                item_id,
                record.kind,
                record.text,
                record.color,
                geometries[item_id],
                chains[item_id],
                _item_tags(raw_item_tags.get(item_id), tag_titles) if tag_titles else (),
                record.shape,
                record.provider_type,
            )
            for item_id, record in records.items()
        ]
        stats.absorb(self._connector_stats)
        return Board(
            provider="miro",
            id=board.get("id") or "",
            name=html_to_text(board.get("name") or "", 500)[0],
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


def _place(
    record: _Record, parent: str | None, placed: Mapping[str, Geometry | None]
) -> Geometry | None:
    """Absolute geometry of an item given its parent's; None where unknown or not finite."""
    x, y = record.x, record.y
    if x is None or y is None:
        return None
    width, height = dimension(record.width), dimension(record.height)
    if width is None or height is None:
        return None
    # Frame children are relative to the frame's top-left; an explicit "canvas_center" wins.
    if parent is not None and record.relative_to != "canvas_center":
        frame = placed.get(parent)
        if frame is None:
            return None
        x += frame.x - frame.width / 2  # frame.left and frame.top, spelled out: once per item
        y += frame.y - frame.height / 2
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    return Geometry(x, y, width, height, angle(record.rotation))


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


def _tag_titles(tags: list[wire.MiroTag | None]) -> dict[str, str]:
    titles: dict[str, str] = {}
    for tag in tags:
        if tag is not None and tag.get("id") and tag.get("title"):
            titles.setdefault(str(tag.get("id")), bounded_label(tag.get("title"), 120) or "")
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
