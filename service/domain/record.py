"""``Record``: the base of the values built once per board item (items, decisions, steps...).

A frozen msgspec struct instead of a frozen dataclass: the same immutable, hashable value with
the same equality and repr, built about twenty times faster (in C, where a frozen dataclass sets
each field through ``object.__setattr__``), and, with ``gc=False``, never tracked by the cycle
collector, whose collections would otherwise walk every item of every board in memory. Records
hold only strings, numbers, enums, tuples and other records made before them, so they can form no
reference cycle. ``msgspec.structs.replace`` copies one with some fields changed.
"""

from __future__ import annotations

from msgspec import Struct


class Record(Struct, frozen=True, gc=False):
    """Base class: subclass it with annotated fields, as with ``@dataclass(frozen=True)``."""
