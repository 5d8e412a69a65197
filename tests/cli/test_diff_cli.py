"""``vsm diff OLD NEW``: changes between two dumps as a table or JSON; one line for bad input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from service.cli import main

ROOT = Path(__file__).resolve().parents[2]
MIRO_EXAMPLE = ROOT / "examples" / "miro-abo-workshop.json"

PROBLEM_ID = "3458764612905247474"  # "Sieben Abo-Varianten, Unterschiede unklar"
IDEA_ID = "3458764612905741365"  # "Apple Pay und Google Pay anbieten"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _write(path: Path, dump: dict[str, Any]) -> Path:
    path.write_text(json.dumps(dump), encoding="utf-8")
    return path


@pytest.fixture
def dumps(tmp_path: Path) -> tuple[Path, Path]:
    """The example board and a later version: one problem reworded, one idea removed."""
    old = json.loads(MIRO_EXAMPLE.read_text("utf-8"))
    new = copy.deepcopy(old)
    for item in new["items"]:
        if item["id"] == PROBLEM_ID:
            item["data"]["content"] = "<p>Sieben Abo-Varianten &lt;b&gt;\x1b[31m</p>"
    new["items"] = [item for item in new["items"] if item["id"] != IDEA_ID]
    return _write(tmp_path / "old.json", old), _write(tmp_path / "new.json", new)


def test_json_lists_the_changed_and_removed_items(
    dumps: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(["diff", str(dumps[0]), str(dumps[1]), "--format", "json"], capsys)

    assert (status, err) == (0, "")
    result = json.loads(out)
    assert [item["id"] for item in result["items"]["removed"]] == [IDEA_ID]
    (changed,) = result["items"]["changed"]
    assert (changed["id"], changed["fields"]) == (PROBLEM_ID, ["text"])
    assert changed["after"]["text"].startswith("Sieben Abo-Varianten <b>")
    assert result["problems"]["added"] == []  # the same sticky: reworded, not a new problem


def test_the_table_names_the_changes_without_terminal_escapes(
    dumps: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(["diff", str(dumps[0]), str(dumps[1])], capsys)

    assert status == 0
    assert "Apple Pay und Google Pay anbieten" in out
    assert "Sieben Abo-Varianten <b>" in out
    assert "\x1b" not in out
    assert "problem_count" not in out  # one problem replaced by another: the count is unchanged


def test_the_same_file_twice_has_no_changes(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(["diff", str(MIRO_EXAMPLE), str(MIRO_EXAMPLE)], capsys)

    assert (status, out.strip()) == (0, "No changes.")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        ("{not json", "invalid JSON"),
        ('{"provider": "trello"}', "unknown provider"),
    ],
)
def test_bad_input_is_one_stderr_line_and_exit_status_2(
    tmp_path: Path, content: str | None, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content, encoding="utf-8")

    status, out, err = _run(["diff", str(MIRO_EXAMPLE), str(bad)], capsys)

    assert (status, out) == (2, "")
    assert err.startswith("vsm: error: ")
    assert expected in err
    assert err.count("\n") == 1
