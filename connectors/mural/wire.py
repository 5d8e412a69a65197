"""Mural public API v1 wire models: only the fields the normalizer reads (mural-api.md §3).

Other fields stay in the validated dicts; ``DOCUMENTED_WIDGET_FIELDS`` lists the fields Mural
documents but we do not read, so only truly unknown fields are counted.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import TypeAdapter, with_config
from typing_extensions import TypedDict

from connectors.wire import NONE_ON_ERROR, WIRE_CONFIG, LooseFloat, LooseStr


@with_config(WIRE_CONFIG)
class MuralStyle(TypedDict, total=False):
    backgroundColor: LooseStr


@with_config(WIRE_CONFIG)
class MuralLabelText(TypedDict, total=False):
    text: LooseStr


@with_config(WIRE_CONFIG)
class MuralLabel(TypedDict, total=False):
    labels: Annotated[list[Annotated[MuralLabelText | None, NONE_ON_ERROR]] | None, NONE_ON_ERROR]


@with_config(WIRE_CONFIG)
class MuralTextContent(TypedDict, total=False):
    text: LooseStr


@with_config(WIRE_CONFIG)
class MuralWidget(TypedDict, total=False):
    """One element of ``value[]`` from ``GET /murals/{id}/widgets``.

    ``x``/``y`` are the top-left corner relative to the parent area's top-left (§3.4).
    ``tags`` holds tag ids (strings, or objects with an ``id``: both are seen).
    """

    id: LooseStr
    type: LooseStr
    x: LooseFloat
    y: LooseFloat
    width: LooseFloat
    height: LooseFloat
    rotation: LooseFloat
    parentId: LooseStr
    text: LooseStr
    htmlText: LooseStr
    title: LooseStr
    caption: LooseStr
    message: LooseStr
    shape: LooseStr
    tags: Annotated[list[Any] | None, NONE_ON_ERROR]
    style: Annotated[MuralStyle | None, NONE_ON_ERROR]
    startRefId: LooseStr
    endRefId: LooseStr
    tip: LooseStr
    label: Annotated[MuralLabel | None, NONE_ON_ERROR]
    textContent: Annotated[MuralTextContent | None, NONE_ON_ERROR]


@with_config(WIRE_CONFIG)
class MuralTag(TypedDict, total=False):
    id: LooseStr
    text: LooseStr


@with_config(WIRE_CONFIG)
class MuralBoard(TypedDict, total=False):
    """``GET /murals/{id}``."""

    id: LooseStr
    title: LooseStr


# Whole lists in one call: a non-object element becomes None (reported by the normalizer).
WIDGETS = TypeAdapter(list[Annotated[MuralWidget | None, NONE_ON_ERROR]])
TAGS = TypeAdapter(list[Annotated[MuralTag | None, NONE_ON_ERROR]])
BOARD = TypeAdapter(Annotated[MuralBoard | None, NONE_ON_ERROR])

WIDGET_FIELDS = frozenset(MuralWidget.__annotations__)
DOCUMENTED_WIDGET_FIELDS = frozenset(
    {
        # common (§3.3)
        "stackingOrder",
        "presentationIndex",
        "hidden",
        "invisible",
        "locked",
        "lockedByFacilitator",
        "hideOwner",
        "hideEditor",
        "instruction",
        "createdOn",
        "updatedOn",
        "contentEditedOn",
        "createdBy",
        "updatedBy",
        "contentEditedBy",
        # sticky, text, shape, area (§3.5, §3.6)
        "hyperlink",
        "hyperlinkTitle",
        "minLines",
        "fixedWidth",
        "showTitle",
        "layout",
        # arrow (§3.7)
        "arrowType",
        "points",
        "stackable",
        # image, comment, file, table, icon (§3.8)
        "url",
        "expiresInMinutes",
        "thumbnailUrl",
        "naturalWidth",
        "naturalHeight",
        "aspectRatio",
        "mask",
        "border",
        "description",
        "showCaption",
        "link",
        "referenceWidgetId",
        "replies",
        "resolvedBy",
        "resolvedOn",
        "timestamp",
        "columns",
        "rows",
        "autoResize",
        "columnId",
        "rowId",
        "colSpan",
        "rowSpan",
        "textContent",
        "name",
    }
)

# Widget types seen on returned widgets (§3.2); any other type is counted as unknown.
KNOWN_WIDGET_TYPES = frozenset(
    {
        "sticky note",
        "text",
        "shape",
        "area",
        "arrow",
        "image",
        "comment",
        "file",
        "icon",
        "table",
        "table cell",
    }
)
