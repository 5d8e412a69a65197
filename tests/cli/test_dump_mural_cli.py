"""``vsm dump mural``: a live mural written as a Mural dump, errors as one line and exit 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.dump import load_dump
from service.cli import main
from testkit.builders import Frame, Link, Note, mural_id, to_mural_dump
from testkit.standins.mural_server import MuralStandIn
from testkit.standins.serving import serve

MURAL = "acme7380.1754493659737"


@pytest.fixture
def mural() -> MuralStandIn:
    stand_in = MuralStandIn()
    stand_in.add_dump(
        to_mural_dump(
            [
                Frame("Current state", 0, 0, 2000, 1000),
                Note("Order entry", -300, 0, parent=0, tags=("step",)),
                Note("Ship", 300, 0, parent=0, tags=("step",)),
                Link(1, 2),
            ],
            mural_id=MURAL,
        )
    )
    stand_in.add_votes(MURAL, "s1", {mural_id(2): 3})
    return stand_in


@pytest.fixture
def api_url(mural: MuralStandIn) -> Iterator[str]:
    with serve(mural.app()) as url:
        yield url + mural.prefix


def test_dump_mural_writes_a_dump_that_imports(
    mural: MuralStandIn, api_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = mural.issue_token()
    out = tmp_path / "mural.json"

    status = main(["dump", "mural", MURAL, "--token", token, "--api-url", api_url, "-o", str(out)])

    dump = json.loads(out.read_text())
    assert status == 0
    assert dump["provider"] == "mural"
    assert len(dump["widgets"]) == 4
    assert dump["votes"] == {mural_id(2): 3}
    assert len(load_dump(dump).items) == 3
    assert "wrote 4 widgets, 1 tags and votes on 1 widgets" in capsys.readouterr().err


def test_dump_mural_to_stdout(
    mural: MuralStandIn, api_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["dump", "mural", MURAL, "--token", mural.issue_token(), "--api-url", api_url])

    assert status == 0
    assert json.loads(capsys.readouterr().out)["mural"]["id"] == MURAL


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--token", "not-a-token"], "refused"),
        (["--token", "{token}", "--api-url", "ftp://x"], "must be an http(s) URL"),
        ([], "a Mural access token is needed"),
    ],
)
def test_dump_mural_fails_with_one_line_and_no_token(
    mural: MuralStandIn,
    api_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    arguments: list[str],
    message: str,
) -> None:
    monkeypatch.delenv("VSM_MURAL_TOKEN", raising=False)
    token = mural.issue_token()
    args = [a.replace("{token}", token) for a in arguments]
    if "--api-url" not in args:
        args += ["--api-url", api_url]

    status = main(["dump", "mural", MURAL, *args])

    err = capsys.readouterr().err
    assert status == 2
    assert message in err
    assert err.count("\n") == 1
    assert token not in err
    assert "not-a-token" not in err


def test_dump_mural_of_an_unknown_mural_says_not_found(
    mural: MuralStandIn, api_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["dump", "mural", "acme7380.1", "--token", mural.issue_token(), "--api-url", api_url]
    )

    assert status == 2
    assert "not found" in capsys.readouterr().err
