"""Read routes: boards, revisions, streams with ETags, report, exports, pagination, isolation."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from fastapi.testclient import TestClient

from testkit.service_dumps import stream_dump
from tests.api.conftest import Workspace, import_dump, shared_app_client

client = pytest.fixture(shared_app_client)  # read routes: one app for the module

CONTRACT = json.loads(
    (Path(__file__).resolve().parents[2] / "schema" / "contract-v1.json").read_text("utf-8")
)
STREAM_SCHEMA = jsonschema.Draft202012Validator(
    {"$defs": CONTRACT["$defs"], "$ref": "#/$defs/stream"}
)
PROBLEMS = [(0, "Formular unklar (1)"), (2, "Freigabe dauert ewig (5)"), (1, "Medienbruch (3)")]


@pytest.fixture
def board(client: TestClient, alice: Workspace) -> dict:
    job = import_dump(client, alice, stream_dump(3, problems=PROBLEMS))
    streams = client.get(f"/v1/boards/{job['board_id']}/streams", headers=alice.headers).json()
    return {"id": job["board_id"], "stream_id": streams["items"][0]["id"]}


def test_a_board_is_listed_and_shown_with_its_latest_revision(
    client: TestClient, alice: Workspace, board: dict
) -> None:
    listed = client.get("/v1/boards", headers=alice.headers).json()
    shown = client.get(f"/v1/boards/{board['id']}", headers=alice.headers).json()

    assert [b["id"] for b in listed["items"]] == [board["id"]]
    assert (shown["name"], shown["provider"], shown["latest_revision"]) == (
        "Service board",
        "miro",
        1,
    )
    assert shown["created_at"].endswith("Z")


def test_a_stream_is_served_as_contract_v1(
    client: TestClient, alice: Workspace, board: dict
) -> None:
    response = client.get(f"/v1/streams/{board['stream_id']}", headers=alice.headers)

    body = response.json()
    assert response.status_code == 200
    assert (body["schema_version"], body["board_id"], body["revision"]) == (1, board["id"], 1)
    assert set(body) == {"id", "board_id", "revision", "key", "schema_version", "stream"}
    assert body["id"] == board["stream_id"]
    assert body["stream"]["id"] == body["key"]  # the contract's own id, not the API's
    assert body["stream"]["id"].startswith("s-")
    STREAM_SCHEMA.validate(body["stream"])
    assert body["stream"]["metrics"]["step_count"] == 3


@pytest.mark.parametrize("query", ["", "?revision=1"])
def test_every_stream_of_a_board_is_valid_against_the_contract_schema(
    client: TestClient, alice: Workspace, board: dict, query: str
) -> None:
    listed = client.get(f"/v1/boards/{board['id']}/streams{query}", headers=alice.headers).json()
    exported = client.get(
        f"/v1/streams/{board['stream_id']}/export?format=json", headers=alice.headers
    ).json()

    for item in listed["items"]:
        STREAM_SCHEMA.validate(item["stream"])
        assert item["stream"]["id"] == item["key"]
    STREAM_SCHEMA.validate(exported["stream"])


def test_a_stream_read_answers_304_while_its_etag_matches(
    client: TestClient, alice: Workspace, board: dict
) -> None:
    url = f"/v1/streams/{board['stream_id']}"
    etag = client.get(url, headers=alice.headers).headers["etag"]

    unchanged = client.get(url, headers={**alice.headers, "If-None-Match": etag})
    import_dump(client, alice, stream_dump(4, problems=PROBLEMS))
    changed = client.get(url, headers={**alice.headers, "If-None-Match": etag})

    assert (unchanged.status_code, unchanged.content) == (304, b"")
    assert unchanged.headers["etag"] == etag
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


def test_the_report_ranks_problems_by_weight(
    client: TestClient, alice: Workspace, board: dict
) -> None:
    report = client.get(f"/v1/boards/{board['id']}/report", headers=alice.headers).json()

    assert [(p["rank"], p["text"], p["weight"]) for p in report["problems"]] == [
        (1, "Freigabe dauert ewig", 5),
        (2, "Medienbruch", 3),
        (3, "Formular unklar", 1),
    ]
    assert report["problems"][0]["step_title"] == "Schritt 3"
    assert report["streams"][0]["metrics"]["problem_weight"] == 9
    assert report["streams"][0]["stream_id"] == board["stream_id"]


@pytest.mark.parametrize(
    ("fmt", "media_type", "needle"),
    [
        ("csv", "text/csv; charset=utf-8", "Schritt 2"),
        ("markdown", "text/markdown; charset=utf-8", "Schritt 2"),
        ("json", "application/json", '"schema_version": 1'),
    ],
)
def test_a_stream_exports_as_a_download(
    client: TestClient, alice: Workspace, board: dict, fmt: str, media_type: str, needle: str
) -> None:
    response = client.get(
        f"/v1/streams/{board['stream_id']}/export?format={fmt}", headers=alice.headers
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert needle in response.text


def test_an_unknown_export_format_names_the_parameter(
    client: TestClient, alice: Workspace, board: dict
) -> None:
    response = client.get(
        f"/v1/streams/{board['stream_id']}/export?format=pdf", headers=alice.headers
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.format"]


def test_lists_are_paginated_with_a_cursor(client: TestClient, alice: Workspace) -> None:
    for n in range(3):
        import_dump(client, alice, stream_dump(2, board_id=f"board-{n}"))

    first = client.get("/v1/boards?limit=2", headers=alice.headers).json()
    second = client.get(
        f"/v1/boards?limit=2&cursor={first['next_cursor']}", headers=alice.headers
    ).json()

    assert [b["external_id"] for b in first["items"]] == ["board-0", "board-1"]
    assert [b["external_id"] for b in second["items"]] == ["board-2"]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [("limit=201", 422, "query.limit"), ("limit=0", 422, "query.limit"), ("cursor=%%%", 400, None)],
)
def test_a_bad_page_request_is_a_clear_problem(
    client: TestClient, alice: Workspace, query: str, status: int, field: str | None
) -> None:
    response = client.get(f"/v1/boards?{query}", headers=alice.headers)

    assert response.status_code == status
    if field:
        assert [e["field"] for e in response.json()["errors"]] == [field]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/boards/{board}",
        "/v1/boards/{board}/revisions",
        "/v1/boards/{board}/streams",
        "/v1/boards/{board}/report",
        "/v1/boards/{board}/rules",
        "/v1/streams/{stream}",
        "/v1/streams/{stream}/export?format=csv",
    ],
)
def test_another_workspace_gets_404_for_a_board_it_does_not_own(
    client: TestClient, bob: Workspace, board: dict, path: str
) -> None:
    url = path.format(board=board["id"], stream=board["stream_id"])

    response = client.get(url, headers=bob.headers)

    assert response.status_code == 404
    assert response.json()["type"] == "https://valuestream.dev/problems/not-found"
    assert "Service board" not in response.text


def test_another_workspace_cannot_see_an_import_job_or_list_the_board(
    client: TestClient, alice: Workspace, bob: Workspace
) -> None:
    job = import_dump(client, alice, stream_dump(2))

    assert client.get(f"/v1/imports/{job['id']}", headers=bob.headers).status_code == 404
    assert client.get("/v1/boards", headers=bob.headers).json()["items"] == []


@pytest.mark.parametrize("path", ["/v1/boards/999999", "/v1/streams/999999", "/v1/imports/999999"])
def test_an_unknown_id_is_404(client: TestClient, alice: Workspace, path: str) -> None:
    assert client.get(path, headers=alice.headers).status_code == 404


def test_a_revision_that_does_not_exist_is_404(
    client: TestClient, alice: Workspace, board: dict
) -> None:
    response = client.get(f"/v1/boards/{board['id']}/streams?revision=7", headers=alice.headers)

    assert response.status_code == 404
    assert "revision 7" in response.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/boards",
        "/v1/boards/{id}",
        "/v1/boards/{id}/revisions",
        "/v1/boards/{id}/streams",
        "/v1/boards/{id}/report",
    ],
)
def test_boards_lists_and_reports_answer_304_until_a_new_revision_changes_them(
    client: TestClient, alice: Workspace, board: dict, path: str
) -> None:
    url = path.format(id=board["id"])
    etag = client.get(url, headers=alice.headers).headers["etag"]

    unchanged = client.get(url, headers={**alice.headers, "If-None-Match": etag})
    import_dump(client, alice, stream_dump(4, problems=PROBLEMS))
    changed = client.get(url, headers={**alice.headers, "If-None-Match": etag})

    assert (unchanged.status_code, unchanged.content) == (304, b"")
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


def test_a_stream_keeps_its_etag_through_a_revision_that_leaves_it_unchanged(
    client: TestClient, alice: Workspace, board: dict
) -> None:
    url = f"/v1/streams/{board['stream_id']}"
    etag = client.get(url, headers=alice.headers).headers["etag"]

    # the same stream; a loose sticky outside every frame makes it a new revision
    dump = stream_dump(3, problems=PROBLEMS)
    dump["items"].append(
        {
            "id": "9990001",
            "type": "sticky_note",
            "data": {"content": "<p>Notiz</p>"},
            "style": {"fillColor": "light_yellow"},
            "position": {"x": 90000.0, "y": 90000.0, "origin": "center"},
            "geometry": {"width": 200.0, "height": 200.0},
        }
    )
    import_dump(client, alice, dump)
    after = client.get(url, headers={**alice.headers, "If-None-Match": etag})

    assert after.status_code == 304
    assert client.get(url, headers=alice.headers).json()["revision"] == 2


def test_the_revision_and_the_report_carry_the_boards_warnings(
    client: TestClient, alice: Workspace
) -> None:
    dump = stream_dump(2)
    agenda = {
        "id": "3458764599999990001",
        "type": "frame",
        "data": {"title": "Agenda", "format": "custom", "type": "freeform"},
        "style": {"fillColor": "#ffffffff"},
        "position": {"x": -5000, "y": -5000, "origin": "center", "relativeTo": "canvas_center"},
        "geometry": {"width": 800, "height": 600},
    }
    dump["items"].append(agenda)
    job = import_dump(client, alice, dump)

    revision = client.get(f"/v1/boards/{job['board_id']}/revisions/1", headers=alice.headers)
    report = client.get(f"/v1/boards/{job['board_id']}/report", headers=alice.headers)

    assert [w["code"] for w in revision.json()["warnings"]] == ["skipped-frame"]
    assert revision.json()["warnings"][0]["item_ids"] == ["3458764599999990001"]
    assert report.json()["warnings"] == revision.json()["warnings"]
