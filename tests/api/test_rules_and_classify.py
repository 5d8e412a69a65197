"""PUT /v1/boards/{id}/rules reclassifies the stored board; POST /v1/classify stores nothing."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from testkit.builders import Frame, Note, to_miro_dump
from testkit.service_dumps import stream_dump
from tests.api.conftest import Workspace, import_dump, shared_app_client, wait_for_job
from tests.api.test_imports import count

# The frame is titled "Ablauf": no state word, until a rule names it the current state.
CUSTOM_TITLE = "Ablauf"

client = pytest.fixture(shared_app_client)  # one app for the module's tests


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


RULES_YAML = """\
# as docs/rules.md writes them
version: 1
streams:
  current: [Ablauf]
"""


def test_rules_sent_as_yaml_are_stored_and_used(client: TestClient, alice: Workspace) -> None:
    board = import_dump(client, alice, stream_dump(2, title=CUSTOM_TITLE))["board_id"]

    response = client.put(
        f"/v1/boards/{board}/rules",
        content=RULES_YAML.encode(),
        headers={**alice.headers, "Content-Type": "application/yaml"},
    )

    assert response.status_code == 202
    assert wait_for_job(client, alice, response.json()["id"])["status"] == "succeeded"
    rules = client.get(f"/v1/boards/{board}/rules", headers=alice.headers).json()
    assert rules["rules"] == {"version": 1, "streams": {"current": ["Ablauf"]}}
    streams = client.get(f"/v1/boards/{board}/streams", headers=alice.headers).json()["items"]
    assert [s["stream"]["state"] for s in streams] == ["current"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "problem", "says"),
    [
        (b"colors: [unclosed", "application/yaml", 422, "invalid-rules", "invalid YAML at line"),
        (b"a: &x 1\nb: *x\n", "text/yaml", 422, "invalid-rules", "aliases"),
        (b"colors:\n  violet: villain\n", "application/yaml", 422, "invalid-rules", None),
        (b"<rules/>", "application/xml", 415, "unsupported-media-type", "application/yaml"),
        (b"{", "application/json", 400, "invalid-json", "not valid JSON"),
    ],
)
def test_bad_rules_files_are_refused_saying_why(
    client: TestClient,
    alice: Workspace,
    body: bytes,
    content_type: str,
    status: int,
    problem: str,
    says: str | None,
) -> None:
    board = import_dump(client, alice, stream_dump(2))["board_id"]

    response = client.put(
        f"/v1/boards/{board}/rules",
        content=body,
        headers={**alice.headers, "Content-Type": content_type},
    )

    assert response.status_code == status
    assert response.json()["type"].endswith("/" + problem)
    if says:
        assert says in response.json()["detail"]
    else:
        assert "body.colors.violet" in [e["field"] for e in response.json()["errors"]]


def test_classify_takes_a_yaml_rules_file_upload(client: TestClient, alice: Workspace) -> None:
    response = client.post(
        "/v1/classify",
        files={
            "file": ("b.json", json.dumps(stream_dump(2, title=CUSTOM_TITLE)), "application/json"),
            "rules": ("rules.yaml", RULES_YAML, "application/yaml"),
        },
        headers=alice.headers,
    )

    assert response.status_code == 200
    assert [s["state"] for s in response.json()["streams"]] == ["current"]


def legend_board() -> dict:
    """Two red stickies in the stream, and a legend saying red means wait."""
    return to_miro_dump(
        [
            Frame("Ist-Zustand", 600.0, 0.0, w=1600.0),
            Note("Antrag prüfen", 300.0, -200.0, parent=0),
            Note("Warten auf IT", 600.0, -200.0, color="red", parent=0),
            Note("Freigabe", 900.0, -200.0, parent=0),
            Frame("Legende", 4000.0, 0.0, w=800.0),
            Note("Wartezeit", 4000.0, 0.0, color="red", parent=4),
        ],
        board_id="uXjVlegend1=",
        name="Legend board",
    )


@pytest.mark.parametrize(
    ("precedence", "role_of_red", "warned"),
    [(None, "wait", True), ("rules", "idea", False)],
)
def test_the_legend_outranking_a_rule_is_a_warning_unless_precedence_says_rules(
    client: TestClient,
    alice: Workspace,
    precedence: str | None,
    role_of_red: str,
    warned: bool,
) -> None:
    rules: dict = {"colors": {"red": "idea"}}
    if precedence:
        rules["precedence"] = precedence

    response = client.post(
        "/v1/classify", json={"dump": legend_board(), "rules": rules}, headers=alice.headers
    )

    document = response.json()
    red = [
        d["role"]
        for d in document["decisions"]
        if d["rule"] in ("legend", "color") and d["role"] != "step"
    ]
    warnings = [w for w in document["warnings"] if w["code"] == "legend-outranks-rules"]
    assert response.status_code == 200
    assert red == [role_of_red]
    assert bool(warnings) is warned
    if warned:
        assert "colors.red: idea" in warnings[0]["message"]
        assert "precedence: rules" in warnings[0]["fix"]
