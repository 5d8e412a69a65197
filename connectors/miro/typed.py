"""A Miro dump file decoded straight into typed structs: the fast path of ``read_dump_file``.

msgspec decodes the file's bytes in one pass into these structs, checking every field's type as
it goes and never building the dicts of fields nobody reads. It is strict where the wire models
(``connectors.miro.wire``) are lenient: any field of the wrong type, an item field Miro does not
document, JSON the json module would read differently (a BOM, ``NaN``): ``decode`` returns None
and the caller takes the validating path, which reads such files as it always did. So both paths
give the same board for every file this one accepts (a property test checks it).
"""

from __future__ import annotations

import msgspec
from msgspec import Raw, Struct

# A struct per JSON object: a file with more objects than this takes the validating path, whose
# memory stays flat however many tiny objects a hostile file packs (a struct costs ~150 bytes).
MAX_OBJECTS = 2_500_000


# gc=False: structs of strings and numbers hold no cycles, and 100,000s of them tracked by the
# collector would make every collection walk them all.
class Ref(Struct, gc=False):
    id: str | None = None


class Data(Struct, gc=False):
    content: str | None = None
    title: str | None = None
    description: str | None = None
    shape: str | None = None


class Style(Struct, gc=False):
    fillColor: str | None = None
    # the spec types style numbers as strings ("1.0"); the reader converts them as the wire does
    fillOpacity: float | str | None = None
    cardTheme: str | None = None


class Position(Struct, gc=False):
    x: float | None = None
    y: float | None = None
    relativeTo: str | None = None


class Geometry(Struct, gc=False):
    width: float | None = None
    height: float | None = None
    rotation: float | None = None


class Item(Struct, forbid_unknown_fields=True, gc=False):
    """An element of ``items``: the fields read, and the documented ones left unparsed (Raw)."""

    id: str | None = None
    type: str | None = None
    data: Data | None = None
    style: Style | None = None
    position: Position | None = None
    geometry: Geometry | None = None
    parent: Ref | None = None
    createdAt: Raw = Raw()
    createdBy: Raw = Raw()
    modifiedAt: Raw = Raw()
    modifiedBy: Raw = Raw()
    links: Raw = Raw()
    isSupported: Raw = Raw()


class Caption(Struct, gc=False):
    content: str | None = None


class ConnectorStyle(Struct, gc=False):
    startStrokeCap: str | None = None
    endStrokeCap: str | None = None


class Connector(Struct, forbid_unknown_fields=True, gc=False):
    """An element of ``connectors``: the fields read, and the documented ones left unparsed."""

    id: str | None = None
    startItem: Ref | None = None
    endItem: Ref | None = None
    captions: list[Caption | None] | None = None
    type: Raw = Raw()
    shape: Raw = Raw()
    isSupported: Raw = Raw()
    style: ConnectorStyle | None = None
    createdAt: Raw = Raw()
    createdBy: Raw = Raw()
    modifiedAt: Raw = Raw()
    modifiedBy: Raw = Raw()
    links: Raw = Raw()


class Dump(Struct, gc=False):
    """A Miro dump; the small parts stay Raw (an empty Raw: the key is missing)."""

    provider: str
    items: list[Item]
    board: Raw = Raw()
    connectors: list[Connector] = []
    tags: Raw = Raw()
    item_tags: Raw = Raw()


_DECODER = msgspec.json.Decoder(Dump)


def decode(raw: bytes) -> Dump | None:
    """The Miro dump in ``raw``, or None when the validating path must read the file."""
    if not raw.startswith(b"{") or raw.count(b"{") > MAX_OBJECTS:
        return None
    try:
        dump = _DECODER.decode(raw)
    except (msgspec.MsgspecError, ValueError):
        return None
    # a dump without its board is refused, with the validating path's words for it
    return dump if dump.provider == "miro" and dump.board else None
