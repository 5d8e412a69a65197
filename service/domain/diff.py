"""Two revisions of one board -> what changed: items, steps, problems and metric deltas.

``diff_revisions`` compares the normalized boards (items by provider item id) and the contract v1
documents (steps, problems and metrics). Matching uses dicts keyed by id, title or text, so the
cost is O(n log n) in the number of items (the sort of each list). Every list in the result is
cut at ``limit`` entries; ``counts`` always holds the full numbers, so a client sees that a list
was cut by comparing its length with its count.

Board texts are untrusted: the result carries them as plain strings, cut at ``TEXT_LIMIT``
characters; escaping is the job of whoever prints them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any, TypeVar

from service.domain.board import Board, Geometry, Item
from service.domain.contract_model import (
    Contract,
    ContractMetrics,
    ContractProblem,
    ContractStep,
    ContractStream,
)

Json = dict[str, Any]

# Canvas units an item may shift or resize (and degrees it may turn) without counting as changed:
# providers round coordinates differently between exports, and a nudge is not a change.
GEOMETRY_TOLERANCE = 1.0
ROTATION_TOLERANCE = 0.5
# Longest board text a diff entry carries.
TEXT_LIMIT = 200
# Default cap on the entries of each list in the result.
DEFAULT_LIMIT = 500

ITEM_FIELDS = ("kind", "text", "color", "geometry", "container", "tags")
METRIC_FIELDS = (
    "step_count",
    "value_adding_steps",
    "non_value_adding_steps",
    "total_process_time_min",
    "total_lead_time_min",
    "activity_ratio",
    "rolled_complete_accurate",
    "handoffs",
    "problem_count",
    "problem_weight",
)


def _clip(text: object) -> str:
    value = text if isinstance(text, str) else ("" if text is None else str(text))
    return value if len(value) <= TEXT_LIMIT else value[: TEXT_LIMIT - 1] + "\u2026"


def _key(text: object) -> str:
    """Matching key for titles and texts: case-folded, whitespace collapsed."""
    return " ".join(str(text or "").split()).casefold()


def _geometry_changed(old: Geometry | None, new: Geometry | None) -> bool:
    if old is None or new is None:
        return (old is None) != (new is None)
    pairs = ((old.x, new.x), (old.y, new.y), (old.width, new.width), (old.height, new.height))
    for a, b in pairs:
        if math.isfinite(a) and math.isfinite(b):
            if abs(a - b) > GEOMETRY_TOLERANCE:
                return True
        elif repr(a) != repr(b):  # NaN != NaN, yet two NaNs are no change
            return True
    return abs(old.rotation - new.rotation) > ROTATION_TOLERANCE


def _geometry_json(geometry: Geometry | None) -> Json | None:
    if geometry is None:
        return None

    def num(value: float) -> float | None:
        return round(value, 2) if math.isfinite(value) else None

    return {
        "x": num(geometry.x),
        "y": num(geometry.y),
        "width": num(geometry.width),
        "height": num(geometry.height),
    }


def _item_values(item: Item, field: str) -> object:
    if field == "kind":
        return item.kind.value
    if field == "text":
        return _clip(item.text)
    if field == "color":
        return item.color
    if field == "geometry":
        return _geometry_json(item.geometry)
    if field == "container":
        return item.parent_id
    return sorted(item.tags)


def _changed_fields(old: Item, new: Item) -> list[str]:
    changed = []
    if old.kind != new.kind:
        changed.append("kind")
    if old.text != new.text:
        changed.append("text")
    if old.color != new.color:
        changed.append("color")
    if _geometry_changed(old.geometry, new.geometry):
        changed.append("geometry")
    if old.parent_id != new.parent_id:
        changed.append("container")
    if sorted(set(old.tags)) != sorted(set(new.tags)):
        changed.append("tags")
    return changed


def _item_entry(item: Item) -> Json:
    return {"id": item.id, "kind": item.kind.value, "text": _clip(item.text)}


def _diff_items(old: Board, new: Board, limit: int) -> tuple[Json, Json]:
    old_items = old.by_id()
    new_items = new.by_id()
    added = sorted(set(new_items) - set(old_items))
    removed = sorted(set(old_items) - set(new_items))
    changed: list[Json] = []
    changed_count = 0
    for item_id in sorted(set(old_items) & set(new_items)):
        before, after = old_items[item_id], new_items[item_id]
        fields = _changed_fields(before, after)
        if not fields:
            continue
        changed_count += 1
        if len(changed) < limit:
            changed.append(
                {
                    **_item_entry(after),
                    "fields": fields,
                    "before": {f: _item_values(before, f) for f in fields},
                    "after": {f: _item_values(after, f) for f in fields},
                }
            )
    section = {
        "added": [_item_entry(new_items[i]) for i in added[:limit]],
        "removed": [_item_entry(old_items[i]) for i in removed[:limit]],
        "changed": changed,
    }
    counts = {"added": len(added), "removed": len(removed), "changed": changed_count}
    return section, counts


def _match_streams(
    old: Sequence[ContractStream], new: Sequence[ContractStream]
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pairs of (old index, new index) matched by stream id, then by (name, state)."""
    pairs: list[tuple[int, int]] = []
    new_by_id: dict[str, int] = {}
    for index, stream in enumerate(new):
        new_by_id.setdefault(stream.id, index)
    used_new: set[int] = set()
    left_old: list[int] = []
    for index, stream in enumerate(old):
        match = new_by_id.get(stream.id)
        if match is not None and match not in used_new:
            pairs.append((index, match))
            used_new.add(match)
        else:
            left_old.append(index)
    by_name: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, stream in enumerate(new):
        if index not in used_new:
            by_name[(_key(stream.name), str(stream.state))].append(index)
    unmatched_old: list[int] = []
    for index in left_old:
        stream = old[index]
        candidates = by_name.get((_key(stream.name), str(stream.state)))
        if candidates:
            match = candidates.pop(0)
            pairs.append((index, match))
            used_new.add(match)
        else:
            unmatched_old.append(index)
    unmatched_new = [index for index in range(len(new)) if index not in used_new]
    return sorted(pairs), unmatched_old, unmatched_new


Entry = TypeVar("Entry", ContractStep, ContractProblem)


def _located(
    streams: Sequence[ContractStream], entries: Callable[[ContractStream], Sequence[Entry]]
) -> list[tuple[int, Entry]]:
    """(stream index, entry) for every step or problem of every stream, in document order."""
    return [(index, entry) for index, stream in enumerate(streams) for entry in entries(stream)]


def _match_entries(
    old: list[tuple[int, Entry]],
    new: list[tuple[int, Entry]],
    stream_pairs: Iterable[tuple[int, int]],
    text: Callable[[Entry], str],
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Match entries by their own source item first, then by text inside matched streams.

    Returns pairs of indexes into ``old`` and ``new`` and the unmatched indexes of each side.
    """
    new_by_source: dict[str, int] = {}
    for index, (_, entry) in enumerate(new):
        if entry.source_item_ids:
            new_by_source.setdefault(entry.source_item_ids[0], index)
    pairs: list[tuple[int, int]] = []
    used_new: set[int] = set()
    left_old: list[int] = []
    for index, (_, entry) in enumerate(old):
        sources = entry.source_item_ids
        match = new_by_source.get(sources[0]) if sources else None
        if match is not None and match not in used_new:
            pairs.append((index, match))
            used_new.add(match)
        else:
            left_old.append(index)
    stream_of_old = dict(stream_pairs)
    by_text: dict[tuple[int, str], list[int]] = defaultdict(list)
    for index, (stream, entry) in enumerate(new):
        if index not in used_new:
            by_text[(stream, _key(text(entry)))].append(index)
    unmatched_old: list[int] = []
    for index in left_old:
        stream, entry = old[index]
        new_stream = stream_of_old.get(stream)
        candidates = (
            by_text.get((new_stream, _key(text(entry))))
            if new_stream is not None and _key(text(entry))
            else None
        )
        if candidates:
            match = candidates.pop(0)
            pairs.append((index, match))
            used_new.add(match)
        else:
            unmatched_old.append(index)
    unmatched_new = [index for index in range(len(new)) if index not in used_new]
    return sorted(pairs), unmatched_old, unmatched_new


def _step_entry(stream: ContractStream, step: ContractStep) -> Json:
    return {
        "stream_id": stream.id,
        "id": step.id,
        "title": _clip(step.title),
        "order": step.order,
        "lane": step.lane,
    }


def _diff_steps(
    old_streams: Sequence[ContractStream],
    new_streams: Sequence[ContractStream],
    stream_pairs: Sequence[tuple[int, int]],
    limit: int,
) -> tuple[Json, Json]:
    old = _located(old_streams, attrgetter("steps"))
    new = _located(new_streams, attrgetter("steps"))
    pairs, removed, added = _match_entries(old, new, stream_pairs, attrgetter("title"))
    stream_of_old = dict(stream_pairs)
    moved: list[Json] = []
    retitled: list[Json] = []
    moved_count = retitled_count = 0
    for old_index, new_index in pairs:
        (old_stream, before), (new_stream, after) = old[old_index], new[new_index]
        fields = []
        if stream_of_old.get(old_stream) != new_stream:
            fields.append("stream")
        if before.order != after.order:
            fields.append("order")
        if before.lane != after.lane:
            fields.append("lane")
        if fields:
            moved_count += 1
            if len(moved) < limit:
                moved.append(
                    {
                        **_step_entry(new_streams[new_stream], after),
                        "fields": fields,
                        "from": {
                            "stream_id": old_streams[old_stream].id,
                            "order": before.order,
                            "lane": before.lane,
                        },
                    }
                )
        if _key(before.title) != _key(after.title):
            retitled_count += 1
            if len(retitled) < limit:
                retitled.append(
                    {
                        **_step_entry(new_streams[new_stream], after),
                        "old_title": _clip(before.title),
                    }
                )
    section = {
        "added": [_step_entry(new_streams[new[i][0]], new[i][1]) for i in added[:limit]],
        "removed": [_step_entry(old_streams[old[i][0]], old[i][1]) for i in removed[:limit]],
        "moved": moved,
        "retitled": retitled,
    }
    counts = {
        "added": len(added),
        "removed": len(removed),
        "moved": moved_count,
        "retitled": retitled_count,
    }
    return section, counts


def _problem_entry(stream: ContractStream, problem: ContractProblem) -> Json:
    return {
        "stream_id": stream.id,
        "id": problem.id,
        "text": _clip(problem.text),
        "step_id": problem.step_id,
        "weight": problem.weight,
    }


def _diff_problems(
    old_streams: Sequence[ContractStream],
    new_streams: Sequence[ContractStream],
    stream_pairs: Sequence[tuple[int, int]],
    limit: int,
) -> tuple[Json, Json]:
    old = _located(old_streams, attrgetter("problems"))
    new = _located(new_streams, attrgetter("problems"))
    pairs, removed, added = _match_entries(old, new, stream_pairs, attrgetter("text"))
    reweighted: list[Json] = []
    count = 0
    for old_index, new_index in pairs:
        (_, before), (new_stream, after) = old[old_index], new[new_index]
        if before.weight == after.weight:
            continue
        count += 1
        if len(reweighted) < limit:
            entry = _problem_entry(new_streams[new_stream], after)
            del entry["weight"]
            reweighted.append({**entry, "old_weight": before.weight, "new_weight": after.weight})
    section = {
        "added": [_problem_entry(new_streams[new[i][0]], new[i][1]) for i in added[:limit]],
        "removed": [_problem_entry(old_streams[old[i][0]], old[i][1]) for i in removed[:limit]],
        "reweighted": reweighted,
    }
    counts = {"added": len(added), "removed": len(removed), "reweighted": count}
    return section, counts


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def metric_delta(old: object, new: object) -> Json:
    """``{"old", "new", "delta", "pct"}``; delta and percent are null unless both are known.

    ``pct`` is the change relative to ``old`` in percent (null when ``old`` is 0).
    """
    a, b = _number(old), _number(new)
    delta = pct = None
    if a is not None and b is not None:
        delta = round(b - a, 4) + 0.0
        pct = round((b - a) / abs(a) * 100, 1) + 0.0 if a != 0 else None
    return {
        "old": old if a is not None else None,
        "new": new if b is not None else None,
        "delta": delta,
        "pct": pct,
    }


def _stream_head(stream: ContractStream) -> Json:
    return {"stream_id": stream.id, "name": _clip(stream.name), "state": stream.state}


def _metric_deltas(before: ContractMetrics | None, after: ContractMetrics | None) -> Json:
    """``metric_delta`` of every metric; None stands for a stream on one side only."""
    return {
        name: metric_delta(
            getattr(before, name) if before is not None else None,
            getattr(after, name) if after is not None else None,
        )
        for name in METRIC_FIELDS
    }


def _diff_metrics(
    old_streams: Sequence[ContractStream],
    new_streams: Sequence[ContractStream],
    stream_pairs: Sequence[tuple[int, int]],
    unmatched_old: Sequence[int],
    unmatched_new: Sequence[int],
    limit: int,
) -> list[Json]:
    rows: list[Json] = []
    for old_index, new_index in stream_pairs:
        before, after = old_streams[old_index], new_streams[new_index]
        rows.append(
            {
                **_stream_head(after),
                "status": "kept",
                "metrics": _metric_deltas(before.metrics, after.metrics),
            }
        )
    for index in unmatched_new:
        stream = new_streams[index]
        rows.append(
            {
                **_stream_head(stream),
                "status": "added",
                "metrics": _metric_deltas(None, stream.metrics),
            }
        )
    for index in unmatched_old:
        stream = old_streams[index]
        rows.append(
            {
                **_stream_head(stream),
                "status": "removed",
                "metrics": _metric_deltas(stream.metrics, None),
            }
        )
    return rows[:limit]


def diff_revisions(
    old_board: Board,
    new_board: Board,
    old_doc: Contract,
    new_doc: Contract,
    *,
    limit: int = DEFAULT_LIMIT,
) -> Json:
    """What changed from the old revision to the new one, as a JSON-able dict.

    Keys: ``items`` (``added``/``removed``/``changed``, by provider item id; ``changed`` names
    the ``fields`` among ``ITEM_FIELDS`` with their ``before``/``after`` values; geometry counts
    only beyond ``GEOMETRY_TOLERANCE``), ``steps`` (``added``/``removed``/``moved``/``retitled``;
    matched by the step's own source item, then by title inside matched streams; moved = stream,
    order or lane changed), ``problems`` (``added``/``removed``/``reweighted`` with old and new
    weight), ``metrics`` (one row per stream, matched by id then name and state, with
    ``metric_delta`` per metric), ``counts`` (full sizes of every list) and ``limit``.
    Lists are sorted by id (items) or document order (steps, problems, streams).
    """
    if limit < 0:
        raise ValueError("limit must not be negative")
    items, item_counts = _diff_items(old_board, new_board, limit)
    old_streams, new_streams = old_doc.streams, new_doc.streams
    stream_pairs, unmatched_old, unmatched_new = _match_streams(old_streams, new_streams)
    steps, step_counts = _diff_steps(old_streams, new_streams, stream_pairs, limit)
    problems, problem_counts = _diff_problems(old_streams, new_streams, stream_pairs, limit)
    metrics = _diff_metrics(
        old_streams, new_streams, stream_pairs, unmatched_old, unmatched_new, limit
    )
    return {
        "items": items,
        "steps": steps,
        "problems": problems,
        "metrics": metrics,
        "counts": {
            "items": item_counts,
            "steps": step_counts,
            "problems": problem_counts,
            "streams": {
                "kept": len(stream_pairs),
                "added": len(unmatched_new),
                "removed": len(unmatched_old),
            },
        },
        "limit": limit,
    }


def is_empty(diff: Mapping[str, Any]) -> bool:
    """True when ``diff`` (from ``diff_revisions``) records no change at all."""
    counts = diff["counts"]
    if any(any(counts[section].values()) for section in ("items", "steps", "problems")):
        return False
    if counts["streams"]["added"] or counts["streams"]["removed"]:
        return False
    return not any(
        row["status"] == "kept" and any(m["old"] != m["new"] for m in row["metrics"].values())
        for row in diff["metrics"]
    )
