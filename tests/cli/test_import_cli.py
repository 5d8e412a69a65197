"""``vsm import``: every format on the example boards, one clean stderr line for bad input."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from rich.console import Console

from connectors.dump import read_dump_file
from service.cli import main
from service.cli.import_formats import render_table
from service.cli.imports import MAX_DUMP_BYTES
from service.domain.contract_model import decode_contract
from service.domain.digitize import digitize
from testkit.builders import miro_dump, miro_frame, miro_sticky

ROOT = Path(__file__).resolve().parents[2]
MIRO_EXAMPLE = ROOT / "examples" / "miro-abo-workshop.json"
MURAL_EXAMPLE = ROOT / "examples" / "mural-app-release.json"
SCHEMA = json.loads((ROOT / "schema" / "contract-v1.json").read_text(encoding="utf-8"))

IST_STEPS = [
    "Artikel entdecken",
    "Paywall sehen",
    "Abo-Angebot vergleichen",
    "Registrieren",
    "Zahlungsdaten eingeben",
    "Bestätigungs-E-Mail abwarten",
    "Konto aktivieren",
    "Erste Ausgabe lesen",
]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_table_shows_steps_problems_metrics_and_comparison(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = _run(["import", str(MIRO_EXAMPLE)], capsys)

    assert status == 0
    assert err == "vsm: read 59: used 52, skipped 7, malformed 0\n"
    for title in IST_STEPS:
        assert title in out
    assert "Bestätigungs-E-Mail landet oft im Spam-Ordner" in out
    assert "Persona: Lena, 34, liest täglich mobil" in out
    assert "Total lead time" in out
    assert "Current vs target state" in out
    assert "Mit Apple Pay oder Google Pay bezahlen" in out
    assert "Unclassified items: 0" in out
    # sections are separated by one blank line, also where a stream has no problems or ideas
    assert "\n\n\n" not in out.replace(" ", "")


def test_table_shows_lanes_of_a_swimlane_board(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(["import", str(MURAL_EXAMPLE), "--format", "table"], capsys)

    assert status == 0
    assert "Lanes: Growth, Design, Development, Test" in out
    assert "Write UI tests" in out


def test_a_table_too_wide_for_the_terminal_keeps_times_whole_and_wraps_the_titles() -> None:
    doc = digitize(read_dump_file(MIRO_EXAMPLE, MAX_DUMP_BYTES))
    buffer = io.StringIO()

    render_table(decode_contract(doc), Console(file=buffer, width=60, color_system=None))

    lines = buffer.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 60
    steps = lines[[line.strip() for line in lines].index("Steps") :]
    # Zahlungsdaten eingeben: PT 6.5 min, WT 53.5 min (rich wrapped them as "6.5" / "min")
    row = next(line for line in steps if line.split()[:1] == ["5"])
    assert "6.5 min" in row
    assert "53.5 min" in row
    assert steps[steps.index(row) + 1].split() == ["ein…"]


@pytest.mark.parametrize("example", [MIRO_EXAMPLE, MURAL_EXAMPLE], ids=["miro", "mural"])
def test_json_output_validates_against_the_published_schema(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(["import", str(example), "--format", "json"], capsys)

    assert status == 0
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(out))


def test_json_is_contract_v1_with_current_and_target_streams(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = _run(["import", str(MIRO_EXAMPLE), "--format", "json"], capsys)

    doc = json.loads(out)
    assert status == 0
    assert doc["schema_version"] == 1
    assert doc["board"] == {
        "provider": "miro",
        "id": "uXjVN4pQ2kE=",
        "name": "Allied Medien AG – VSM Digital-Abo",  # noqa: RUF001
    }
    assert [s["state"] for s in doc["streams"]] == ["current", "target"]
    assert [s["title"] for s in doc["streams"][0]["steps"]] == IST_STEPS
    assert doc["comparison"] is not None
    # umlauts are written as they are, not as \u escapes
    assert "Bestätigungs-E-Mail" in out


def test_markdown_has_a_section_and_a_table_row_per_step(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = _run(["import", str(MIRO_EXAMPLE), "--format", "markdown"], capsys)

    assert status == 0
    assert out.startswith("# Allied Medien AG")
    assert "## Ist-Zustand (current)" in out
    assert "## Soll-Zustand (target)" in out
    assert "| 1 | Artikel entdecken |" in out
    assert "## Current vs target state" in out


def test_csv_has_one_row_per_step_of_every_stream(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(["import", str(MURAL_EXAMPLE), "--format", "csv"], capsys)

    rows = list(csv.DictReader(io.StringIO(out)))
    assert status == 0
    assert len(rows) == 9 + 6
    assert {row["state"] for row in rows} == {"current", "target"}
    ui_tests = next(row for row in rows if row["step"] == "Write UI tests")
    assert (ui_tests["lane"], ui_tests["order"], ui_tests["problem_weight"]) == ("Test", "6", "4")


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "csv"])
def test_output_option_writes_the_file_and_nothing_to_stdout(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / f"result.{fmt}"

    status, out, err = _run(
        ["import", str(MIRO_EXAMPLE), "--format", fmt, "-o", str(out_file)], capsys
    )

    assert (status, out) == (0, "")
    assert err == ("vsm: read 59: used 52, skipped 7, malformed 0\n" if fmt == "table" else "")
    written = out_file.read_text(encoding="utf-8")
    assert "Artikel entdecken" in written
    assert "\x1b" not in written


def test_rules_file_changes_the_classification(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\ncolors:\n  orange: step\n", encoding="utf-8")

    # the Mural example has no legend, so the colour rules decide its orange sticky
    status, out, _ = _run(
        ["import", str(MURAL_EXAMPLE), "--rules", str(rules), "--format", "json"], capsys
    )

    doc = json.loads(out)
    wait = next(s for s in doc["streams"][0]["steps"] if s["title"] == "Wait for design review")
    assert status == 0
    assert wait["value_adding"] is True


def test_table_prints_board_text_literally_without_markup_or_terminal_escapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = miro_dump(
        [
            miro_frame("1", "Ist", 0, 0),
            miro_sticky("2", "[bold red]Schritt[/] \x1b[2J", 200, 200, parent="1"),
        ]
    )
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(dump), encoding="utf-8")

    status, out, _ = _run(["import", str(path)], capsys)

    assert status == 0
    assert "[bold red]Schritt[/]" in out
    assert "\x1b" not in out


def _write(tmp_path: Path, name: str, content: str) -> str:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing file", "no such file"),
        ("invalid json", "JSON"),
        ("not a dump", "not a Miro or Mural dump"),
        ("json list", "not a Miro or Mural dump"),
        ("bad rules field", "colors"),
        ("missing rules file", "rules"),
        ("unwritable output", "cannot write"),
        ("bytes that are not UTF-8 in the board name", "UTF-8"),
        ("bytes that are not UTF-8 in a sticky", "UTF-8"),
        ("an object nested 100,000 deep", "nested too deeply"),
    ],
)
def test_bad_input_exits_2_with_one_error_line_and_no_traceback(
    case: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = {
        "missing file": ["import", str(tmp_path / "nope.json")],
        "invalid json": ["import", _write(tmp_path, "broken.json", '{"provider": "miro",')],
        "not a dump": ["import", _write(tmp_path, "other.json", '{"hello": "world"}')],
        "json list": ["import", _write(tmp_path, "list.json", "[1, 2, 3]")],
        "bad rules field": [
            "import",
            str(MIRO_EXAMPLE),
            "--rules",
            _write(tmp_path, "rules.yaml", "version: 1\ncolors:\n  orange: banana\n"),
        ],
        "missing rules file": ["import", str(MIRO_EXAMPLE), "--rules", str(tmp_path / "r.yaml")],
        "unwritable output": [
            "import",
            str(MIRO_EXAMPLE),
            "-o",
            str(tmp_path / "no-such-dir" / "out.txt"),
        ],
        "bytes that are not UTF-8 in the board name": [
            "import",
            _write_bytes(
                tmp_path, "name.json", _sticky_dump_bytes("NAME").replace(b"NAME", b"\xff")
            ),
        ],
        "bytes that are not UTF-8 in a sticky": [
            "import",
            _write_bytes(
                tmp_path, "text.json", _sticky_dump_bytes("TEXT").replace(b"TEXT", b"\xfe")
            ),
        ],
        "an object nested 100,000 deep": [
            "import",
            _write(
                tmp_path,
                "deep.json",
                json.dumps(miro_dump([miro_sticky("s1", "x", 0, 0)]))[:-1]
                + ', "extra": '
                + '{"a":' * 100_000
                + "1"
                + "}" * 100_000
                + "}",
            ),
        ],
    }[case]

    status, out, err = _run(argv, capsys)

    assert status == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("vsm: error: ")
    assert expected in lines[0]
    assert "Traceback" not in err


def _sticky_dump_bytes(marker: str) -> bytes:
    dump = miro_dump([miro_sticky("s1", "TEXT", 0, 0)])
    dump["board"]["name"] = "NAME"
    return json.dumps(dump).encode().replace(b"TEXT", marker.encode())


def _write_bytes(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("escape", ["\\ud800", "\\udc00", "\\u0000", "a\\ud800\\ud800b"])
def test_text_the_database_cannot_store_is_replaced_by_the_replacement_character(
    escape: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = _sticky_dump_bytes("TEXT").replace(b"TEXT", escape.encode())
    path = _write_bytes(tmp_path, "text.json", dump)

    status, out, err = _run(["import", path, "--format", "json"], capsys)

    assert status == 0, err
    shown = json.dumps(json.loads(out), ensure_ascii=False)
    assert "\ufffd" in shown
    assert not any(ch == "\x00" or "\ud800" <= ch <= "\udfff" for ch in shown)


def _subprocess(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )


def test_python_dash_m_runs_the_same_command_as_a_process() -> None:
    completed = _subprocess("import", str(MURAL_EXAMPLE), "--format", "json")

    assert completed.returncode == 0, completed.stderr
    doc = json.loads(completed.stdout)
    assert [s["name"] for s in doc["streams"]] == ["Current state", "Target state"]


def test_a_process_reports_a_missing_file_in_one_line_without_traceback(tmp_path: Path) -> None:
    completed = _subprocess("import", str(tmp_path / "missing.json"))

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.count("\n") == 1
    assert completed.stderr.startswith("vsm: error: ")
    assert "Traceback" not in completed.stderr


def _dump_with_malformed(tmp_path: Path, good: int, bad: int) -> str:
    items = [miro_sticky(f"g{n}", "Schritt", n * 300, 0) for n in range(good)]
    for n in range(bad):
        item = miro_sticky(f"b{n}", "Schritt", n * 300, 900)
        item["positon"] = item.pop("position")  # misspelled: the item cannot be placed
        items.append(item)
    return _write(tmp_path, "board.json", json.dumps(miro_dump(items)))


def test_the_table_comes_with_the_account_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run(["import", str(MIRO_EXAMPLE)], capsys)

    assert status == 0
    assert err == "vsm: read 59: used 52, skipped 7, malformed 0\n"


def test_json_output_carries_the_account(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(["import", str(MURAL_EXAMPLE), "--format", "json"], capsys)

    account = json.loads(out)["account"]
    assert status == 0
    assert (account["read"], account["malformed"]["count"]) == (69, 0)


def test_one_malformed_item_in_a_hundred_passes_but_is_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _dump_with_malformed(tmp_path, 99, 1)

    status, out, _ = _run(["import", path, "--format", "json"], capsys)

    assert status == 0
    assert json.loads(out)["account"]["malformed"]["items"] == [
        {"item_id": "b0", "field": "position", "problem": "missing"}
    ]


def test_strict_fails_on_any_malformed_item_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _dump_with_malformed(tmp_path, 99, 1)

    status, out, err = _run(["import", path, "--strict"], capsys)

    assert (status, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith("vsm: error: ")
    assert "1 of 100 items (1.0%) are malformed" in err
    assert "b0 (position: missing)" in err


def test_more_malformed_items_than_the_rules_allow_fail_the_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _dump_with_malformed(tmp_path, 10, 1)

    status, _, err = _run(["import", path], capsys)

    assert status == 2
    assert "more than the 2.0% the rules allow (max_malformed_share)" in err
