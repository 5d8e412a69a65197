"""The cyclic garbage collector's thresholds for a process that digitizes boards.

Called once by each entry point (the ``vsm`` command line, which also starts the server and
the workers) before any work; never from the core. A board is 100,000s of small objects that
live until the import ends, and with the default first threshold (700 allocations) the collector
walks them again and again: on ``bench/digitize.py`` the defaults cost 9-15 % of normalize +
digitize (docs/performance.md). A first threshold of 50,000 lets young objects pile up a little
longer before a collection, with no pause and nothing turned off: reference counting frees
everything as before, and cycles are still collected.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 100)
"""Allocations before a generation-0 collection, then collections between older ones."""


def tune_gc() -> None:
    """Set ``THRESHOLDS`` for this process (idempotent)."""
    gc.set_threshold(*THRESHOLDS)
