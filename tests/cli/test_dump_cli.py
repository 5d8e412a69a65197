"""``vsm dump miro``: a live board written as a dump file, errors as one line and exit 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.dump import load_dump
from service.cli import main
from testkit.builders import Frame, Link, Note, to_miro_dump
from testkit.standins.miro_server import MiroStandIn
from testkit.standins.serving import serve

BOARD = "uXjVO1a2b3c="


@pytest.fixture
def miro() -> MiroStandIn:
    stand_in = MiroStandIn()
    stand_in.add_board(
        to_miro_dump(
            [
                Frame("Current state", 0, 0, 2000, 1000),
                Note("Order entry", -300, 0, parent=0, tags=("step",)),
                Note("Ship", 300, 0, parent=0, tags=("step",)),
                Link(1, 2),
            ]
        )
    )
    return stand_in


@pytest.fixture
def miro_url(miro: MiroStandIn) -> Iterator[str]:
    with serve(miro.app()) as url:
        yield url


def test_dump_miro_writes_a_dump_that_imports(
    miro: MiroStandIn, miro_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token, _ = miro.issue_token()
    out = tmp_path / "board.json"

    status = main(["dump", "miro", BOARD, "--token", token, "--api-url", miro_url, "-o", str(out)])

    assert status == 0
    dump = json.loads(out.read_text())
    assert dump["provider"] == "miro"
    assert len(dump["items"]) == 3
    assert len(dump["connectors"]) == 1
    assert len(dump["item_tags"]) == 2
    assert len(load_dump(dump).items) == 3
    assert "wrote 3 items, 1 connectors and 1 tags" in capsys.readouterr().err


def test_dump_miro_to_stdout(
    miro: MiroStandIn, miro_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token, _ = miro.issue_token()

    assert main(["dump", "miro", BOARD, "--token", token, "--api-url", miro_url]) == 0

    assert json.loads(capsys.readouterr().out)["board"]["id"] == BOARD


@pytest.mark.parametrize(("options", "lines"), [([], 1), (["--indent", "2"], None)])
def test_dump_miro_is_compact_unless_indented_for_people(
    miro: MiroStandIn,
    miro_url: str,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    lines: int | None,
) -> None:
    token, _ = miro.issue_token()

    assert main(["dump", "miro", BOARD, "--token", token, "--api-url", miro_url, *options]) == 0

    out = capsys.readouterr().out
    assert json.loads(out)["board"]["id"] == BOARD
    if lines is None:
        assert '\n  "board": {' in out
    else:
        assert out.count("\n") == lines
        assert ", " not in out.split('"items"')[0]


@pytest.mark.parametrize(
    ("board", "token", "expected"),
    [
        (BOARD, "at-not-issued-secret", "refused"),
        ("uXjVOmissing=", None, "not found"),
        ("../etc", None, "not a Miro board id"),
    ],
)
def test_dump_miro_errors_are_one_line_exit_2_and_never_show_the_token(
    miro: MiroStandIn,
    miro_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    board: str,
    token: str | None,
    expected: str,
) -> None:
    token = token or miro.issue_token()[0]
    out = tmp_path / "board.json"

    status = main(["dump", "miro", board, "--token", token, "--api-url", miro_url, "-o", str(out)])

    captured = capsys.readouterr()
    assert status == 2
    assert captured.err.startswith("vsm: error: ")
    assert captured.err.count("\n") == 1
    assert expected in captured.err
    assert token not in captured.err + captured.out
    assert not out.exists()


def test_dump_miro_without_a_token_says_how_to_give_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VSM_MIRO_TOKEN", raising=False)

    assert main(["dump", "miro", BOARD]) == 2

    assert "--token" in capsys.readouterr().err
