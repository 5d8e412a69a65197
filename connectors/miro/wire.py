"""Miro REST v2 wire models: only the fields the normalizer reads (miro-api.md sections 3-5).

Items drop the other fields when validated (``ITEM_CONFIG``); other models keep them. The
normalizer counts fields that are neither read nor in ``DOCUMENTED_*`` (fields Miro documents but
we do not read) as unknown.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, TypeAdapter, with_config
from typing_extensions import TypedDict

from connectors.wire import NONE_ON_ERROR, WIRE_CONFIG, LooseFloat, LooseStr

ITEM_CONFIG = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
"""Config of the item models: a board has 100,000s of items, and copying the fields nobody reads
(authors, timestamps, text alignment) into every validated dict costs a third of validating it.
The normalizer counts unknown item fields on the raw dicts instead."""


@with_config(ITEM_CONFIG)
class MiroPosition(TypedDict, total=False):
    """Item centre; relative to the board centre or, for frame children, the frame's top-left."""

    x: LooseFloat
    y: LooseFloat
    relativeTo: LooseStr


@with_config(ITEM_CONFIG)
class MiroGeometry(TypedDict, total=False):
    width: LooseFloat
    height: LooseFloat
    rotation: LooseFloat


@with_config(ITEM_CONFIG)
class MiroRef(TypedDict, total=False):
    id: LooseStr


@with_config(ITEM_CONFIG)
class MiroItemData(TypedDict, total=False):
    content: LooseStr
    title: LooseStr
    description: LooseStr  # cards and app cards
    shape: LooseStr


@with_config(ITEM_CONFIG)
class MiroItemStyle(TypedDict, total=False):
    fillColor: LooseStr
    fillOpacity: LooseFloat
    cardTheme: LooseStr


@with_config(ITEM_CONFIG)
class MiroItem(TypedDict, total=False):
    """One element of ``data[]`` from ``GET /v2/boards/{id}/items``."""

    id: LooseStr
    type: LooseStr
    data: Annotated[MiroItemData | None, NONE_ON_ERROR]
    style: Annotated[MiroItemStyle | None, NONE_ON_ERROR]
    position: Annotated[MiroPosition | None, NONE_ON_ERROR]
    geometry: Annotated[MiroGeometry | None, NONE_ON_ERROR]
    parent: Annotated[MiroRef | None, NONE_ON_ERROR]


@with_config(WIRE_CONFIG)
class MiroCaption(TypedDict, total=False):
    content: LooseStr


@with_config(WIRE_CONFIG)
class MiroConnectorStyle(TypedDict, total=False):
    """The arrowheads: ``none`` or a cap such as ``stealth``; Miro's defaults are start ``none``,
    end ``stealth`` (miro-api.md 4)."""

    startStrokeCap: LooseStr
    endStrokeCap: LooseStr


@with_config(WIRE_CONFIG)
class MiroConnector(TypedDict, total=False):
    """One element of ``data[]`` from ``GET /v2/boards/{id}/connectors``."""

    id: LooseStr
    startItem: Annotated[MiroRef | None, NONE_ON_ERROR]
    endItem: Annotated[MiroRef | None, NONE_ON_ERROR]
    captions: Annotated[list[Annotated[MiroCaption | None, NONE_ON_ERROR]] | None, NONE_ON_ERROR]
    style: Annotated[MiroConnectorStyle | None, NONE_ON_ERROR]


@with_config(WIRE_CONFIG)
class MiroTag(TypedDict, total=False):
    id: LooseStr
    title: LooseStr


@with_config(WIRE_CONFIG)
class MiroBoard(TypedDict, total=False):
    """``GET /v2/boards/{id}``."""

    id: LooseStr
    name: LooseStr


# Whole lists in one call: a non-object element becomes None (reported by the normalizer).
ITEMS = TypeAdapter(list[Annotated[MiroItem | None, NONE_ON_ERROR]])
CONNECTORS = TypeAdapter(list[Annotated[MiroConnector | None, NONE_ON_ERROR]])
TAGS = TypeAdapter(list[Annotated[MiroTag | None, NONE_ON_ERROR]])
BOARD = TypeAdapter(Annotated[MiroBoard | None, NONE_ON_ERROR])

ITEM_FIELDS = frozenset(MiroItem.__annotations__)
CONNECTOR_FIELDS = frozenset(MiroConnector.__annotations__)
DOCUMENTED_ITEM_FIELDS = frozenset(
    {"createdAt", "createdBy", "modifiedAt", "modifiedBy", "links", "isSupported"}
)
DOCUMENTED_CONNECTOR_FIELDS = frozenset(
    {
        "type",
        "shape",
        "isSupported",
        "style",
        "createdAt",
        "createdBy",
        "modifiedAt",
        "modifiedBy",
        "links",
    }
)

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

_LOOSE_FLOAT = TypeAdapter(LooseFloat)


def loose_float(value: object) -> float | None:
    """One value as a ``LooseFloat`` field reads it (numeric strings such as ``"1.0"`` too)."""
    return _LOOSE_FLOAT.validate_python(value)
