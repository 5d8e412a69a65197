"""GET /v1/boards/{id}/diff: what changed between two revisions, the last two by default."""

from __future__ import annotations

from fastapi.testclient import TestClient

from testkit.service_dumps import stream_dump
from tests.api.conftest import Workspace, import_dump


def two_revisions(client: TestClient, who: Workspace) -> int:
    import_dump(client, who, stream_dump(3, problems=[(0, "Formular unklar")]))
    job = import_dump(client, who, stream_dump(4, problems=[(0, "Formular unklar"), (2, "Warten")]))
    assert job["revision"] == 2
    board_id: int = job["board_id"]
    return board_id


def test_the_default_diff_compares_the_last_two_revisions(
    client: TestClient, alice: Workspace
) -> None:
    board_id = two_revisions(client, alice)

    response = client.get(f"/v1/boards/{board_id}/diff", headers=alice.headers)

    assert response.status_code == 200, response.text
    diff = response.json()
    assert (diff["from_revision"], diff["to_revision"]) == (1, 2)
    assert [s["title"] for s in diff["steps"]["added"]] == ["Schritt 4"]
    assert [p["text"] for p in diff["problems"]["added"]] == ["Warten"]
    # the builder numbers items by position, so the old problem got a new id: it is matched by
    # its text and not reported as a new problem
    assert (diff["counts"]["items"]["added"], diff["counts"]["items"]["removed"]) == (3, 1)
    (stream,) = diff["metrics"]
    assert stream["metrics"]["step_count"] == {"old": 3, "new": 4, "delta": 1.0, "pct": 33.3}


def test_from_and_to_can_be_chosen_in_either_order(client: TestClient, alice: Workspace) -> None:
    board_id = two_revisions(client, alice)

    backwards = client.get(f"/v1/boards/{board_id}/diff?from=2&to=1", headers=alice.headers)
    same = client.get(f"/v1/boards/{board_id}/diff?from=2&to=2", headers=alice.headers)

    assert [s["title"] for s in backwards.json()["steps"]["removed"]] == ["Schritt 4"]
    assert same.json()["counts"]["items"] == {"added": 0, "removed": 0, "changed": 0}


def test_a_board_with_one_revision_or_a_missing_revision_is_not_found(
    client: TestClient, alice: Workspace
) -> None:
    job = import_dump(client, alice, stream_dump(2))
    path = f"/v1/boards/{job['board_id']}/diff"

    assert client.get(path, headers=alice.headers).status_code == 404
    assert client.get(f"{path}?from=1&to=7", headers=alice.headers).status_code == 404
    assert client.get(f"{path}?from=0", headers=alice.headers).status_code == 422


def test_another_workspaces_board_cannot_be_diffed(
    client: TestClient, alice: Workspace, bob: Workspace
) -> None:
    board_id = two_revisions(client, alice)

    assert client.get(f"/v1/boards/{board_id}/diff", headers=bob.headers).status_code == 404
    assert client.get(f"/v1/boards/{board_id}/diff").status_code == 401
