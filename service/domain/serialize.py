"""Board <-> plain JSON-able dict: revisions store, hash and reclassify the normalized board.

``board_from_dict(board_to_dict(b)) == b`` for every board. The dict is canonical (fixed key
order, tuples as lists) so its JSON serves as the content hash input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from service.domain.board import HEADS, Board, Connector, Geometry, ImportStats, Item, ItemKind

FORMAT_VERSION = 1


class BoardFormatError(ValueError):
    """A stored board dict is not in the format ``board_to_dict`` writes."""


def _float_out(value: float) -> float | str:
    # JSON has no NaN/Infinity; geometry is finite by construction, but keep the round trip total.
    return float(value) if math.isfinite(value) else repr(float(value))


def _float_in(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BoardFormatError(f"expected a number, got {type(value).__name__}")
    try:
        return float(value)
    except ValueError as exc:
        raise BoardFormatError(f"expected a number, got {value!r}") from exc


def _geometry_to_dict(geometry: Geometry) -> dict[str, Any]:
    return {
        "x": _float_out(geometry.x),
        "y": _float_out(geometry.y),
        "width": _float_out(geometry.width),
        "height": _float_out(geometry.height),
        "rotation": _float_out(geometry.rotation),
    }


def _item_to_dict(item: Item) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": item.id,
        "kind": item.kind.value,
        "text": item.text,
        "color": item.color,
        "geometry": None if item.geometry is None else _geometry_to_dict(item.geometry),
        "containers": list(item.containers),
        "tags": list(item.tags),
        "shape": item.shape,
        "provider_type": item.provider_type,
    }
    # Written only when set: boards without provider votes keep the exact dict (and content hash)
    # they had before the field existed, so adding it makes no spurious new revisions.
    if item.votes:
        data["votes"] = item.votes
    return data


def _stats_to_dict(stats: ImportStats) -> dict[str, Any]:
    return {
        "items_read": stats.items_read,
        "unknown_types": {key: stats.unknown_types[key] for key in sorted(stats.unknown_types)},
        "unknown_fields": stats.unknown_fields,
        "skipped": [[item_id, reason] for item_id, reason in stats.skipped],
        "truncated_texts": stats.truncated_texts,
    }


def board_to_dict(board: Board) -> dict[str, Any]:
    """A JSON-able dict of ``board``; items and connectors keep their order."""
    return {
        "format": FORMAT_VERSION,
        "provider": board.provider,
        "id": board.id,
        "name": board.name,
        "items": [_item_to_dict(item) for item in board.items],
        "connectors": [_connector_to_dict(c) for c in board.connectors],
        "stats": _stats_to_dict(board.stats),
    }


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise BoardFormatError(f"{key!r} must be a string")
    return value


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise BoardFormatError(f"{key!r} must be a string or null")
    return value


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BoardFormatError(f"{key!r} must be an integer")
    return value


def _count(data: Mapping[str, Any], key: str) -> int:
    value = _int(data, key)
    if value < 0:
        raise BoardFormatError(f"{key!r} must not be negative")
    return value


def _list(data: Mapping[str, Any], key: str) -> Sequence[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise BoardFormatError(f"{key!r} must be a list")
    return value


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BoardFormatError(f"{what} must be an object")
    return value


def _strings(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    values = _list(data, key)
    if not all(isinstance(v, str) for v in values):
        raise BoardFormatError(f"{key!r} must be a list of strings")
    return tuple(values)


def _geometry_from_dict(value: object) -> Geometry | None:
    if value is None:
        return None
    data = _mapping(value, "geometry")
    return Geometry(
        x=_float_in(data.get("x")),
        y=_float_in(data.get("y")),
        width=_float_in(data.get("width")),
        height=_float_in(data.get("height")),
        rotation=_float_in(data.get("rotation", 0.0)),
    )


def _item_from_dict(value: object) -> Item:
    data = _mapping(value, "item")
    try:
        kind = ItemKind(_str(data, "kind"))
    except ValueError as exc:
        raise BoardFormatError(f"unknown item kind {data.get('kind')!r}") from exc
    return Item(
        id=_str(data, "id"),
        kind=kind,
        text=_str(data, "text"),
        color=_opt_str(data, "color"),
        geometry=_geometry_from_dict(data.get("geometry")),
        containers=_strings(data, "containers"),
        tags=_strings(data, "tags"),
        shape=_opt_str(data, "shape"),
        provider_type=_str(data, "provider_type"),
        votes=_count(data, "votes"),
    )


def _connector_to_dict(connector: Connector) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": connector.id,
        "start_id": connector.start_id,
        "end_id": connector.end_id,
        "text": connector.text,
    }
    # Written only when not the usual arrow: boards stored before the field keep their dict
    # (and content hash), so adding it makes no spurious new revisions.
    if connector.heads != "end":
        data["heads"] = connector.heads
    return data


def _connector_from_dict(value: object) -> Connector:
    data = _mapping(value, "connector")
    heads = data.get("heads", "end")
    if heads not in HEADS:
        raise BoardFormatError(f"connector heads must be one of {', '.join(HEADS)}")
    return Connector(
        id=_str(data, "id"),
        start_id=_opt_str(data, "start_id"),
        end_id=_opt_str(data, "end_id"),
        text=_str(data, "text"),
        heads=heads,
    )


def _stats_from_dict(value: object) -> ImportStats:
    data = _mapping(value, "stats")
    unknown = _mapping(data.get("unknown_types", {}), "unknown_types")
    skipped: list[tuple[str, str]] = []
    for entry in _list(data, "skipped"):
        if not (
            isinstance(entry, list) and len(entry) == 2 and all(isinstance(e, str) for e in entry)
        ):
            raise BoardFormatError("'skipped' entries must be [item id, reason]")
        skipped.append((entry[0], entry[1]))
    counts: dict[str, int] = {}
    for key, count in unknown.items():
        if isinstance(count, bool) or not isinstance(count, int):
            raise BoardFormatError("'unknown_types' counts must be integers")
        counts[str(key)] = count
    return ImportStats(
        items_read=_int(data, "items_read"),
        unknown_types=counts,
        unknown_fields=_int(data, "unknown_fields"),
        skipped=tuple(skipped),
        truncated_texts=_int(data, "truncated_texts"),
    )


def board_from_dict(data: Mapping[str, Any]) -> Board:
    """The board ``board_to_dict`` wrote. Raises ``BoardFormatError`` on anything else."""
    data = _mapping(data, "board")
    if data.get("format") != FORMAT_VERSION:
        raise BoardFormatError(f"unsupported board format {data.get('format')!r}")
    return Board(
        provider=_str(data, "provider"),
        id=_str(data, "id"),
        name=_str(data, "name"),
        items=tuple(_item_from_dict(item) for item in _list(data, "items")),
        connectors=tuple(_connector_from_dict(c) for c in _list(data, "connectors")),
        stats=_stats_from_dict(data.get("stats", {})),
    )
