"""``vsm explain FILE``: the board drawn as read, to stdout or a file; input errors are one line."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from service.cli import main
from tests.builders import to_mural_dump
from tests.domain.layout_boards import vsm_template

ROOT = Path(__file__).resolve().parents[2]
MIRO_EXAMPLE = ROOT / "examples" / "miro-abo-workshop.json"
SVG = "{http://www.w3.org/2000/svg}"


def _roles(svg: str) -> list[str | None]:
    root = ET.fromstring(svg)
    return [g.get("data-role") for g in root.iter(f"{SVG}g") if g.get("class") == "board-item"]


def test_explain_writes_the_board_as_read_into_the_output_file(tmp_path: Path) -> None:
    out = tmp_path / "board.svg"

    status = main(["explain", str(MIRO_EXAMPLE), "-o", str(out)])

    assert status == 0
    roles = _roles(out.read_text(encoding="utf-8"))
    assert roles.count("step") + roles.count("wait") == 13
    assert roles.count("data") >= 8


def test_explain_shows_why_an_item_was_not_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    board = tmp_path / "template.json"
    elements = vsm_template()
    elements.append(elements[1].__class__("Kommentar", 3000, 3000, "hexagon"))  # type: ignore[call-arg]
    board.write_text(json.dumps(to_mural_dump(elements)), encoding="utf-8")

    status = main(["explain", str(board)])

    svg = capsys.readouterr().out
    assert status == 0
    assert _roles(svg).count("step") == 3
    root = ET.fromstring(svg)
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert any("rule template-process" in title for title in titles)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explain", "missing.json"], "missing.json"),
        (["explain", str(MIRO_EXAMPLE), "--rules", "missing.yaml"], "missing.yaml"),
    ],
)
def test_explain_input_errors_are_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(args)

    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert err.startswith("vsm: error:")
    assert message in err
