"""Miro REST v2 wire models: msgspec structs of the fields the reader reads (miro-api.md 3-5).

Every element of ``items`` and ``connectors`` is decoded on its own from its JSON bytes
(``decode_item`` / ``decode_connector``), so one broken item is listed as malformed, with the
field msgspec names, instead of failing the board. Items forbid fields Miro does not document:
the documented fields we do not read are declared as ``Raw`` (left unparsed), and an item with
other fields is decoded once more without them and their number reported, so forward-compatible
additions by Miro are counted, never fatal.

Why msgspec and not pydantic (the house default for wire models): this is the hot path of a
100,000-sticky board, and decoding straight from bytes into structs measured 2.5x faster than
pydantic ``validate_json`` into ``TypedDict``s, which put the digitizer benchmark 15-30 % over
its budget (docs/performance.md). Mural, off that path, keeps pydantic (``connectors.mural.wire``).
"""

from __future__ import annotations

import re
from typing import Generic, Literal, TypeVar

import msgspec
from msgspec import UNSET, Raw, Struct, UnsetType

# Numbers: the spec types style numbers as strings ("1.0") and some exports write coordinates so
# too; a string is converted by the reader, which lists the item as malformed if it is no number.
Number = float | str | None
# Ids are numeric strings in the spec.
Id = str | None
T = TypeVar("T")


# gc=False: structs of strings and numbers hold no cycles, and 100,000s of them tracked by the
# collector would make every collection walk them all.
class MiroRef(Struct, gc=False):
    id: Id = None


class MiroItemData(Struct, gc=False):
    content: str | None = None
    title: str | None = None
    description: str | None = None
    shape: str | None = None


class MiroItemStyle(Struct, gc=False):
    fillColor: str | None = None
    fillOpacity: Number = None
    cardTheme: str | None = None


class MiroPosition(Struct, gc=False):
    """Item centre; relative to the board centre or, for children, the parent's top-left."""

    x: Number = None
    y: Number = None
    relativeTo: str | None = None


class MiroGeometry(Struct, gc=False):
    """A size may be missing (UNSET: not every type has both); ``null`` is not a size."""

    width: Number | UnsetType = UNSET
    height: Number | UnsetType = UNSET
    rotation: Number = None


class MiroItem(Struct, forbid_unknown_fields=True, gc=False):
    """One element of ``data[]`` from ``GET /v2/boards/{id}/items``: the fields read, and the
    documented ones left unparsed (``Raw``)."""

    id: Id = None
    type: str | None = None
    data: MiroItemData | None = None
    style: MiroItemStyle | None = None
    position: MiroPosition | None = None
    geometry: MiroGeometry | None = None
    parent: MiroRef | None = None
    createdAt: Raw = Raw()
    createdBy: Raw = Raw()
    modifiedAt: Raw = Raw()
    modifiedBy: Raw = Raw()
    links: Raw = Raw()
    isSupported: Raw = Raw()


class MiroCaption(Struct, gc=False):
    content: str | None = None


class MiroConnectorStyle(Struct, gc=False):
    """The arrowheads: ``none`` or a cap such as ``stealth``; Miro's defaults are start ``none``,
    end ``stealth`` (miro-api.md 4)."""

    startStrokeCap: str | None = None
    endStrokeCap: str | None = None


class MiroConnector(Struct, forbid_unknown_fields=True, gc=False):
    """One element of ``data[]`` from ``GET /v2/boards/{id}/connectors``."""

    id: Id = None
    startItem: MiroRef | None = None
    endItem: MiroRef | None = None
    captions: list[MiroCaption | None] | None = None
    style: MiroConnectorStyle | None = None
    type: Raw = Raw()
    shape: Raw = Raw()
    isSupported: Raw = Raw()
    createdAt: Raw = Raw()
    createdBy: Raw = Raw()
    modifiedAt: Raw = Raw()
    modifiedBy: Raw = Raw()
    links: Raw = Raw()


class MiroTag(Struct, gc=False):
    id: Id = None
    title: str | None = None


class MiroBoard(Struct, gc=False):
    """``GET /v2/boards/{id}``."""

    id: Id = None
    name: str | None = None


# Item types in the v2 spec (miro-api.md 3.1); any other type is counted as unknown.
KNOWN_ITEM_TYPES = frozenset(
    {
        "text",
        "shape",
        "sticky_note",
        "image",
        "document",
        "card",
        "app_card",
        "preview",
        "frame",
        "embed",
        "doc_format",
        "data_table_format",
    }
)


class Decoded(Struct, Generic[T], frozen=True):
    """An element decoded: ``value`` (None when malformed), the number of unknown fields left
    out, and for a malformed element the field (``geometry.width``) and the problem."""

    value: T | None
    unknown_fields: int = 0
    field: str = ""
    problem: str = ""
    element_id: str | None = None


ITEM = msgspec.json.Decoder(MiroItem)
"""Decodes a well-formed item; ``decode_item`` reads any element, at a higher cost."""
CONNECTOR = msgspec.json.Decoder(MiroConnector)
_ANY = msgspec.json.Decoder()
_ITEM_FIELDS = frozenset(MiroItem.__struct_fields__)
_CONNECTOR_FIELDS = frozenset(MiroConnector.__struct_fields__)
_AT = re.compile(r" - at `\$\.?([^`]*)`$")


def decode_item(raw: Raw | bytes) -> Decoded[MiroItem]:
    """One ``items`` element from its JSON bytes, whatever they hold."""
    return _decode(raw, ITEM, _ITEM_FIELDS)


def decode_connector(raw: Raw | bytes) -> Decoded[MiroConnector]:
    """One ``connectors`` element from its JSON bytes, whatever they hold."""
    return _decode(raw, CONNECTOR, _CONNECTOR_FIELDS)


def _decode(
    raw: Raw | bytes, decoder: msgspec.json.Decoder[T], known: frozenset[str]
) -> Decoded[T]:
    try:
        return Decoded(decoder.decode(raw))
    except msgspec.ValidationError as exc:
        error = exc
    value = _ANY.decode(raw)
    if not isinstance(value, dict):
        return Decoded(None, field="", problem="not a JSON object")
    element_id = value.get("id") if isinstance(value.get("id"), str) else None
    unknown = value.keys() - known
    if unknown:
        # fields Miro added since: counted and left out, the rest decoded as usual
        try:
            kept = {key: inner for key, inner in value.items() if key in known}
            return Decoded(decoder.decode(msgspec.json.encode(kept)), len(unknown))
        except msgspec.ValidationError as again:
            error = again
    field, problem = _where(error)
    return Decoded(None, len(unknown), field, problem, element_id)


def _where(error: msgspec.ValidationError) -> tuple[str, str]:
    """(field, problem) of a msgspec validation error: ``("geometry.width", "Expected ...")``."""
    message = str(error)
    match = _AT.search(message)
    if match is None:
        return "", message
    return match.group(1), message[: match.start()]


_BOARD = msgspec.json.Decoder(MiroBoard)
_TAG = msgspec.json.Decoder(MiroTag)


class MiroDumpParts(Struct):
    """The top level of a Miro dump file whose parts have the right JSON types, read in one
    pass: the lists split into their elements' JSON bytes, ``board`` and ``item_tags`` kept as
    JSON bytes (empty when missing). Splitting the top level first and each list after walked
    the items' bytes twice before they were decoded (bench/digitize.py)."""

    provider: Literal["miro"]
    board: Raw
    items: list[Raw]
    connectors: list[Raw] | None = None
    tags: list[Raw] | None = None
    item_tags: Raw = Raw(b"")


DUMP_PARTS = msgspec.json.Decoder(MiroDumpParts)
"""Raises ``msgspec.ValidationError`` for anything else (another provider, a part of the wrong
type, a missing ``board`` or ``items``): the general path reads it and names what is wrong."""


def decode_board(raw: Raw | bytes) -> MiroBoard:
    """The board object; an empty one when it is missing or malformed."""
    try:
        return _BOARD.decode(raw) if raw else MiroBoard()
    except msgspec.ValidationError:
        return MiroBoard()


def decode_tags(elements: list[Raw]) -> list[MiroTag]:
    """The tags (each element's JSON bytes) that are well-formed objects; the others are left
    out."""
    tags: list[MiroTag] = []
    for element in elements:
        try:
            tags.append(_TAG.decode(element))
        except msgspec.ValidationError:
            continue
    return tags


def to_float(value: float | str | None) -> float | None:
    """A wire number as float: numbers as they are, numeric strings parsed; None otherwise."""
    if value is None or isinstance(value, float):
        return value
    try:
        return float(value)
    except ValueError:
        return None
