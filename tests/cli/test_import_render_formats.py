"""``vsm import --format svg|html``: the map of one stream and the report page, to a file."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from service.cli import main

ROOT = Path(__file__).resolve().parents[2]
MIRO_EXAMPLE = ROOT / "examples" / "miro-abo-workshop.json"
MURAL_EXAMPLE = ROOT / "examples" / "mural-app-release.json"
SVG = "{http://www.w3.org/2000/svg}"


def step_ids(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return [g.get("data-step-id", "") for g in root.iter(f"{SVG}g") if g.get("class") == "step"]


def test_svg_draws_the_first_stream_into_the_output_file(tmp_path: Path) -> None:
    out = tmp_path / "map.svg"

    status = main(["import", str(MIRO_EXAMPLE), "--format", "svg", "-o", str(out)])

    assert status == 0
    text = out.read_text(encoding="utf-8")
    assert len(step_ids(text)) == 8
    assert "Ist-Zustand" in text


@pytest.mark.parametrize("choice", ["2", "Target state"])
def test_svg_draws_the_chosen_stream(choice: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["import", str(MURAL_EXAMPLE), "--format", "svg", "--stream", choice])

    out = capsys.readouterr().out
    assert status == 0
    assert len(step_ids(out)) == 6
    assert "Target state" in out


def test_an_unknown_stream_is_one_error_line_listing_the_streams(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["import", str(MURAL_EXAMPLE), "--format", "svg", "--stream", "9"])

    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert err.startswith("vsm: error: no stream '9'")
    assert "1: Current state, 2: Target state" in err


def test_html_writes_the_self_contained_report(tmp_path: Path) -> None:
    out = tmp_path / "report.html"

    status = main(["import", str(MIRO_EXAMPLE), "--format", "html", "-o", str(out)])

    page = out.read_text(encoding="utf-8")
    assert status == 0
    assert page.startswith("<!DOCTYPE html>")
    assert page.count('class="vsm-map"') == 2
    assert "<script" not in page
    assert "Allied Medien AG" in page
