"""Contract v1 documents as typed values, decoded once and read by render, export and diff.

``decode_contract`` turns a contract v1 dict (``schema/contract-v1.json``; from ``digitize`` or
read back from storage) into frozen dataclasses. The decoder is driven by the annotations: a
field of the schema is one annotated line with a default, and nothing else has to change.

Decoding is tolerant, because stored documents outlive the code that wrote them and the
renderers must show whatever they are given: keys the model does not know are ignored (so
additive schema fields never break a reader), a missing key or a value of the wrong type gives
the field's default (numbers must be finite; booleans are never numbers), and list entries of
the wrong shape are left out. Only a document (or stream) that is not a mapping is refused, with
``TypeError``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

# what a coercer returns for a value it cannot use: the field keeps its default
_UNUSABLE: Any = object()


@dataclass(frozen=True, slots=True)
class ContractBoard:
    provider: str = ""
    id: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class ContractStep:
    """Times are minutes, ``complete_accurate_pct`` a percent; None = not stated (or unusable)."""

    id: str = ""
    order: int | None = None
    title: str = ""
    lane: str | None = None
    value_adding: bool | None = None
    process_time_min: float | None = None
    lead_time_min: float | None = None
    wait_time_min: float | None = None
    complete_accurate_pct: float | None = None
    source_item_ids: tuple[str, ...] = ()
    problem_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ContractProblem:
    id: str = ""
    text: str = ""
    step_id: str | None = None
    weight: int | None = None
    source_item_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ContractIdea:
    id: str = ""
    text: str = ""
    step_id: str | None = None
    source_item_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ContractMetrics:
    """``activity_ratio`` and ``rolled_complete_accurate`` are fractions (0-1)."""

    step_count: int | None = None
    value_adding_steps: int | None = None
    non_value_adding_steps: int | None = None
    total_process_time_min: float | None = None
    total_lead_time_min: float | None = None
    activity_ratio: float | None = None
    rolled_complete_accurate: float | None = None
    handoffs: int | None = None
    problem_count: int | None = None
    problem_weight: int | None = None


@dataclass(frozen=True, slots=True)
class ContractStream:
    id: str = ""
    name: str = ""
    state: str | None = None
    frame_id: str | None = None
    persona: str | None = None
    lanes: tuple[str, ...] = ()
    steps: tuple[ContractStep, ...] = ()
    problems: tuple[ContractProblem, ...] = ()
    ideas: tuple[ContractIdea, ...] = ()
    metrics: ContractMetrics = ContractMetrics()


@dataclass(frozen=True, slots=True)
class ComparedStep:
    """A kept, removed or added step of a comparison; each kind fills its own fields."""

    current_step_id: str | None = None
    target_step_id: str | None = None
    current_title: str | None = None
    target_title: str | None = None
    similarity: float | None = None
    lead_time_change_min: float | None = None
    lead_time_change_pct: float | None = None
    process_time_change_min: float | None = None
    process_time_change_pct: float | None = None
    lead_time_min: float | None = None
    process_time_min: float | None = None


@dataclass(frozen=True, slots=True)
class ComparisonPair:
    """One current/target pair of streams."""

    current_stream_id: str | None = None
    current_stream_name: str | None = None
    target_stream_id: str | None = None
    target_stream_name: str | None = None
    kept: tuple[ComparedStep, ...] = ()
    removed: tuple[ComparedStep, ...] = ()
    added: tuple[ComparedStep, ...] = ()
    lead_time_change_min: float | None = None
    lead_time_change_pct: float | None = None
    process_time_change_min: float | None = None
    process_time_change_pct: float | None = None
    exhaustive: bool | None = None


@dataclass(frozen=True, slots=True)
class ContractComparison(ComparisonPair):
    """The document's comparison: its first pair, with the board's other pairs."""

    other_pairs: tuple[ComparisonPair, ...] = ()


@dataclass(frozen=True, slots=True)
class ContractUnclassified:
    item_id: str = ""
    text: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ContractDecision:
    item_id: str = ""
    role: str | None = None
    rule: str = ""
    why: str = ""


@dataclass(frozen=True, slots=True)
class ContractSkip:
    item_id: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ContractRepair:
    item_id: str = ""
    repair: str = ""


@dataclass(frozen=True, slots=True)
class ContractStats:
    items_read: int | None = None
    items: int | None = None
    connectors: int | None = None
    unknown_types: Mapping[str, int] = dataclasses.field(default_factory=dict)
    unknown_fields: int | None = None
    truncated_texts: int | None = None
    skipped: tuple[ContractSkip, ...] = ()
    repaired: tuple[ContractRepair, ...] = ()


@dataclass(frozen=True, slots=True)
class ContractWarning:
    code: str = ""
    message: str = ""
    item_ids: tuple[str, ...] = ()
    fix: str = ""


@dataclass(frozen=True, slots=True)
class Contract:
    schema_version: int | None = None
    board: ContractBoard = ContractBoard()
    streams: tuple[ContractStream, ...] = ()
    comparison: ContractComparison | None = None
    unclassified: tuple[ContractUnclassified, ...] = ()
    decisions: tuple[ContractDecision, ...] = ()
    stats: ContractStats | None = None
    warnings: tuple[ContractWarning, ...] = ()


def decode_contract(doc: object) -> Contract:
    """A contract v1 document as a ``Contract`` (see the module docstring for the tolerance).

    Raises ``TypeError`` when ``doc`` is not a mapping.
    """
    return _decode_root(Contract, doc, "doc")


def decode_stream(data: object) -> ContractStream:
    """One contract v1 stream (an element of ``streams``) as a ``ContractStream``.

    Raises ``TypeError`` when ``data`` is not a mapping.
    """
    return _decode_root(ContractStream, data, "stream")


def decode_metrics(data: object) -> ContractMetrics:
    """A stream's ``metrics`` object as ``ContractMetrics``; anything but a mapping gives the
    defaults (every figure unknown)."""
    return _decoder(ContractMetrics)(data) if isinstance(data, Mapping) else ContractMetrics()


def _decode_root(cls: type[T], value: object, what: str) -> T:
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a mapping, not {type(value).__name__}")
    decoded: T = _decoder(cls)(value)
    return decoded


def _text(value: object) -> object:
    return value if isinstance(value, str) else _UNUSABLE


def _integer(value: object) -> object:
    return value if type(value) is int else _UNUSABLE


def _number(value: object) -> object:
    # ints stay ints: a count written as 3 is shown and exported as 3, not 3.0
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return value
    return _UNUSABLE


def _flag(value: object) -> object:
    return value if isinstance(value, bool) else _UNUSABLE


def _optional(coerce: Callable[[object], object]) -> Callable[[object], object]:
    def optional(value: object) -> object:
        return None if value is None else coerce(value)

    return optional


def _sequence(coerce: Callable[[object], object]) -> Callable[[object], object]:
    def sequence(value: object) -> object:
        if not isinstance(value, list | tuple):
            return _UNUSABLE
        items = [coerce(entry) for entry in value]
        return tuple(item for item in items if item is not _UNUSABLE)

    return sequence


def _counts(value: object) -> object:
    if not isinstance(value, Mapping):
        return _UNUSABLE
    return {k: v for k, v in value.items() if isinstance(k, str) and type(v) is int}


_SCALARS: dict[object, Callable[[object], object]] = {
    str: _text,
    int: _integer,
    float: _number,
    bool: _flag,
}


def _coercer(annotation: object) -> Callable[[object], object]:
    """The coercer for one field annotation of the model (the forms used above)."""
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is types.UnionType and type(None) in args:
        (inner,) = (arg for arg in args if arg is not type(None))
        return _optional(_coercer(inner))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _sequence(_coercer(args[0]))
    if origin is Mapping and args == (str, int):
        return _counts
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        nested = _decoder(annotation)
        return lambda value: nested(value) if isinstance(value, Mapping) else _UNUSABLE
    raise TypeError(f"the contract model has no coercer for {annotation!r}")


_DECODERS: dict[type, Callable[[Mapping[str, Any]], Any]] = {}


def _decoder(cls: type[T]) -> Callable[[Mapping[str, Any]], T]:
    """A function building ``cls`` from a mapping, field by field (built once per class)."""
    decoder = _DECODERS.get(cls)
    if decoder is None:
        decoder = _DECODERS[cls] = _build_decoder(cls)
    return decoder


def _build_decoder(cls: type[T]) -> Callable[[Mapping[str, Any]], T]:
    hints = typing.get_type_hints(cls)
    fields = [(field.name, _coercer(hints[field.name])) for field in dataclasses.fields(cls)]  # type: ignore[arg-type]

    def decode(data: Mapping[str, Any]) -> T:
        values = {}
        for name, coerce in fields:
            if name in data:
                value = coerce(data[name])
                if value is not _UNUSABLE:
                    values[name] = value
        return cls(**values)

    return decode
