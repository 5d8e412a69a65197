"""load_dump / read_dump_file: dump files in, Board out, one clear DumpError otherwise."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from connectors.dump import load_dump, read_dump_file
from connectors.errors import DumpError
from testkit.builders import (
    miro_connector,
    miro_dump,
    miro_shape,
    miro_sticky,
    miro_tag,
    mural_dump,
    mural_sticky,
)


def test_a_miro_dump_loads_as_a_miro_board() -> None:
    board = load_dump(miro_dump([miro_sticky("1", "Step", 0, 0)], name="Abo"))

    assert (board.provider, board.name, [item.text for item in board.items]) == (
        "miro",
        "Abo",
        ["Step"],
    )


def test_a_mural_dump_loads_as_a_mural_board() -> None:
    board = load_dump(mural_dump([mural_sticky("w", "Step", 0, 0)], title="Retro"))

    assert (board.provider, board.name, [item.text for item in board.items]) == (
        "mural",
        "Retro",
        ["Step"],
    )


def test_optional_lists_may_be_missing() -> None:
    board = load_dump({"provider": "miro", "board": {"id": "b"}, "items": []})

    assert (board.items, board.connectors) == ((), ())


REFUSED = [
    ([], "not a Miro or Mural dump: the top level must be a JSON object"),
    ("miro", "not a Miro or Mural dump: the top level must be a JSON object"),
    ({}, "not a Miro or Mural dump: missing key 'provider'"),
    ({"provider": "trello"}, "not a Miro or Mural dump: unknown provider 'trello'"),
    ({"provider": ["miro"]}, "not a Miro or Mural dump: unknown provider ['miro']"),
    ({"provider": "miro", "board": {}}, "not a Miro dump: missing key 'items'"),
    ({"provider": "miro", "items": []}, "not a Miro dump: missing key 'board'"),
    ({"provider": "mural", "mural": {}}, "not a Mural dump: missing key 'widgets'"),
    (
        {"provider": "miro", "board": {}, "items": {"a": 1}},
        "not a Miro dump: 'items' must be a list, not an object",
    ),
    (
        {"provider": "mural", "mural": {}, "widgets": [], "tags": "x"},
        "not a Mural dump: 'tags' must be a list, not a string",
    ),
    (
        {"provider": "miro", "board": {}, "items": [], "item_tags": []},
        "not a Miro dump: 'item_tags' must be an object",
    ),
    (
        {"provider": "miro", "board": {}, "items": [], "connectors": "x"},
        "not a Miro dump: 'connectors' must be a list, not a string",
    ),
    (
        {"provider": "miro", "board": {}, "items": [], "tags": 3},
        "not a Miro dump: 'tags' must be a list, not a number",
    ),
    ({"provider": "miro", "board": {}, "items": None}, "not a Miro dump: missing key 'items'"),
]


@pytest.mark.parametrize(("data", "message"), REFUSED)
def test_anything_else_is_refused_with_one_clear_sentence(data: object, message: str) -> None:
    with pytest.raises(DumpError, match="^" + re.escape(message)) as caught:
        load_dump(data)

    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("data", "message"), REFUSED)
def test_a_file_is_refused_with_the_same_sentence(
    tmp_path: Path, data: object, message: str
) -> None:
    # a well-formed Miro file takes a shorter path (its lists split in one pass): a file that
    # is not one must still get the sentence the general reader gives
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(data), encoding="utf-8")

    with pytest.raises(DumpError, match="^" + re.escape(message)):
        read_dump_file(path)


def _full_miro_dump() -> dict[str, object]:
    return miro_dump(
        [miro_sticky("1", "Prüfen", 0, 0), miro_sticky("2", "Freigeben", 300, 0)],
        [miro_connector("c", "1", "2", caption="dann")],
        [miro_tag("t", "Step")],
        {"1": ["t"]},
    )


def test_a_miro_file_reads_as_the_same_dump_already_parsed(tmp_path: Path) -> None:
    data = _full_miro_dump()
    path = tmp_path / "dump.json"
    path.write_text(json.dumps({"unknown": [1, {"x": None}], **data}), encoding="utf-8")

    assert read_dump_file(path) == load_dump(data)
    assert read_dump_file(path).items[0].tags == ("Step",)


@pytest.mark.parametrize("key", ["connectors", "tags", "item_tags"])
def test_a_null_optional_part_reads_as_empty(tmp_path: Path, key: str) -> None:
    data = {**_full_miro_dump(), key: None}
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(data), encoding="utf-8")

    parsed, read = load_dump(data), read_dump_file(path)

    assert parsed == read
    assert [item.text for item in read.items] == ["Prüfen", "Freigeben"]


def test_an_escaped_nul_in_a_miro_file_is_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(miro_dump([miro_sticky("1", "a\x00b", 0, 0)])), encoding="utf-8")

    (item,) = read_dump_file(path).items

    assert "\x00" not in item.text


def test_more_than_a_million_items_is_refused_before_any_work() -> None:
    data = {"provider": "miro", "board": {}, "items": [None] * 1_000_001}

    with pytest.raises(DumpError, match="more than 1,000,000 items"):
        load_dump(data)


def test_a_dump_file_is_read_and_normalized(tmp_path: Path) -> None:
    path = tmp_path / "board.json"
    path.write_text(json.dumps(mural_dump([mural_sticky("w", "Prüfen", 0, 0)])), encoding="utf-8")

    board = read_dump_file(path, max_bytes=1_000_000)

    assert [item.text for item in board.items] == ["Prüfen"]


def test_a_missing_file_is_a_dump_error(tmp_path: Path) -> None:
    with pytest.raises(DumpError, match="no such file"):
        read_dump_file(tmp_path / "nope.json", max_bytes=1_000)


def test_a_directory_is_a_dump_error(tmp_path: Path) -> None:
    with pytest.raises(DumpError, match="not a regular file"):
        read_dump_file(tmp_path, max_bytes=1_000)


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text(json.dumps(miro_dump([miro_sticky("1", "x" * 2_000, 0, 0)])))

    with pytest.raises(DumpError, match="more than the limit of 1,000"):
        read_dump_file(path, max_bytes=1_000)


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"provider": "miro",\n  "items": [1, 2,,]}')

    with pytest.raises(DumpError, match="invalid JSON at line 2, column 18"):
        read_dump_file(path, max_bytes=1_000)


def test_a_file_that_is_not_utf8_is_a_dump_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"provider": "miro", "x": "Prüfung"}'.encode("latin-1"))

    with pytest.raises(DumpError, match="not UTF-8"):
        read_dump_file(path, max_bytes=1_000)


def test_absurdly_nested_json_is_a_dump_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000)

    with pytest.raises(DumpError):
        read_dump_file(path, max_bytes=1_000_000)


def test_json_that_is_not_a_dump_is_a_dump_error(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"hello": "world"}')

    with pytest.raises(DumpError, match="missing key 'provider'"):
        read_dump_file(path, max_bytes=1_000)


def _write(tmp_path: Path, dump: object) -> Path:
    path = tmp_path / "board.json"
    path.write_text(json.dumps(dump), encoding="utf-8")
    return path


def test_a_shape_with_a_transparent_fill_has_no_colour(tmp_path: Path) -> None:
    # Miro types style numbers as strings: "0" must read as 0
    path = _write(tmp_path, miro_dump([miro_shape("1", "Lane", 0, 0, color="red", opacity="0")]))

    assert read_dump_file(path).items[0].color is None


def test_a_file_with_undocumented_item_fields_is_read_and_the_fields_counted(
    tmp_path: Path,
) -> None:
    sticky = {**miro_sticky("1", "Step", 0, 0), "sparkles": 3, "mood": "happy"}
    path = _write(tmp_path, miro_dump([sticky]))

    board = read_dump_file(path)

    assert (board.stats.unknown_fields, [item.text for item in board.items]) == (2, ["Step"])
