"""Pieces both normalizers share: dump limits, list checks and the import-stats collector."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Container, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

import msgspec
from msgspec import Struct, field

from connectors.errors import DumpError
from service.domain.board import ImportStats

if TYPE_CHECKING:  # pydantic loads with the Mural reader, not with every dump
    from pydantic import TypeAdapter

MAX_ITEMS = 1_000_000
"""More items (plus connectors) than this and a dump is refused, not imported."""

MAX_RECORDED = 1_000
"""At most this many skipped/repaired entries are listed; the rest are summed up in one line."""

MAX_UNKNOWN_TYPE_NAMES = 50

VALIDATION_BATCH = 2_048
"""Raw elements are validated this many at a time (pydantic-core is fastest on whole lists)."""

T = TypeVar("T")


def batches(raw: list[Any], *, consume: bool) -> Iterator[list[Any]]:
    """``raw`` in slices of ``VALIDATION_BATCH`` elements.

    With ``consume`` the caller hands ``raw`` over: each slice is replaced by None in ``raw``
    as it is handed out, so a big dump's raw and validated elements never all exist at once.
    """
    for start in range(0, len(raw), VALIDATION_BATCH):
        batch = raw[start : start + VALIDATION_BATCH]
        if consume:
            raw[start : start + VALIDATION_BATCH] = [None] * len(batch)
        yield batch


def validated(adapter: TypeAdapter[list[T]], raw: list[Any], *, consume: bool) -> Iterator[T]:
    """``adapter.validate_python(raw)`` element by element, validated in ``batches``."""
    for batch in batches(raw, consume=consume):
        yield from adapter.validate_python(batch)


def checked_list(
    dump: Mapping[str, Any], key: str, provider: str, *, required: bool = False
) -> list[Any]:
    """``dump[key]`` as a list; a missing optional key is an empty list.

    Raises ``DumpError`` for a missing required key or a value that is not a JSON array.
    """
    if key not in dump or dump[key] is None:
        if required:
            raise DumpError(f"not a {provider} dump: missing key {key!r}")
        return []
    value = dump[key]
    if not isinstance(value, list):
        raise DumpError(f"not a {provider} dump: {key!r} must be a list, not {_json_type(value)}")
    return value


_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])


def json_parts(dump: Mapping[str, Any]) -> dict[str, msgspec.Raw]:
    """A parsed dump's top-level values as JSON bytes, the form the readers take (NaN: null).

    A lone surrogate (the JSON escape ``\\ud800`` without its pair, which the json module keeps
    as it is) cannot be written as UTF-8: it becomes U+FFFD here, as the database could not
    store it either (docs/service.md, "Text that cannot be stored").
    """
    return {key: msgspec.Raw(_encode(value)) for key, value in dump.items()}


_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _encode(value: Any) -> bytes:
    try:
        return msgspec.json.encode(value)
    except UnicodeEncodeError:
        text = json.dumps(value, ensure_ascii=False)
        return _LONE_SURROGATE.sub("\ufffd", text).encode("utf-8")


def raw_list(
    parts: Mapping[str, msgspec.Raw], key: str, provider: str, *, required: bool = False
) -> list[msgspec.Raw]:
    """The elements of the JSON array ``parts[key]``, each as its JSON bytes; a missing or null
    optional key is an empty list. Raises ``DumpError`` as ``checked_list`` does."""
    part = parts.get(key)
    if part is None or memoryview(part) == memoryview(b"null"):  # compared in place, no copy
        if required:
            raise DumpError(f"not a {provider} dump: missing key {key!r}")
        return []
    try:
        return _RAW_LIST.decode(part)
    except msgspec.ValidationError:
        found = _json_type(msgspec.json.decode(part))
        raise DumpError(f"not a {provider} dump: {key!r} must be a list, not {found}") from None


def _json_type(value: object) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else type(value).__name__


def bounded_label(value: object, limit: int = 64) -> str | None:
    """A short provider label (type, shape, tag title) cut to ``limit`` characters."""
    return value[:limit] if isinstance(value, str) else None


def dimension(value: float | None) -> float | None:
    """A width or height: missing is 0 (not every type has both), NaN/inf/negative is unusable."""
    if value is None:
        return 0.0
    return value if math.isfinite(value) and value >= 0 else None


def angle(value: float | None) -> float:
    """A rotation in degrees; missing or not finite is 0."""
    return value if value is not None and math.isfinite(value) else 0.0


class StatsCollector(Struct):
    """Mutable tally built during one normalization; ``freeze`` gives the ``ImportStats``."""

    items_read: int = 0
    unknown_fields: int = 0
    truncated_texts: int = 0
    unknown_types: Counter[str] = field(default_factory=Counter)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    repaired: list[tuple[str, str]] = field(default_factory=list)
    skipped_total: int = 0
    repaired_total: int = 0
    # the reading side of the import's account, for board elements (items, widgets: not connectors)
    left_out: Counter[str] = field(default_factory=Counter)
    malformed: list[tuple[str, str, str]] = field(default_factory=list)
    malformed_total: int = 0
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, item_id: str, reason: str) -> None:
        self.skipped_total += 1
        if len(self.skipped) < MAX_RECORDED:
            self.skipped.append((item_id[:200], reason))

    def leave_out(self, item_id: str, reason: str, category: str | None = None) -> None:
        """Skip a board element; ``category`` (default ``reason``) is the account's reason."""
        self.skip(item_id, reason)
        self.left_out[category or reason] += 1

    def malformed_item(self, item_id: str, field_name: str, problem: str) -> None:
        """List an element whose ``field_name`` cannot be read; it is left off the board."""
        self.malformed_total += 1
        if len(self.malformed) < MAX_RECORDED:
            self.malformed.append((item_id[:200], field_name[:200], problem[:200]))

    def warn(self, code: str, message: str) -> None:
        if all(code != known for known, _ in self.warnings):
            self.warnings.append((code, message))

    def admit(
        self, item_id: str | None, array: str, index: int, seen: Container[str], noun: str
    ) -> TypeGuard[str]:
        """Whether the element ``array[index]`` is kept: it has an id, not ``seen`` before.

        Otherwise its skip is recorded (``noun`` names it: item, connector, widget).
        """
        element = noun != "connector"
        if not item_id:
            self._drop(element, f"{array}[{index}]", f"{noun} without an id", "no id")
            return False
        if item_id in seen:
            why = f"duplicate id; the first {noun} with this id was kept"
            self._drop(element, item_id, why, "duplicate id")
            return False
        return True

    def _drop(self, element: bool, item_id: str, reason: str, category: str) -> None:
        if element:
            self.leave_out(item_id, reason, category)
        else:
            self.skip(item_id, reason)

    def repair(self, item_id: str, reason: str) -> None:
        self.repaired_total += 1
        if len(self.repaired) < MAX_RECORDED:
            self.repaired.append((item_id[:200], reason))

    def unknown_type(self, name: str) -> None:
        key = name[:64]
        if key in self.unknown_types or len(self.unknown_types) < MAX_UNKNOWN_TYPE_NAMES:
            self.unknown_types[key] += 1
        else:
            self.unknown_types["(other unknown types)"] += 1

    def absorb(self, other: StatsCollector) -> None:
        """Add ``other``'s tally (of connectors: no board elements) after this one's."""
        self.items_read += other.items_read
        self.unknown_fields += other.unknown_fields
        self.truncated_texts += other.truncated_texts
        for name, count in other.unknown_types.items():
            known = name in self.unknown_types or len(self.unknown_types) < MAX_UNKNOWN_TYPE_NAMES
            self.unknown_types[name if known else "(other unknown types)"] += count
        for item_id, reason in other.skipped:
            self.skip(item_id, reason)
        self.skipped_total += other.skipped_total - len(other.skipped)
        for item_id, reason in other.repaired:
            self.repair(item_id, reason)
        self.repaired_total += other.repaired_total - len(other.repaired)

    def freeze(self) -> ImportStats:
        skipped = list(self.skipped)
        if self.skipped_total > len(skipped):
            skipped.append(("", f"and {self.skipped_total - len(skipped):,} more skipped"))
        repaired = list(self.repaired)
        if self.repaired_total > len(repaired):
            repaired.append(("", f"and {self.repaired_total - len(repaired):,} more repaired"))
        return ImportStats(
            items_read=self.items_read,
            unknown_types=dict(self.unknown_types),
            unknown_fields=self.unknown_fields,
            skipped=tuple(skipped),
            truncated_texts=self.truncated_texts,
            repaired=tuple(repaired),
            left_out=dict(self.left_out),
            malformed=tuple(self.malformed),
            malformed_total=self.malformed_total,
            warnings=tuple(self.warnings),
        )
