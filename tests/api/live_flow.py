"""Steps of the live-provider API tests, the same for Miro and Mural: the workshop board both
stand-ins serve, consent at a stand-in, connect a board, wait for its sync state, its next poll
or its import."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi.testclient import TestClient

from testkit.builders import Element, Frame, Link, Note
from tests.api.conftest import Workspace, wait_for_job


def workshop_shapes(step_two: str = "Credit check\nLT 2 d") -> list[Element]:
    """Three steps in a frame, linked in a row; ``step_two`` is the one a test edits."""
    return [
        Frame("Current state", 0, 0, 3000, 1600),
        Note("Order entry\nPT 5 min", -700, 0, parent=0, tags=("step",)),
        Note(step_two, 0, 0, parent=0, tags=("step",)),
        Note("Ship\nPT 1 h", 700, 0, parent=0, tags=("step",)),
        Link(1, 2),
        Link(2, 3),
    ]


def until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """``check()`` once it is truthy, polled every 50 ms; AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def authorize(client: TestClient, who: Workspace, provider: str, callback: str) -> dict[str, str]:
    """Ask for the ``provider`` link, "consent" at its stand-in; returns the callback's query."""
    response = client.get(f"/v1/connections/{provider}/authorize", headers=who.headers)
    assert response.status_code == 200, response.text
    redirect = httpx.get(response.json()["authorize_url"], follow_redirects=False)
    assert redirect.status_code == 302
    location = redirect.headers["location"]
    assert location.startswith(callback), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def connect(client: TestClient, who: Workspace, provider: str, callback: str) -> dict[str, Any]:
    """Authorize and call back: the stored connection as the API shows it."""
    query = authorize(client, who, provider, callback)
    response = client.get(f"/v1/oauth/{provider}/callback", params=query)
    assert response.status_code == 200, response.text
    return dict(response.json())


def connect_board(client: TestClient, who: Workspace, connection_id: int, external_id: str) -> int:
    """``POST /v1/boards``: the new live board's id."""
    response = client.post(
        "/v1/boards",
        json={"connection_id": connection_id, "external_id": external_id},
        headers=who.headers,
    )
    assert response.status_code == 202, response.text
    return int(response.json()["board_id"])


def sync_of(client: TestClient, who: Workspace, board_id: int) -> dict[str, Any]:
    response = client.get(f"/v1/boards/{board_id}/sync", headers=who.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_for_a_poll(client: TestClient, who: Workspace, board_id: int) -> None:
    checked = sync_of(client, who, board_id)["last_checked_at"]
    until(lambda: sync_of(client, who, board_id)["last_checked_at"] != checked)


def imported_job(client: TestClient, who: Workspace, board_id: int, after: int | None) -> Any:
    """The finished import job the board's sync names once it names one other than ``after``."""
    job_id = until(
        lambda: (j := sync_of(client, who, board_id)["last_import_job_id"]) != after and j
    )
    return wait_for_job(client, who, job_id)
