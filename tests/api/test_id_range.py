"""Ids past what the id columns hold (2^31 on PostgreSQL, 2^63 on SQLite) are unknown ids: 404."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from service.api.deps import encode_cursor
from service.db.engine import max_id
from tests.api.conftest import Workspace, shared_app_client

# "past" is one past the backend's column range: 2^31 on PostgreSQL, 2^63 on SQLite.
TOO_LARGE = ["past", 2**63, 10**30, -(2**63) - 1]

client = pytest.fixture(shared_app_client)  # one app for the module's tests


def out_of_range(engine: Engine, number: int | str) -> int:
    return max_id(engine) + 1 if number == "past" else int(number)


ROUTES = [
    ("GET", "/v1/imports/{n}"),
    ("GET", "/v1/boards/{n}"),
    ("GET", "/v1/boards/{n}/revisions"),
    ("GET", "/v1/boards/{n}/revisions/{n}"),
    ("GET", "/v1/boards/1/revisions/{n}"),
    ("GET", "/v1/boards/{n}/streams"),
    ("GET", "/v1/boards/{n}/report"),
    ("GET", "/v1/boards/{n}/report.html"),
    ("GET", "/v1/boards/{n}/rules"),
    ("GET", "/v1/boards/{n}/sync"),
    ("GET", "/v1/boards/{n}/webhook"),
    ("GET", "/v1/boards/{n}/hooks/deliveries"),
    ("GET", "/v1/boards/{n}/diff"),
    ("POST", "/v1/boards/{n}/share"),
    ("POST", "/v1/boards/{n}/webhook-secret"),
    ("DELETE", "/v1/boards/{n}/webhook-secret"),
    ("GET", "/v1/streams/{n}"),
    ("GET", "/v1/streams/{n}/export"),
    ("GET", "/v1/streams/{n}/map.svg"),
    ("GET", "/v1/streams/1?revision={n}"),
    ("GET", "/v1/boards/1/diff?from={n}&to={n}"),
    ("GET", "/v1/connections/{n}"),
    ("DELETE", "/v1/connections/{n}"),
    ("GET", "/v1/subscriptions/{n}"),
    ("DELETE", "/v1/subscriptions/{n}"),
    ("GET", "/v1/subscriptions/{n}/deliveries"),
]


@pytest.mark.parametrize("number", TOO_LARGE)
def test_an_id_past_the_column_range_is_not_found_on_every_route(
    client: TestClient, engine: Engine, alice: Workspace, number: int | str
) -> None:
    # One app for all routes (starting one per route costs seconds each).
    answers = {}
    for method, template in ROUTES:
        response = client.request(
            method, template.format(n=out_of_range(engine, number)), headers=alice.headers
        )
        answers[f"{method} {template}"] = (
            response.status_code,
            response.headers["content-type"],
        )

    assert answers == {route: (404, "application/problem+json") for route in answers}


@pytest.mark.parametrize("number", TOO_LARGE)
def test_a_trigger_for_an_id_past_the_column_range_is_not_found(
    client: TestClient, engine: Engine, number: int | str
) -> None:
    response = client.post(
        f"/v1/hooks/boards/{out_of_range(engine, number)}",
        content=b"{}",
        headers={"Valuestream-Signature": "t=1,v1=00", "Valuestream-Delivery": "d-1"},
    )

    assert response.status_code == 404, response.text


@pytest.mark.parametrize(
    ("path", "key"),
    [("/v1/imports", "before"), ("/v1/boards", "after"), ("/v1/subscriptions", "after")],
)
@pytest.mark.parametrize("number", [2**63, -(2**63) - 1, 10**30])
def test_a_cursor_past_the_column_range_is_an_invalid_cursor(
    client: TestClient, alice: Workspace, path: str, key: str, number: int
) -> None:
    response = client.get(
        path, params={"cursor": encode_cursor({key: number})}, headers=alice.headers
    )

    assert response.status_code == 400, response.text
    assert response.json()["type"].endswith("/invalid-cursor")
