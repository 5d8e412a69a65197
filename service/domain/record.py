"""``Record``: the base of the values built once per board item (items, decisions, steps...).

A frozen msgspec struct instead of a frozen dataclass: the same immutable, hashable value with
the same equality and repr, built about twenty times faster (in C, where a frozen dataclass sets
each field through ``object.__setattr__``), and, with ``gc=False``, never tracked by the cycle
collector, whose collections would otherwise walk every item of every board in memory. Records
hold only strings, numbers, enums, tuples and other records made before them, so they can form no
reference cycle. ``msgspec.structs.replace`` copies one with some fields changed.

The values ``vsm import`` builds once per board or stream (``Board``, ``Ruleset``,
``Classification``, ``Stream``, ``Metrics``, ``Comparison``, ``Account`` and the helpers of the
readers and the stream builder) are plain ``Struct, frozen=True`` for another reason: making the
class (``StatsCollector`` and ``Columns``, tallies filled while reading and placing, are plain
mutable structs). A frozen dataclass is generated at import by compiling its ``__init__``,
``__repr__``, ``__eq__``, ``__hash__`` and ``__setattr__`` from source, about 0.5 ms a class;
msgspec makes a struct class in C in some 0.02 ms. Those 23 classes were 7-13 % of the CPU of
``vsm import --format json`` at 1,000 stickies (``bench/cli_import.py``). They keep the collector
(``gc`` on), since some hold dicts. The contract model (``contract_model``) stays dataclasses:
pydantic serves them in the API.
"""

from __future__ import annotations

from msgspec import Struct


class Record(Struct, frozen=True, gc=False):
    """Base class: subclass it with annotated fields, as with ``@dataclass(frozen=True)``."""
