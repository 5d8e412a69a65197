"""Mural dump (mural, widgets, tags) -> normalized ``Board``.

Coordinates: a widget's ``x``/``y`` is its top-left corner, relative to the top-left of the area
named by ``parentId`` (or of the mural), and areas nest (mural-api.md 3.3-3.4, from
https://developers.mural.co/public/reference/getmuralwidgets field docs). The absolute centre is
the sum of the ancestors' ``x``/``y`` plus the widget's own, plus half its size.
Arrows become connectors (``startRefId``/``endRefId``), not items.
The optional ``votes`` (``{widget id: total votes}``, the mural's voting-session results the
client adds) become ``Item.votes``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from itertools import islice
from typing import Any

from connectors.errors import DumpError
from connectors.mural import wire
from connectors.mural.wire import MuralWidget
from connectors.nesting import container_chains, resolve_nesting
from connectors.normalizing import (
    MAX_ITEMS,
    StatsCollector,
    angle,
    bounded_label,
    checked_list,
    dimension,
    paused_gc,
    validated,
)
from service.domain.board import Board, Connector, Geometry, Item, ItemKind
from service.domain.colors import nearest_color
from service.domain.text import DEFAULT_MAX_CHARS, html_to_text

_KINDS: Mapping[str, ItemKind] = {
    "sticky note": ItemKind.STICKY,
    "shape": ItemKind.SHAPE,
    "text": ItemKind.TEXT,
    "area": ItemKind.CONTAINER,
    "image": ItemKind.IMAGE,
}
# Keys that are not unknown: the ones we read plus the ones Mural documents.
_WIDGET_KEYS = wire.WIDGET_FIELDS | wire.DOCUMENTED_WIDGET_FIELDS

Point = tuple[float, float]

MAX_VOTES = 1_000_000
"""Votes on one widget above this are clamped: no workshop casts more; a bigger number is junk."""


def normalize_mural(
    dump: Mapping[str, Any], *, max_text_chars: int = DEFAULT_MAX_CHARS, consume: bool = False
) -> Board:
    """Normalize a Mural dump (``{"provider": "mural", "mural", "widgets", "tags"}``, and
    ``"votes"`` when the mural has voting results).

    With ``consume`` the caller hands the dump over and its ``widgets`` list is emptied
    (elements replaced by None) while it is read, which halves the peak memory.

    Raises ``DumpError`` when ``widgets`` (or ``tags`` when present) is not a list or there are
    more than ``MAX_ITEMS`` widgets. Anything wrong inside a widget or in ``votes`` is tolerated
    and counted in ``Board.stats``.
    """
    with paused_gc():
        return _normalize_mural(dump, max_text_chars, consume)


def _normalize_mural(dump: Mapping[str, Any], max_text_chars: int, consume: bool) -> Board:
    raw_widgets = checked_list(dump, "widgets", "Mural", required=True)
    raw_tags = checked_list(dump, "tags", "Mural")
    if len(raw_widgets) > MAX_ITEMS:
        raise DumpError(f"the dump has more than {MAX_ITEMS:,} widgets; refusing to import it")

    stats = StatsCollector(items_read=len(raw_widgets))
    mural = wire.BOARD.validate_python(dump.get("mural")) or {}

    seen: set[str] = set()
    widgets: dict[str, MuralWidget] = {}
    arrows: list[MuralWidget] = []
    for index, widget in enumerate(validated(wire.WIDGETS, raw_widgets, consume=consume)):
        if widget is None:
            stats.skip(f"widgets[{index}]", "not a JSON object")
            continue
        widget_id = widget.get("id")
        if not stats.admit(widget_id, "widgets", index, seen, "widget"):
            continue
        seen.add(widget_id)
        stats.unknown_fields += len(widget.keys() - _WIDGET_KEYS)
        if widget.get("type") == "arrow":
            arrows.append(widget)
        else:
            widgets[widget_id] = widget

    nesting = resolve_nesting(
        {widget_id: widget.get("parentId") for widget_id, widget in widgets.items()}
    )
    for widget_id, problem in nesting.problems.items():
        stats.repair(widget_id, problem + "; its coordinates are taken as absolute")
    chains = container_chains(
        nesting, {widget_id: w.get("type") == "area" for widget_id, w in widgets.items()}
    )

    corners: dict[str, Point | None] = {}
    for widget_id in nesting.order:
        widget = widgets[widget_id]
        corners[widget_id] = _corner(widget, nesting.parent[widget_id], corners)
        if corners[widget_id] is None and _has_coordinates(widget):
            stats.repair(widget_id, "position relative to an area without usable geometry")

    tag_texts = _tag_texts(wire.TAGS.validate_python(raw_tags))
    votes = _votes(dump.get("votes"), widgets.keys(), len(raw_widgets), stats)
    items: list[Item] = []
    # each wire widget is dropped once its Item is built: widgets and Items never all coexist
    for widget_id in list(widgets):
        widget = widgets.pop(widget_id)
        widget_type = widget.get("type") or ""
        kind = _KINDS.get(widget_type, ItemKind.OTHER)
        if kind is ItemKind.OTHER and widget_type not in wire.KNOWN_WIDGET_TYPES:
            stats.unknown_type(widget_type)
        text, truncated = _text(widget, widget_type, max_text_chars)
        stats.truncated_texts += truncated
        style = widget.get("style") or {}
        background = style.get("backgroundColor")
        items.append(
            Item(
                id=widget_id,
                kind=kind,
                text=text,
                color=(
                    None
                    if background is None or kind in (ItemKind.CONTAINER, ItemKind.IMAGE)
                    else nearest_color(background)
                ),
                geometry=_geometry(widget, corners[widget_id]),
                containers=chains[widget_id],
                tags=_widget_tags(widget.get("tags"), tag_texts),
                shape=bounded_label(widget.get("shape")),
                provider_type=bounded_label(widget_type) or "",
                votes=votes.get(widget_id, 0),
            )
        )

    return Board(
        provider="mural",
        id=mural.get("id") or "",
        name=html_to_text(mural.get("title") or "", 500)[0],
        items=tuple(items),
        connectors=tuple(_connector(arrow, max_text_chars) for arrow in arrows),
        stats=stats.freeze(),
    )


def _votes(
    raw: object, widget_ids: Collection[str], limit: int, stats: StatsCollector
) -> dict[str, int]:
    """Votes per widget id from the dump's ``votes``; at most ``limit`` entries are read.

    Every entry that is not ``"<id of a widget in the dump>": <non-negative whole number>`` is
    left out and counted as an unknown field, and so are the entries beyond ``limit`` (a mural
    cannot have voting results for more widgets than it has). Totals above ``MAX_VOTES`` are
    clamped and reported as repaired.
    """
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        stats.unknown_fields += 1
        return {}
    votes: dict[str, int] = {}
    for widget_id, total in islice(raw.items(), limit):
        count = _vote_count(total)
        if not isinstance(widget_id, str) or widget_id not in widget_ids or count is None:
            stats.unknown_fields += 1
            continue
        if count > MAX_VOTES:
            stats.repair(widget_id, f"more than {MAX_VOTES:,} votes, clamped to {MAX_VOTES:,}")
            count = MAX_VOTES
        if count:
            votes[widget_id] = count
    stats.unknown_fields += max(0, len(raw) - limit)
    return votes


def _vote_count(value: object) -> int | None:
    """A non-negative whole number of votes (``3`` or ``3.0``), or None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value >= 0 else None


def _has_coordinates(widget: MuralWidget) -> bool:
    return widget.get("x") is not None and widget.get("y") is not None


def _corner(
    widget: MuralWidget, parent: str | None, corners: Mapping[str, Point | None]
) -> Point | None:
    """Absolute top-left corner, or None when it is unknown or not finite."""
    x, y = widget.get("x"), widget.get("y")
    if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
        return None
    if parent is not None:
        origin = corners.get(parent)
        if origin is None:
            return None
        x += origin[0]
        y += origin[1]
        if not (math.isfinite(x) and math.isfinite(y)):
            return None
    return x, y


def _geometry(widget: MuralWidget, corner: Point | None) -> Geometry | None:
    width, height = dimension(widget.get("width")), dimension(widget.get("height"))
    if corner is None or width is None or height is None:
        return None
    x, y = corner[0] + width / 2, corner[1] + height / 2
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    return Geometry(x, y, width, height, angle(widget.get("rotation")))


def _text(widget: MuralWidget, widget_type: str, max_chars: int) -> tuple[str, bool]:
    """Plain text, ``htmlText`` first: UI edits clear ``text`` (mural-api.md 3.10)."""
    if widget_type == "area":
        candidates = [widget.get("title")]
    elif widget_type == "image":
        candidates = [widget.get("caption"), widget.get("title")]
    elif widget_type == "comment":
        candidates = [widget.get("message")]
    elif widget_type == "table cell":
        candidates = [(widget.get("textContent") or {}).get("text")]
    elif widget_type in ("sticky note", "shape", "text"):
        # Not ``title``: on these it is the outline title, not what the board shows.
        candidates = [widget.get("htmlText"), widget.get("text")]
    else:
        candidates = [widget.get("htmlText"), widget.get("text"), widget.get("title")]
    for candidate in candidates:
        if candidate:
            text, truncated = html_to_text(candidate, max_chars)
            if text:
                return text, truncated
    return "", False


def _tag_texts(tags: list[wire.MuralTag | None]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for tag in tags:
        if tag is not None and tag.get("id") and tag.get("text"):
            texts.setdefault(str(tag.get("id")), bounded_label(tag.get("text"), 120) or "")
    return texts


def _widget_tags(tag_refs: list[Any] | None, texts: Mapping[str, str]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for ref in (tag_refs or [])[:64]:
        # Tag references are ids; some clients see objects with an ``id`` (mural-api.md 3.9).
        tag_id = ref.get("id") if isinstance(ref, Mapping) else ref
        text = texts.get(tag_id) if isinstance(tag_id, str) else None
        if text:
            found[text] = None
    return tuple(found)


def _connector(arrow: MuralWidget, max_chars: int) -> Connector:
    labels = (arrow.get("label") or {}).get("labels") or []
    texts = [
        html_to_text(label.get("text") or "", max_chars)[0]
        for label in labels[:16]
        if label is not None
    ]
    return Connector(
        id=arrow.get("id") or "",
        start_id=arrow.get("startRefId") or None,
        end_id=arrow.get("endRefId") or None,
        text=" ".join(text for text in texts if text)[:max_chars],
        heads=_MURAL_HEADS.get(arrow.get("tip") or "single", "end"),
    )


# ``tip``: "no tip" | "single" (at the end) | "double" (mural-api.md 3.7)
_MURAL_HEADS = {"no tip": "none", "single": "end", "double": "both"}
