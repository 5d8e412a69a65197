"""``vsm --version``, an example in every command's help, and settings people paste in."""

from __future__ import annotations

import argparse

import pytest

from service.cli import build_parser, main
from service.settings import Settings


def test_vsm_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])

    assert stopped.value.code == 0
    assert capsys.readouterr().out.startswith("vsm 0.")


def _commands(parser: argparse.ArgumentParser, path: str = "vsm") -> list[tuple[str, str]]:
    found = [(path, parser.epilog or "")]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, f"{path} {name}")
    return found


def test_every_command_and_group_shows_an_example_in_its_help() -> None:
    missing = [
        path
        for path, epilog in _commands(build_parser())
        if path.count(" ") <= 1 and "example: vsm" not in epilog and "vsm " not in epilog
    ]

    assert missing == []


@pytest.mark.parametrize(
    "url",
    ["postgres://u:pw@db:5432/vsm", "postgresql://u:pw@db:5432/vsm"],
)
def test_a_postgres_url_as_platforms_write_it_works(url: str) -> None:
    settings = Settings(database_url=url)

    assert settings.database_url == "postgresql+psycopg://u:pw@db:5432/vsm"
