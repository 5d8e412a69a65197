"""PUT /v1/boards/{id}/rules reclassifies the stored board; POST /v1/classify stores nothing."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from testkit.service_dumps import stream_dump
from tests.api.conftest import Workspace, import_dump, wait_for_job
from tests.api.test_imports import count

# The frame is titled "Ablauf": no state word, until a rule names it the current state.
CUSTOM_TITLE = "Ablauf"


def test_new_rules_reclassify_the_latest_revision_into_a_new_one(
    client: TestClient, alice: Workspace, engine: Engine
) -> None:
    job = import_dump(client, alice, stream_dump(3, title=CUSTOM_TITLE))
    board = job["board_id"]
    with engine.begin() as connection:  # the dump is gone: only the stored board can be used
        connection.execute(sa.text("DELETE FROM import_upload"))

    response = client.put(
        f"/v1/boards/{board}/rules",
        json={"streams": {"current": ["ablauf"]}},
        headers=alice.headers,
    )

    assert response.status_code == 202
    done = wait_for_job(client, alice, response.json()["id"])
    assert (done["status"], done["kind"], done["revision"]) == ("succeeded", "reclassify", 2)
    streams = client.get(f"/v1/boards/{board}/streams", headers=alice.headers).json()["items"]
    assert [s["stream"]["state"] for s in streams] == ["current"]
    revisions = client.get(f"/v1/boards/{board}/revisions", headers=alice.headers).json()["items"]
    assert revisions[0]["trigger"] == "rules"
    assert revisions[0]["content_hash"] == revisions[1]["content_hash"]
    assert revisions[0]["rules_hash"] != revisions[1]["rules_hash"]
    rules = client.get(f"/v1/boards/{board}/rules", headers=alice.headers).json()
    assert rules["rules"] == {"streams": {"current": ["ablauf"]}}
    used = client.get(f"/v1/boards/{board}/revisions/2", headers=alice.headers).json()
    assert "ablauf" in used["ruleset"]["streams"]["current"]
    assert used["import_stats"]["items_read"] > 0


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ({"colors": {"violet": "villain"}}, "body.colors.violet"),
        ({"time": {"hours_per_day": 30}}, "body.time.hours_per_day"),
        ({"colour": {}}, "body.colour"),
        ({"colors": {"ultraviolet": "step"}}, None),  # only the rules module knows colour names
    ],
)
def test_malformed_rules_are_refused_naming_the_field_and_nothing_changes(
    client: TestClient, alice: Workspace, engine: Engine, rules: dict, field: str | None
) -> None:
    board = import_dump(client, alice, stream_dump(2))["board_id"]
    jobs_before = count(engine, "import_job")

    response = client.put(f"/v1/boards/{board}/rules", json=rules, headers=alice.headers)

    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "https://valuestream.dev/problems/invalid-rules"
    if field:
        assert field in [e["field"] for e in problem["errors"]]
    else:
        assert "ultraviolet" in problem["detail"]
    assert count(engine, "import_job") == jobs_before
    assert client.get(f"/v1/boards/{board}/rules", headers=alice.headers).json()["rules"] is None


def test_rules_for_another_workspaces_board_are_404(
    client: TestClient, alice: Workspace, bob: Workspace
) -> None:
    board = import_dump(client, alice, stream_dump(2))["board_id"]

    response = client.put(f"/v1/boards/{board}/rules", json={}, headers=bob.headers)

    assert response.status_code == 404


def test_classify_previews_contract_v1_and_stores_nothing(
    client: TestClient, alice: Workspace, engine: Engine
) -> None:
    response = client.post(
        "/v1/classify",
        json={
            "dump": stream_dump(3, title=CUSTOM_TITLE),
            "rules": {"streams": {"target": ["ablauf"]}},
        },
        headers=alice.headers,
    )

    assert response.status_code == 200
    document = response.json()
    assert document["schema_version"] == 1
    assert [s["state"] for s in document["streams"]] == ["target"]
    assert count(engine, "board") == count(engine, "import_job") == 0


def test_classify_takes_a_file_upload_with_a_rules_file(
    client: TestClient, alice: Workspace
) -> None:
    response = client.post(
        "/v1/classify",
        files={
            "file": ("b.json", json.dumps(stream_dump(2, title=CUSTOM_TITLE)), "application/json"),
            "rules": (
                "r.json",
                json.dumps({"streams": {"current": ["ablauf"]}}),
                "application/json",
            ),
        },
        headers=alice.headers,
    )

    assert response.status_code == 200
    assert [s["state"] for s in response.json()["streams"]] == ["current"]


def test_classify_names_a_missing_or_unknown_field(client: TestClient, alice: Workspace) -> None:
    response = client.post("/v1/classify", json={"rulez": {}}, headers=alice.headers)

    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"body.dump", "body.rulez"}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"rules": {}}, "validation-error"),
        ({"dump": {"provider": "miro"}}, "invalid-dump"),
        ({"dump": stream_dump(1), "rules": {"colors": {"red": 5}}}, "invalid-rules"),
    ],
)
def test_classify_refuses_bad_input_with_a_problem(
    client: TestClient, alice: Workspace, body: dict, problem: str
) -> None:
    response = client.post("/v1/classify", json=body, headers=alice.headers)

    assert response.status_code == 422
    assert response.json()["type"].endswith(problem)
