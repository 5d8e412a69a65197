"""Board dump files (Miro or Mural JSON, the format the live connectors also write) -> ``Board``.

Dump shapes (helper-brief / issue 2 section 2):
``{"provider": "miro", "board", "items", "connectors", "tags", "item_tags"}`` and
``{"provider": "mural", "mural", "widgets", "tags"}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from connectors.errors import DumpError
from connectors.miro.normalize import normalize_miro
from connectors.mural.normalize import normalize_mural
from service.domain.board import Board

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
"""A default cap for callers without a setting: far above any real board (100k stickies ~ 35 MB)."""

_REQUIRED = {"miro": ("board", "items"), "mural": ("mural", "widgets")}


def load_dump(data: object) -> Board:
    """Normalize parsed dump JSON; raises ``DumpError`` with one sentence if it is not a dump."""
    if not isinstance(data, Mapping):
        raise DumpError("not a Miro or Mural dump: the top level must be a JSON object")
    provider = data.get("provider")
    if not isinstance(provider, str) or provider not in _REQUIRED:
        if provider is None:
            raise DumpError("not a Miro or Mural dump: missing key 'provider'")
        shown = repr(provider)[:40]
        raise DumpError(
            f"not a Miro or Mural dump: unknown provider {shown} (expected 'miro' or 'mural')"
        )
    for key in _REQUIRED[provider]:
        if key not in data:
            raise DumpError(f"not a {provider.title()} dump: missing key {key!r}")
    if provider == "miro":
        return normalize_miro(data)
    return normalize_mural(data)


def read_dump_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Board:
    """Read, parse and normalize a dump file.

    Raises ``DumpError`` for a missing or unreadable file, a file larger than ``max_bytes``,
    text that is not UTF-8 JSON (the message names line and column), or JSON that is not a dump.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DumpError(f"{path}: no such file") from None
    except OSError as exc:
        raise DumpError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if not path.is_file():
        raise DumpError(f"{path}: not a regular file")
    if size > max_bytes:
        raise DumpError(
            f"{path}: the file has {size:,} bytes, more than the limit of {max_bytes:,}"
        )
    try:
        with path.open("rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise DumpError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if len(raw) > max_bytes:
        raise DumpError(f"{path}: the file is larger than the limit of {max_bytes:,} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DumpError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DumpError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise DumpError(f"{path}: invalid JSON: nested too deeply") from None
    return load_dump(data)
