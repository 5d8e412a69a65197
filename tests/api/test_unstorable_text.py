"""Request fields the database cannot store (lone surrogates, NUL) are refused with 422.

Board content from dumps is cleaned instead (tests/api/test_imports.py); see docs/service.md.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from testkit.service_dumps import stream_dump
from tests.api.conftest import MakeClient, Workspace, import_dump

BAD = ["\ud800", "\x00"]


def _post_json(client: TestClient, method: str, path: str, who: Workspace, data: object):  # type: ignore[no-untyped-def]
    return client.request(
        method,
        path,
        content=json.dumps(data).encode(),
        headers={**who.headers, "Content-Type": "application/json"},
    )


@pytest.mark.parametrize("bad", BAD)
def test_rules_with_text_the_database_cannot_store_are_refused(
    client: TestClient, alice: Workspace, bad: str
) -> None:
    job = import_dump(client, alice, stream_dump(2))
    rules = {"version": 1, "streams": {"current": [f"Ist{bad}"]}}

    response = _post_json(client, "PUT", f"/v1/boards/{job['board_id']}/rules", alice, rules)

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"].startswith("body.streams.current")


@pytest.mark.parametrize("bad", BAD)
def test_a_subscription_with_text_the_database_cannot_store_is_refused(
    make_client: MakeClient, alice: Workspace, bad: str
) -> None:
    from cryptography.fernet import Fernet

    subscription = {
        "url": "http://10.0.0.7/x",
        "events": ["import.failed"],
        "description": f"ops {bad}",
    }
    with make_client(
        encryption_keys=[Fernet.generate_key().decode()],
        webhooks={"allow_private_targets": True},
    ) as client:
        response = _post_json(client, "POST", "/v1/subscriptions", alice, subscription)

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body.description"
