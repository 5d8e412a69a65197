"""POST /v1/imports and GET /v1/imports/{id}: dumps become revisions through the worker."""

from __future__ import annotations

import errno
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from service.usecases.uploads import UploadFile, UploadFolder
from testkit.service_dumps import stream_dump
from tests.api.conftest import MakeClient, Workspace, import_dump, wait_for_job


def count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def upload_files(client: TestClient) -> list[str]:
    """The files in the app's upload folder (none once every job has finished). The worker
    deletes a job's file after the commit that finishes the job, which a client may already
    have seen: wait for the in-process worker's jobs to end first."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    assert runtime.dispatcher.wait_idle(30)
    folder = runtime.uploads.path
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("provider", ["miro", "mural"])
def test_a_posted_dump_becomes_a_board_whose_streams_are_served(
    client: TestClient, alice: Workspace, provider: str
) -> None:
    job = import_dump(client, alice, stream_dump(4, provider=provider))

    assert job["status"] == "succeeded"
    assert job["revision"] == 1
    assert job["progress"] == 100
    streams = client.get(f"/v1/boards/{job['board_id']}/streams", headers=alice.headers).json()
    assert [s["stream"]["name"] for s in streams["items"]] == ["Ist-Zustand"]
    steps = streams["items"][0]["stream"]["steps"]
    assert [step["title"] for step in steps] == [f"Schritt {n}" for n in range(1, 5)]


def test_a_dump_uploaded_as_a_file_is_imported_like_a_json_body(
    client: TestClient, alice: Workspace
) -> None:
    raw = json.dumps(stream_dump(2)).encode()

    response = client.post(
        "/v1/imports",
        files={"file": ("board.json", raw, "application/json")},
        headers=alice.headers,
    )

    assert response.status_code == 202
    assert response.headers["location"] == f"/v1/imports/{response.json()['id']}"
    assert wait_for_job(client, alice, response.json()["id"])["status"] == "succeeded"


def test_the_same_content_again_reports_unchanged_and_adds_no_revision(
    client: TestClient, alice: Workspace
) -> None:
    first = import_dump(client, alice, stream_dump(3))

    again = import_dump(client, alice, stream_dump(3))

    assert again["status"] == "unchanged"
    assert again["revision"] == 1
    revisions = client.get(f"/v1/boards/{first['board_id']}/revisions", headers=alice.headers)
    assert [r["number"] for r in revisions.json()["items"]] == [1]


def test_changed_content_adds_a_revision_and_the_stream_keeps_its_id(
    client: TestClient, alice: Workspace
) -> None:
    first = import_dump(client, alice, stream_dump(3))
    board_id = first["board_id"]
    stream_id = client.get(f"/v1/boards/{board_id}/streams", headers=alice.headers).json()["items"][
        0
    ]["id"]

    second = import_dump(client, alice, stream_dump(5))

    assert (second["status"], second["revision"], second["board_id"]) == ("succeeded", 2, board_id)
    latest = client.get(f"/v1/streams/{stream_id}", headers=alice.headers).json()
    assert (latest["revision"], len(latest["stream"]["steps"])) == (2, 5)
    older = client.get(f"/v1/streams/{stream_id}?revision=1", headers=alice.headers).json()
    assert (older["revision"], len(older["stream"]["steps"])) == (1, 3)
    revisions = client.get(f"/v1/boards/{board_id}/revisions", headers=alice.headers).json()
    assert [r["number"] for r in revisions["items"]] == [2, 1]
    assert revisions["items"][0]["step_count"] == 5


def test_an_idempotency_key_sent_twice_queues_one_job(
    client: TestClient, alice: Workspace, engine: Engine
) -> None:
    headers = {**alice.headers, "Idempotency-Key": "upload-42"}

    first = client.post("/v1/imports", json=stream_dump(2), headers=headers)
    second = client.post("/v1/imports", json=stream_dump(2), headers=headers)

    assert first.json()["id"] == second.json()["id"]
    assert count(engine, "import_job") == 1


def test_an_idempotency_key_reused_with_another_body_is_refused_naming_the_first_job(
    client: TestClient, alice: Workspace, engine: Engine
) -> None:
    headers = {**alice.headers, "Idempotency-Key": "upload-43"}
    first = client.post("/v1/imports", json=stream_dump(2), headers=headers)

    other = client.post("/v1/imports", json=stream_dump(3), headers=headers)

    assert other.status_code == 422
    assert other.json()["type"].endswith("/idempotency-key-reused")
    assert f"import job {first.json()['id']}" in other.json()["detail"]
    assert count(engine, "import_job") == 1


def test_a_body_of_another_media_type_is_refused_and_nothing_is_stored(
    client: TestClient, alice: Workspace, engine: Engine
) -> None:
    response = client.post(
        "/v1/imports",
        content=b"provider: miro",
        headers={**alice.headers, "Content-Type": "text/yaml"},
    )

    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "https://valuestream.dev/problems/unsupported-media-type"
    assert count(engine, "import_job") == count(engine, "import_upload") == 0
    assert upload_files(client) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"provider": "miro", "board": ', "invalid JSON at line 1"),
        (b"\xff\xfe not text", "not UTF-8 text"),
        (b'{"provider": "trello"}', "unknown provider 'trello'"),
        (b"[1, 2, 3]", "the top level must be a JSON object"),
        (b'{"provider": "miro"}', "missing key 'board'"),
    ],
)
def test_a_malformed_upload_is_accepted_and_its_job_fails_with_the_reason(
    client: TestClient, alice: Workspace, engine: Engine, body: bytes, reason: str
) -> None:
    first = import_dump(client, alice, stream_dump(3))

    response = client.post(
        "/v1/imports", content=body, headers={**alice.headers, "Content-Type": "application/json"}
    )

    assert response.status_code == 202  # parsing is the worker's: the API only stores bytes
    job = wait_for_job(client, alice, response.json()["id"])
    assert job["status"] == "failed"
    assert reason in job["error"]
    board = client.get(f"/v1/boards/{first['board_id']}", headers=alice.headers).json()
    assert board["latest_revision"] == 1  # the previous revision stays current
    assert count(engine, "import_upload") == 0
    assert upload_files(client) == []  # the failed job's upload went with it


def test_an_upload_arriving_in_odd_pieces_is_read_back_whole_by_the_worker(
    client: TestClient, alice: Workspace, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("service.api.uploads.BATCH_BYTES", 1000)
    read: list[bytes | None] = []
    original = UploadFolder.read

    def spy(folder: UploadFolder, name: str) -> bytes | None:
        read.append(original(folder, name))
        return read[-1]

    monkeypatch.setattr(UploadFolder, "read", spy)
    raw = json.dumps(stream_dump(40)).encode()

    def pieces():  # no Content-Length, odd piece sizes
        for start in range(0, len(raw), 777):
            yield raw[start : start + 777]

    response = client.post(
        "/v1/imports",
        content=pieces(),
        headers={**alice.headers, "Content-Type": "application/json"},
    )

    assert response.status_code == 202
    job = wait_for_job(client, alice, response.json()["id"])
    assert job["status"] == "succeeded"
    assert read == [raw]
    streams = client.get(f"/v1/boards/{job['board_id']}/streams", headers=alice.headers).json()
    assert len(streams["items"][0]["stream"]["steps"]) == 40
    assert count(engine, "import_upload") == 0
    assert upload_files(client) == []  # deleted once the job finished


def test_an_idempotent_replay_keeps_only_the_first_requests_upload(
    client: TestClient, alice: Workspace, engine: Engine
) -> None:
    headers = {**alice.headers, "Idempotency-Key": "replayed-upload"}
    dump = stream_dump(3)

    first = client.post("/v1/imports", json=dump, headers=headers)
    again = client.post("/v1/imports", json=dump, headers=headers)

    assert again.json()["id"] == first.json()["id"]
    assert wait_for_job(client, alice, first.json()["id"])["status"] == "succeeded"
    assert upload_files(client) == []


def test_a_form_without_the_file_part_names_the_missing_field(
    client: TestClient, alice: Workspace
) -> None:
    response = client.post(
        "/v1/imports", data={"other": "x"}, files={"x": ("a", b"{}")}, headers=alice.headers
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "body.file", "message": "field required"}]


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_dump_over_the_size_limit_is_refused_with_413_and_nothing_is_stored(
    make_client: MakeClient, alice: Workspace, engine: Engine, declared: bool
) -> None:
    raw = json.dumps(stream_dump(40)).encode()
    assert len(raw) > 4096

    def chunks():  # no Content-Length: the limit must hold while reading
        for start in range(0, len(raw), 1000):
            yield raw[start : start + 1000]

    with make_client(max_upload_bytes=4096) as client:
        response = client.post(
            "/v1/imports",
            content=raw if declared else chunks(),
            headers={**alice.headers, "Content-Type": "application/json"},
        )
        left = upload_files(client)

    assert response.status_code == 413
    assert response.json()["type"] == "https://valuestream.dev/problems/payload-too-large"

    assert count(engine, "import_job") == count(engine, "import_upload") == 0
    assert left == []


def test_an_uploaded_file_over_the_size_limit_is_refused_with_413(
    make_client: MakeClient, alice: Workspace
) -> None:
    raw = json.dumps(stream_dump(40)).encode()

    with make_client(max_upload_bytes=4096) as client:
        response = client.post(
            "/v1/imports",
            files={"file": ("b.json", raw, "application/json")},
            headers=alice.headers,
        )

    assert response.status_code == 413


def test_import_jobs_are_listed_newest_first(client: TestClient, alice: Workspace) -> None:
    first = import_dump(client, alice, stream_dump(2))
    second = import_dump(client, alice, stream_dump(3))

    listed = client.get("/v1/imports", headers=alice.headers).json()

    assert [job["id"] for job in listed["items"]] == [second["id"], first["id"]]


def test_concurrent_uploads_while_the_worker_writes_all_succeed(
    make_client: MakeClient, alice: Workspace
) -> None:
    dumps = [
        stream_dump(5, board_id=f"b{n % 4}", step_text=f"Schritt {{n}} v{n}") for n in range(40)
    ]

    # All 40 may be active at once here (the default cap of 20 is tested in test_fairness).
    with make_client(max_active_imports=40) as client, ThreadPoolExecutor(8) as pool:
        responses = list(
            pool.map(lambda d: client.post("/v1/imports", json=d, headers=alice.headers), dumps)
        )
        assert {r.status_code for r in responses} == {202}
        jobs = [wait_for_job(client, alice, r.json()["id"]) for r in responses]
        boards = client.get("/v1/boards", headers=alice.headers).json()["items"]

    assert {job["status"] for job in jobs} == {"succeeded"}
    assert sorted(b["latest_revision"] for b in boards) == [10, 10, 10, 10]


@pytest.mark.parametrize(
    ("bad", "stored"),
    [("\ud800", "\ufffd"), ("\x00", "\ufffd"), ("a\ud83d", "a\ufffd")],
)
def test_text_the_database_cannot_store_is_imported_with_the_replacement_character(
    client: TestClient, alice: Workspace, bad: str, stored: str
) -> None:
    dump = stream_dump(2, name=f"Board {bad}", step_text=f"Schritt {{n}} {bad}")
    body = json.dumps(dump).encode()  # ASCII escapes: "\ud800" is valid JSON, not valid UTF-8

    response = client.post(
        "/v1/imports", content=body, headers={**alice.headers, "Content-Type": "application/json"}
    )

    assert response.status_code == 202, response.text
    job = wait_for_job(client, alice, response.json()["id"])
    assert job["status"] == "succeeded", job
    board = client.get(f"/v1/boards/{job['board_id']}", headers=alice.headers).json()
    assert board["name"] == f"Board {stored}"


def test_a_full_disk_answers_503_with_retry_after_and_leaves_no_file(
    client: TestClient, alice: Workspace, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(upload: UploadFile, pieces: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(UploadFile, "write", full)

    response = client.post("/v1/imports", json=stream_dump(3), headers=alice.headers)

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "60"
    assert "No space left on device" in response.json()["detail"]
    assert count(engine, "import_job") == count(engine, "import_upload") == 0
    assert upload_files(client) == []
