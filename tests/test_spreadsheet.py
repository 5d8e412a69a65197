"""The XLSX export: sheets, numbers as numbers, minute formats, frozen header, inert text."""

from __future__ import annotations

import io
import json
from pathlib import Path

from openpyxl import load_workbook

from connectors.dump import load_dump
from service.domain.contract_model import decode_contract
from service.domain.digitize import digitize
from service.spreadsheet import MINUTES, contract_to_xlsx

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "miro-abo-workshop.json"


def example_contract() -> dict:
    return digitize(load_dump(json.loads(EXAMPLE.read_text(encoding="utf-8"))))


def test_the_workbook_has_a_sheet_each_for_steps_problems_ideas_metrics_and_comparison() -> None:
    book = load_workbook(io.BytesIO(contract_to_xlsx(decode_contract(example_contract()))))

    assert book.sheetnames == ["Steps", "Problems", "Ideas", "Metrics", "Comparison"]
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2"
        assert all(cell.font.bold for cell in sheet[1])
        assert sheet.max_row > 1


def test_times_are_numbers_in_minutes_shown_with_a_unit() -> None:
    book = load_workbook(io.BytesIO(contract_to_xlsx(decode_contract(example_contract()))))
    steps = book["Steps"]
    header = [cell.value for cell in steps[1]]
    row = {header[i]: cell for i, cell in enumerate(steps[3])}  # "Paywall sehen"

    assert row["Step"].value == "Paywall sehen"
    assert row["Process time"].value == 1
    assert row["Lead time"].value == 5
    assert row["Process time"].number_format == MINUTES
    assert row["%C&A"].value == 0.6
    assert row["%C&A"].number_format == "0%"
    assert row["Problem ranks"].value == "2"


def test_board_text_that_looks_like_a_formula_stays_text() -> None:
    doc = example_contract()
    doc["streams"][0]["steps"][0]["title"] = '=HYPERLINK("http://evil.example","click")'

    book = load_workbook(io.BytesIO(contract_to_xlsx(decode_contract(doc))))
    cell = book["Steps"]["D2"]

    assert cell.data_type == "s"
    assert cell.value == '=HYPERLINK("http://evil.example","click")'
