"""``vsm --version``, an example in every command's help, and settings people paste in."""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from service.cli import COMMANDS, build_parser, main
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


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_the_command_table_names_every_command_and_the_module_that_registers_it() -> None:
    every = _subcommands(build_parser())

    assert set(COMMANDS) == set(every)
    for command, module in COMMANDS.items():
        # a parser built for one command registers that command's module and nothing else
        alone = _subcommands(build_parser([command, "--help"]))
        assert command in alone
        assert set(alone) == {name for name, owner in COMMANDS.items() if owner == module}


def test_an_unknown_command_is_refused_with_every_command_listed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["imprt", "board.json"])

    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert all(f"'{command}'" in error for command in COMMANDS)


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


def test_the_import_command_offers_exactly_the_csv_dialects_the_exporter_writes() -> None:
    from service.cli.imports import CSV_DIALECT_NAMES
    from service.domain.export import CSV_DIALECTS

    assert tuple(CSV_DIALECTS) == CSV_DIALECT_NAMES


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "miro-abo-workshop.json"


def loaded_by(argv: list[str], names: tuple[str, ...], cwd: Path) -> list[str]:
    """Which of the modules ``names`` a fresh interpreter has loaded after ``vsm argv`` (this
    test process has imported everything already)."""
    script = (
        "import sys\n"
        "from service.cli import main\n"
        f"main({argv!r})\n"
        f"print(sorted(name for name in {names!r} if name in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=cwd
    )
    loaded: list[str] = ast.literal_eval(done.stdout.strip())
    return loaded


def test_vsm_import_as_json_loads_no_table_server_or_live_fetch_modules(tmp_path: Path) -> None:
    out = str(tmp_path / "o.json")
    heavy = (
        "rich",
        "pydantic",
        "yaml",
        "jinja2",
        "httpx",
        "fastapi",
        "sqlalchemy",
        "celery",
        "openpyxl",
        "service.domain.contract_model",
    )

    loaded = loaded_by(
        ["import", str(EXAMPLE), "--format", "json", "-q", "-o", out], heavy, tmp_path
    )

    assert loaded == []
    assert (tmp_path / "o.json").stat().st_size > 0


def test_vsm_import_as_a_table_loads_no_report_page_or_server_modules(tmp_path: Path) -> None:
    # the table is the default output: it needs rich, not jinja2 and the report page
    out = str(tmp_path / "o.txt")
    heavy = ("jinja2", "service.domain.render.html", "fastapi", "sqlalchemy", "httpx", "openpyxl")

    loaded = loaded_by(["import", str(EXAMPLE), "-q", "-o", out], heavy, tmp_path)

    assert loaded == []
    assert "Steps" in (tmp_path / "o.txt").read_text(encoding="utf-8")
