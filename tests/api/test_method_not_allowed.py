"""405 answers list every method the path has in ``Allow``, not only one route's."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Workspace, shared_app_client

client = pytest.fixture(shared_app_client)  # one app for the module's tests


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/v1/boards/1/rules", {"GET", "PUT"}),
        ("GET", "/v1/boards/1/webhook-secret", {"POST", "DELETE"}),
        ("PATCH", "/v1/connections/1", {"GET", "DELETE"}),
        ("DELETE", "/v1/imports", {"GET", "POST"}),
    ],
)
def test_a_405_lists_every_method_of_the_path(
    client: TestClient, alice: Workspace, method: str, path: str, allowed: set[str]
) -> None:
    response = client.request(method, path, headers=alice.headers)

    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed
