"""Board dump files (Miro or Mural JSON, the format the live connectors also write) -> ``Board``.

Dump shapes (helper-brief / issue 2 section 2):
``{"provider": "miro", "board", "items", "connectors", "tags", "item_tags"}`` and
``{"provider": "mural", "mural", "widgets", "tags"}`` (plus ``"votes"`` when the mural has voting
results; a small mapping, parsed as it is).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from connectors.errors import DumpError
from connectors.miro import typed
from connectors.miro import wire as miro_wire
from connectors.miro.normalize import MiroReader, normalize_miro
from connectors.mural import wire as mural_wire
from connectors.mural.normalize import normalize_mural
from connectors.normalizing import VALIDATION_BATCH, Streamed, batches, paused_gc
from service.domain.board import Board, storable_board

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
"""A default cap for callers without a setting: far above any real board (100k stickies ~ 35 MB)."""

_REQUIRED = {"miro": ("board", "items"), "mural": ("mural", "widgets")}

# The big top-level arrays, the fields the normalizers read from their elements, and the fields
# they read from nested objects. A file's elements keep only these values; other top-level keys
# stay with the value null, so the normalizers see the same keys (and count the same unknown
# fields) while 150,000 raw items never sit in memory with everything the providers add to them
# (authors, timestamps, text alignment).
_Slim = tuple[frozenset[str], Mapping[str, frozenset[str]]]
_MIRO_REF = frozenset(miro_wire.MiroRef.__annotations__)
_SLIM_FIELDS: Mapping[str, _Slim] = {
    "items": (
        miro_wire.ITEM_FIELDS,
        {
            "data": frozenset(miro_wire.MiroItemData.__annotations__),
            "style": frozenset(miro_wire.MiroItemStyle.__annotations__),
            "position": frozenset(miro_wire.MiroPosition.__annotations__),
            "geometry": frozenset(miro_wire.MiroGeometry.__annotations__),
            "parent": _MIRO_REF,
        },
    ),
    "connectors": (miro_wire.CONNECTOR_FIELDS, {"startItem": _MIRO_REF, "endItem": _MIRO_REF}),
    "widgets": (
        mural_wire.WIDGET_FIELDS,
        {
            "style": frozenset(mural_wire.MuralStyle.__annotations__),
            "textContent": frozenset(mural_wire.MuralTextContent.__annotations__),
        },
    ),
}
_MIRO_STREAMED = frozenset({"items", "connectors"})
_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace, as the json module skips it
_JSON_SPACE = frozenset(" \t\n\r")


def load_dump(data: object) -> Board:
    """Normalize parsed dump JSON; raises ``DumpError`` with one sentence if it is not a dump."""
    return _load(data, consume=False)


def _load(data: object, *, consume: bool, reader: MiroReader | None = None) -> Board:
    """``load_dump``; with ``consume`` the big lists of ``data`` are emptied while read.

    ``reader`` holds the Miro arrays a streaming parse already fed to it (see ``_parse``).
    """
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
        board = normalize_miro(data, consume=consume, reader=reader)
    else:
        board = normalize_mural(data, consume=consume)
    # Cleaned here, at the edge every dump passes (files, uploads, live fetches), so no later
    # write meets text the database refuses (docs/service.md, "Text that cannot be stored").
    return storable_board(board)


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
            # read(n) reserves n bytes up front: ask for the stated size (plus one byte to see
            # growth), then for the rest up to the limit only if the file grew meanwhile
            raw = handle.read(min(size, max_bytes) + 1)
            if len(raw) > size:
                raw += handle.read(max_bytes + 1 - len(raw))
    except OSError as exc:
        raise DumpError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if len(raw) > max_bytes:
        raise DumpError(f"{path}: the file is larger than the limit of {max_bytes:,} bytes")
    with paused_gc():
        try:
            typed_dump = typed.decode(raw)
            if typed_dump is not None:
                del raw
                return _load_typed(typed_dump)
        except RecursionError:
            raise DumpError(f"{path}: invalid JSON: nested too deeply") from None
        except UnicodeDecodeError as exc:
            raise DumpError(
                f"{path}: not UTF-8 text (bad byte in a string: {exc.reason})"
            ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DumpError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    del raw
    # One pause for parsing and normalizing: the Miro reader normalizes while the file is
    # parsed, and each time the collector resumes its next collection walks every object
    # allocated meanwhile (the whole board).
    with paused_gc():
        try:
            data, reader = _parse(text)
        except json.JSONDecodeError as exc:
            raise DumpError(
                f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
        except RecursionError:
            raise DumpError(f"{path}: invalid JSON: nested too deeply") from None
        del text
        board = _load(data, consume=True, reader=reader)
        # Drop the parsed dump and the reader's records while paused: the first collection
        # after the pause walks every object still alive that was allocated during it.
        del data, reader
    return board


def _load_typed(dump: typed.Dump) -> Board:
    """The board of a dump ``typed.decode`` read (the same board ``_load`` gives for it).

    Consumes ``dump``: each part is dropped once read, so the file's bytes, which the parts left
    unparsed point into, are freed before the board is built.
    """
    data: dict[str, Any] = {
        "provider": dump.provider,
        "items": Streamed(len(dump.items)),
        "connectors": Streamed(len(dump.connectors)),
    }
    for key, value in (("board", dump.board), ("tags", dump.tags), ("item_tags", dump.item_tags)):
        if value:  # an empty Raw: the key was missing
            data[key] = json.loads(bytes(value))
    dump.board = dump.tags = dump.item_tags = msgspec.Raw()
    reader = MiroReader()
    # batch by batch, each batch's structs freed once read (as the validating path frees its dicts)
    for batch in batches(dump.items, consume=True):
        reader.add_typed_items(batch)
    for connectors in batches(dump.connectors, consume=True):
        reader.add_typed_connectors(connectors)
    return _load(data, consume=True, reader=reader)


def _parse(text: str) -> tuple[object, MiroReader | None]:
    """``json.loads(text)``, parsing the big arrays element by element, and the Miro reader.

    Reads the top-level object key by key and the big arrays element by element with the json
    module's own decoder, so values, duplicate keys (the last wins) and number handling are the
    same as ``json.loads``. When the dump starts with ``"provider": "miro"`` (as every dump the
    connectors write does), ``items`` and ``connectors`` go to a ``MiroReader`` batch by batch
    and stand in the result as ``Streamed``; other big arrays are slimmed (``_SLIM_FIELDS``).
    Anything unusual (not an object, a syntax error, a big array given twice) falls back to
    ``json.loads`` on the whole text, which raises exactly the error it always raised.
    """
    try:
        return _scan_object(text, json.JSONDecoder())
    except (ValueError, IndexError, RecursionError):
        return json.loads(text), None


def _skip(text: str, position: int) -> int:
    """The position of the first non-whitespace character at or after ``position``."""
    match = _WHITESPACE.match(text, position)
    return match.end() if match else position


def _scan_object(text: str, decoder: json.JSONDecoder) -> tuple[dict[str, Any], MiroReader | None]:
    reader: MiroReader | None = None
    position = _skip(text, 0)
    if text[position] != "{":
        raise ValueError("not an object")
    result: dict[str, Any] = {}
    position = _skip(text, position + 1)
    if text[position] == "}":
        position += 1
    else:
        while True:
            if text[position] != '"':
                raise ValueError("expected a key")
            key, position = decoder.raw_decode(text, position)
            position = _skip(text, position)
            if text[position] != ":":
                raise ValueError("expected a colon")
            position = _skip(text, position + 1)
            fields = _SLIM_FIELDS.get(key)
            if reader is not None and key in _MIRO_STREAMED and text[position] == "[":
                if key in result:
                    raise ValueError("a streamed array given twice")
                add = reader.add_items if key == "items" else reader.add_connectors
                count, position = _feed_array(text, position, add, decoder)
                result[key] = Streamed(count)
            elif fields is not None and text[position] == "[":
                result[key], position = _scan_array(text, position, *fields, decoder)
            else:
                result[key], position = decoder.raw_decode(text, position)
            if not result.keys() - {"provider"} and result.get("provider") == "miro":
                reader = MiroReader()
            position = _skip(text, position)
            if text[position] == "}":
                position += 1
                break
            if text[position] != ",":
                raise ValueError("expected a comma")
            position = _skip(text, position + 1)
    if _skip(text, position) != len(text):
        raise ValueError("extra data")
    return result, reader


def _feed_array(
    text: str, position: int, add: Callable[[list[Any]], None], decoder: json.JSONDecoder
) -> tuple[int, int]:
    """Hand the array at ``text[position]`` (a ``[``) to ``add`` in batches: (count, end)."""
    count = 0
    batch: list[Any] = []
    position = _skip(text, position + 1)
    if text[position] == "]":
        return count, position + 1
    # The hot loop of a big dump: the decoder's C scanner directly (raw_decode only wraps it),
    # and the whitespace regex only where there is whitespace.
    scan = decoder.scan_once  # type: ignore[attr-defined]  # set in __init__, not in typeshed
    while True:
        try:
            element, position = scan(text, position)
        except StopIteration:
            raise ValueError("expected a value") from None
        batch.append(element)
        if len(batch) == VALIDATION_BATCH:
            add(batch)
            count += len(batch)
            batch = []
        if text[position] in _JSON_SPACE:
            position = _skip(text, position)
        if text[position] == "]":
            break
        if text[position] != ",":
            raise ValueError("expected a comma")
        position += 1
        if text[position] in _JSON_SPACE:
            position = _skip(text, position)
    if batch:
        add(batch)
        count += len(batch)
    return count, position + 1


def _scan_array(
    text: str,
    position: int,
    fields: frozenset[str],
    nested: Mapping[str, frozenset[str]],
    decoder: json.JSONDecoder,
) -> tuple[list[Any], int]:
    """The array starting at ``text[position]`` (a ``[``), objects slimmed (``_SLIM_FIELDS``)."""
    elements: list[Any] = []
    position = _skip(text, position + 1)
    if text[position] == "]":
        return elements, position + 1
    while True:
        element, position = decoder.raw_decode(text, position)
        if type(element) is dict:
            element = {
                key: _slim(value, nested.get(key)) if key in fields else None
                for key, value in element.items()
            }
        elements.append(element)
        position = _skip(text, position)
        if text[position] == "]":
            return elements, position + 1
        if text[position] != ",":
            raise ValueError("expected a comma")
        position = _skip(text, position + 1)


def _slim(value: object, fields: frozenset[str] | None) -> object:
    if fields is None or type(value) is not dict:
        return value
    return {key: inner for key, inner in value.items() if key in fields}
