"""Board dump files (Miro or Mural JSON, the format the live connectors also write) -> ``Board``.

Dump shapes (helper-brief / issue 2 section 2):
``{"provider": "miro", "board", "items", "connectors", "tags", "item_tags"}`` and
``{"provider": "mural", "mural", "widgets", "tags"}`` (plus ``"votes"`` when the mural has voting
results, or ``"votes_unavailable"`` with the reason when Mural refused them).

One parse path: the file's bytes are split into the top-level parts (``msgspec.Raw``, left
unparsed), and each provider's reader decodes its parts with its wire models. A dump that is
already parsed (live connectors, the REST API) is turned into the same parts first. A
well-formed Miro file is split in one pass with its lists already cut into their elements
(``wire.MiroDumpParts``); anything else is split the general way, which names what is wrong.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping
from pathlib import Path

import msgspec

from connectors.errors import DumpError
from connectors.miro.normalize import read_miro, read_miro_parts
from connectors.miro.wire import DUMP_PARTS, MiroDumpParts
from connectors.normalizing import json_parts
from service.domain.board import Board, storable_board

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
"""A default cap for callers without a setting: far above any real board (100k stickies ~ 35 MB)."""

_REQUIRED = {"miro": ("board", "items"), "mural": ("mural", "widgets")}
_PARTS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_BOM = b"\xef\xbb\xbf"


def load_dump(data: object) -> Board:
    """Normalize parsed dump JSON; raises ``DumpError`` with one sentence if it is not a dump."""
    if not isinstance(data, Mapping):
        raise DumpError("not a Miro or Mural dump: the top level must be a JSON object")
    return _read(json_parts(data))


def read_dump_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Board:
    """Read, parse and normalize a dump file.

    Raises ``DumpError`` for a missing or unreadable file, a file larger than ``max_bytes``,
    text that is not UTF-8 JSON (the message names line and column), or JSON that is not a dump.
    """
    # No local name keeps the file's bytes: the reader frees them once the items are read.
    return _read_bytes(_file_bytes(path, max_bytes), str(path))


def _file_bytes(path: Path, max_bytes: int) -> bytes:
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
            # read(n) reserves n bytes up front: ask for the stated size (plus one byte to see
            # growth), then for the rest up to the limit only if the file grew meanwhile
            raw = handle.read(min(size, max_bytes) + 1)
            if len(raw) > size:
                raw += handle.read(max_bytes + 1 - len(raw))
    except OSError as exc:
        raise DumpError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if len(raw) > max_bytes:
        raise DumpError(f"{path}: the file is larger than the limit of {max_bytes:,} bytes")
    return raw


def read_dump_bytes(raw: bytes, what: str = "the dump") -> Board:
    """Parse and normalize a dump held in memory (an upload read back by the worker).

    Raises ``DumpError`` naming ``what`` for text that is not UTF-8 JSON (with line and
    column) or JSON that is not a dump; the same reader as :func:`read_dump_file`.
    """
    return _read_bytes(raw, what)


def _read_bytes(raw: bytes, what: str) -> Board:
    raw = raw.removeprefix(_BOM)
    try:
        _check_utf8(raw)  # msgspec leaves the parts unparsed, so their bytes are checked here
        miro = _miro_parts(raw)
        if miro is not None:
            # the usual file: a well-formed Miro dump, its lists split in the same pass
            nul_escape = _NUL_ESCAPE.search(raw) is not None
            del raw  # the parts keep the bytes alive only while the reader needs them
            return _storable_if(read_miro_parts(miro), nul_escape)
        parts = _split(raw)
    except _NotJson as exc:
        raise DumpError(f"{what}: {exc}") from None
    del raw  # the parts keep the bytes alive only while the reader needs them (read_miro)
    return _read(parts)


def _miro_parts(raw: bytes) -> MiroDumpParts | None:
    """The top level of a well-formed Miro dump; None for anything else, which ``_split``
    and ``_read`` then read the general way (naming what is wrong)."""
    try:
        return DUMP_PARTS.decode(raw)
    except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
        return None


_CHUNK = 1 << 20
# searched in the parts' own buffers (re takes a memoryview), so a big dump is not copied
_NUL_ESCAPE = re.compile(rb"\\u0000")


def _check_utf8(raw: bytes) -> None:
    """Raise ``_NotJson`` unless ``raw`` is UTF-8; checked a megabyte at a time, so a big
    file is never copied whole into a string."""
    if raw.isascii():
        return
    decoder = codecs.getincrementaldecoder("utf-8")()
    for start in range(0, len(raw), _CHUNK):
        try:
            decoder.decode(raw[start : start + _CHUNK], final=start + _CHUNK >= len(raw))
        except UnicodeDecodeError as exc:
            offset = start + exc.start
            raise _NotJson(f"not UTF-8 text (bad byte at offset {offset})") from None


class _NotJson(Exception):
    """The bytes are not the JSON of an object; the message says where."""


def _split(raw: bytes) -> dict[str, msgspec.Raw]:
    """The top-level parts of the JSON object in ``raw`` (UTF-8, ``_check_utf8``)."""
    try:
        return _PARTS.decode(raw)
    except msgspec.ValidationError:
        # valid JSON, but not an object
        raise DumpError("not a Miro or Mural dump: the top level must be a JSON object") from None
    except msgspec.DecodeError:
        pass
    except RecursionError:
        raise _NotJson("invalid JSON: nested too deeply") from None
    # Not JSON msgspec reads: let the json module say where (line and column), as it always did.
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _NotJson(f"not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _NotJson(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise _NotJson("invalid JSON: nested too deeply") from None
    # JSON the json module reads and msgspec does not: NaN and Infinity (read as null)
    if not isinstance(data, Mapping):
        raise DumpError("not a Miro or Mural dump: the top level must be a JSON object")
    return json_parts(data)


def _read(parts: dict[str, msgspec.Raw]) -> Board:
    """The board of a dump's parts (the Miro reader takes them out of ``parts`` as it reads)."""
    provider_part = parts.get("provider")
    if provider_part is None:
        raise DumpError("not a Miro or Mural dump: missing key 'provider'")
    provider = msgspec.json.decode(provider_part)
    del provider_part  # a view of the file's bytes
    if provider is None:
        raise DumpError("not a Miro or Mural dump: missing key 'provider'")
    if not isinstance(provider, str) or provider not in _REQUIRED:
        shown = repr(provider)[:40]
        raise DumpError(
            f"not a Miro or Mural dump: unknown provider {shown} (expected 'miro' or 'mural')"
        )
    for key in _REQUIRED[provider]:
        if key not in parts:
            raise DumpError(f"not a {provider.title()} dump: missing key {key!r}")
    # searched before the reader takes the parts
    nul_escape = any(_NUL_ESCAPE.search(memoryview(part)) for part in parts.values())
    if provider == "miro":
        board = read_miro(parts)
    else:
        # the Mural reader's pydantic models load with the first Mural dump, not with every one
        from connectors.mural.normalize import normalize_mural

        board = normalize_mural({key: msgspec.json.decode(value) for key, value in parts.items()})
    return _storable_if(board, nul_escape)


def _storable_if(board: Board, nul_escape: bool) -> Board:
    """Cleaned here, at the edge every dump passes (files, uploads, live fetches), so no later
    write meets text the database refuses (docs/service.md, "Text that cannot be stored").

    Lone surrogates never reach this point (msgspec refuses them and ``json_parts`` replaces
    them), so only an escaped NUL can: the walk over every string runs only when the bytes
    hold one (it was half of a 10k-sticky board's normalize, bench/digitize.py).
    """
    return storable_board(board) if nul_escape else board
