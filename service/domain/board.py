"""Normalized board: one provider-neutral model of a whiteboard's items.

Connectors (Miro, Mural, dump files) turn provider JSON into these values; everything downstream
(classification, streams, metrics, rendering) reads only this model.

Coordinates are absolute canvas units with the y axis pointing down. Miro measures item centres
from the board centre and Mural measures top-left corners from the mural's top-left; both are
resolved to absolute centres here, so the same board drawn in either tool gives the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import msgspec
from msgspec import Struct, field

from service.domain.record import Record
from service.domain.text import has_unstorable, storable_text


class ItemKind(StrEnum):
    STICKY = "sticky"
    SHAPE = "shape"
    TEXT = "text"
    CONTAINER = "container"  # Miro frame, Mural area
    CONNECTOR = "connector"
    CARD = "card"
    IMAGE = "image"
    OTHER = "other"


class Geometry(Record, frozen=True):
    """Absolute centre, size and rotation (degrees, clockwise) of an item."""

    x: float
    y: float
    width: float
    height: float
    rotation: float = 0.0

    @property
    def left(self) -> float:
        return self.x - self.width / 2

    @property
    def right(self) -> float:
        return self.x + self.width / 2

    @property
    def top(self) -> float:
        return self.y - self.height / 2

    @property
    def bottom(self) -> float:
        return self.y + self.height / 2

    @property
    def size(self) -> float:
        """The larger side; what "about two sticky sizes" is measured in."""
        return max(self.width, self.height)

    def contains_point(self, x: float, y: float) -> bool:
        return self.left <= x <= self.right and self.top <= y <= self.bottom

    def is_finite(self) -> bool:
        return all(math.isfinite(v) for v in (self.x, self.y, self.width, self.height))


class Item(Record, frozen=True):
    """One board item. ``text`` is plain text (HTML stripped, entities decoded, line breaks kept).

    ``color`` is a named palette colour (see ``colors.PALETTE``) or None when the item has none.
    ``geometry`` is None when the provider sent missing or non-finite coordinates.
    ``containers`` lists the ids of the containers holding the item, innermost first.
    ``votes`` are votes the provider itself recorded for the item (Mural voting sessions), as
    opposed to vote dots drawn on the board; 0 when there are none.
    """

    id: str
    kind: ItemKind
    text: str = ""
    color: str | None = None
    geometry: Geometry | None = None
    containers: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    shape: str | None = None
    provider_type: str = ""
    votes: int = 0

    @property
    def parent_id(self) -> str | None:
        return self.containers[0] if self.containers else None


class Connector(Record, frozen=True):
    """A line between two items; either end may be None (attached to the canvas or missing).

    ``heads`` says where the line has arrowheads: ``end`` (the usual arrow, start -> end),
    ``start``, ``both`` or ``none``; a line with no head or two carries no direction.
    """

    id: str
    start_id: str | None
    end_id: str | None
    text: str = ""
    heads: str = "end"


HEADS = ("end", "start", "both", "none")


class ImportStats(Struct, frozen=True):
    """What normalization tolerated instead of failing: the numbers a user sees as warnings.

    The reading side of the import's account (``service.domain.account``): every board element
    read (Miro item, Mural widget other than an arrow) is on the board, in ``left_out`` (reason
    -> count: not an object, no id, duplicate id, hidden, group) or in ``malformed``, so
    ``len(items) + sum(left_out) + malformed_total`` is the number read.
    """

    items_read: int = 0
    unknown_types: Mapping[str, int] = field(default_factory=dict)
    unknown_fields: int = 0
    skipped: tuple[tuple[str, str], ...] = ()  # (item id, reason): items left out
    truncated_texts: int = 0
    # (item id, what was repaired): items kept with a fix, e.g. a parent frame missing from the
    # dump or a parent cycle, so their coordinates were taken as absolute.
    repaired: tuple[tuple[str, str], ...] = ()
    left_out: Mapping[str, int] = field(default_factory=dict)
    # (item id, field, problem) of elements left off the board because a field cannot be read;
    # the first 1,000 (``malformed_total`` counts them all)
    malformed: tuple[tuple[str, str, str], ...] = ()
    malformed_total: int = 0
    # (code, sentence): what the reader could not find out, e.g. ("votes_unavailable", ...)
    warnings: tuple[tuple[str, str], ...] = ()


class Board(Struct, frozen=True):
    provider: str  # "miro" | "mural"
    id: str
    name: str
    items: tuple[Item, ...]
    connectors: tuple[Connector, ...] = ()
    stats: ImportStats = field(default_factory=ImportStats)

    def by_id(self) -> dict[str, Item]:
        return {item.id: item for item in self.items}


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return storable_text(value) if has_unstorable(value) else value
    if isinstance(value, tuple):
        cleaned = tuple(_storable(part) for part in value)
        return value if all(a is b for a, b in zip(cleaned, value, strict=True)) else cleaned
    if isinstance(value, Record):
        changes = {
            name: new
            for name in value.__struct_fields__
            if (new := _storable(old := getattr(value, name))) is not old
        }
        return msgspec.structs.replace(value, **changes) if changes else value
    return value


def storable_board(board: Board) -> Board:
    """``board`` with text no database can store (lone surrogates, NUL) replaced by U+FFFD in
    every string: ids, names, texts, tags. The same board object when there is none (the
    usual case: nothing is copied)."""
    stats = board.stats
    changes = {
        "id": _storable(board.id),
        "name": _storable(board.name),
        "items": _storable(board.items),
        "connectors": _storable(board.connectors),
        "stats": msgspec.structs.replace(
            stats,
            unknown_types={_storable(k): v for k, v in stats.unknown_types.items()},
            skipped=_storable(stats.skipped),
            repaired=_storable(stats.repaired),
        )
        if any(has_unstorable(k) for k in stats.unknown_types)
        or _storable(stats.skipped) is not stats.skipped
        or _storable(stats.repaired) is not stats.repaired
        else stats,
    }
    if all(new is getattr(board, name) for name, new in changes.items()):
        return board
    return msgspec.structs.replace(board, **changes)
