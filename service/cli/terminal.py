"""Whether a command draws progress: a module of its own, so that a command without live
fetches (``vsm import``) does not import httpx and rich's live display to ask."""

from __future__ import annotations

import sys
from typing import Any


def show_progress(quiet: bool, stream: Any = None) -> bool:
    """Whether to draw progress: not with ``--quiet``, and only on a terminal."""
    target = stream if stream is not None else sys.stderr
    isatty = getattr(target, "isatty", None)
    return not quiet and callable(isatty) and bool(isatty())
