"""Board exports for spreadsheets: XLSX and CSV (UTF-8 with BOM, German dialect)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from service.cli import main
from tests.api.conftest import Workspace, import_dump, shared_app_client

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "miro-abo-workshop.json"

client = pytest.fixture(shared_app_client)  # one app for the module's tests


def test_a_board_downloads_as_an_xlsx_workbook(client: TestClient, alice: Workspace) -> None:
    job = import_dump(client, alice, json.loads(EXAMPLE.read_text(encoding="utf-8")))

    answer = client.get(f"/v1/boards/{job['board_id']}/export.xlsx", headers=alice.headers)
    book = load_workbook(io.BytesIO(answer.content))

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in answer.headers["content-disposition"]
    assert book.sheetnames == ["Steps", "Problems", "Ideas", "Metrics", "Comparison"]


def test_the_german_csv_opens_right_in_german_excel(client: TestClient, alice: Workspace) -> None:
    job = import_dump(client, alice, json.loads(EXAMPLE.read_text(encoding="utf-8")))

    answer = client.get(
        f"/v1/boards/{job['board_id']}/export.csv?dialect=excel-de", headers=alice.headers
    )

    assert answer.status_code == 200
    assert answer.content.startswith(b"\xef\xbb\xbfstream;state;order;step;")
    assert "6,5" in answer.text  # "Zahlungsdaten eingeben": 6.5 min process time


def test_another_workspaces_board_is_not_exported(
    client: TestClient, alice: Workspace, bob: Workspace
) -> None:
    job = import_dump(client, bob, json.loads(EXAMPLE.read_text(encoding="utf-8")))

    answer = client.get(f"/v1/boards/{job['board_id']}/export.xlsx", headers=alice.headers)

    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


def test_vsm_import_writes_an_xlsx_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "abo.xlsx"

    status = main(["import", str(EXAMPLE), "--format", "xlsx", "-o", str(out)])

    assert status == 0
    assert load_workbook(out)["Steps"]["D2"].value == "Artikel entdecken"
