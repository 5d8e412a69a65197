"""The import's account over the REST API: on the job, on the revision, and the malformed limit."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from testkit.service_dumps import stream_dump
from tests.api.conftest import Workspace, import_dump, shared_app_client

client = pytest.fixture(shared_app_client)  # one app for the module's tests


def _added_up(account: dict[str, Any]) -> int:
    used = sum(account["used"].values())
    skipped = sum(entry["count"] for entry in account["skipped"])
    return used + skipped + account["malformed"]["count"]


def test_the_import_job_and_its_revision_return_the_account(
    client: TestClient, alice: Workspace
) -> None:
    job = import_dump(client, alice, stream_dump(3, problems=[(0, "Medienbruch")]))
    revision = client.get(
        f"/v1/boards/{job['board_id']}/revisions/{job['revision']}", headers=alice.headers
    ).json()

    account = job["account"]
    assert account == revision["account"]
    assert (account["read"], account["used"]) == (5, {"container": 1, "problem": 1, "step": 3})
    assert _added_up(account) == account["read"]


def test_the_report_page_shows_the_account(client: TestClient, alice: Workspace) -> None:
    job = import_dump(client, alice, stream_dump(2))

    page = client.get(f"/v1/boards/{job['board_id']}/report.html", headers=alice.headers).text

    assert "What was read" in page
    assert "3 items read: 3 used, 0 skipped, 0 malformed." in page


def test_too_many_malformed_items_fail_the_import_and_the_previous_revision_stays(
    client: TestClient, alice: Workspace
) -> None:
    first = import_dump(client, alice, stream_dump(3))
    broken = stream_dump(3)
    for item in broken["items"][1:3]:  # two of the three steps lose their position
        item["positon"] = item.pop("position")

    failed = import_dump(client, alice, broken)
    board = client.get(f"/v1/boards/{first['board_id']}", headers=alice.headers).json()

    assert failed["status"] == "failed"
    assert "2 of 4 items (50.0%) are malformed" in failed["error"]
    assert "(position: missing)" in failed["error"]
    assert board["latest_revision"] == first["revision"] == 1
