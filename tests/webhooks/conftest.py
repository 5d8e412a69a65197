"""Webhook fixtures: the app with encryption keys and a short debounce, a board with a secret,
and a signer that posts triggers the way a sender does."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from service.webhooks.signing import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from testkit.service_dumps import stream_dump
from tests.api.conftest import (  # noqa: F401  (fixtures used by the webhook tests)
    MakeClient,
    Workspace,
    alice,
    bob,
    client,
    import_dump,
    make_client,
)

KEY = Fernet.generate_key().decode()
DEBOUNCE_S = 0.3


@pytest.fixture
def hook_client(make_client: MakeClient) -> Iterator[TestClient]:  # noqa: F811
    with make_client(
        encryption_keys=[KEY],
        webhooks={"debounce_s": DEBOUNCE_S, "allow_private_targets": True},
    ) as client:  # noqa: F811
        yield client


@dataclass
class HookedBoard:
    """A board with one revision and a webhook secret; ``post`` sends a signed trigger."""

    client: TestClient
    owner: Workspace
    board_id: int
    secret: str

    @property
    def url(self) -> str:
        return f"/v1/hooks/boards/{self.board_id}"

    def post(
        self,
        body: bytes | None = None,
        *,
        secret: str | None = None,
        timestamp: int | None = None,
        delivery_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        delivery = delivery_id or str(uuid.uuid4())
        raw = body if body is not None else json.dumps({"delivery_id": delivery}).encode()
        t = int(time.time()) if timestamp is None else timestamp
        sent = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret or self.secret, raw, t),
            DELIVERY_HEADER: delivery,
        }
        sent.update(headers or {})
        return self.client.post(self.url, content=raw, headers=sent)

    def log(self) -> list[dict[str, Any]]:
        response = self.client.get(
            f"/v1/boards/{self.board_id}/hooks/deliveries?limit=200", headers=self.owner.headers
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def jobs(self) -> list[dict[str, Any]]:
        response = self.client.get("/v1/imports?limit=200", headers=self.owner.headers)
        assert response.status_code == 200, response.text
        return [job for job in response.json()["items"] if job["trigger"] == "webhook"]

    def settle(self) -> None:
        """Wait until every job the app published, a debounced fire included, has run: what
        has not happened by then never will (no sleep to prove that nothing happened)."""
        assert self.client.app.state.runtime.dispatcher.wait_idle(30)  # type: ignore[attr-defined]

    def rotate(self) -> dict[str, Any]:
        response = self.client.post(
            f"/v1/boards/{self.board_id}/webhook-secret", headers=self.owner.headers
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created


def wait_until(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def hooked(hook_client: TestClient, alice: Workspace) -> HookedBoard:  # noqa: F811
    job = import_dump(hook_client, alice, stream_dump(3))
    board = HookedBoard(hook_client, alice, job["board_id"], "")
    board.secret = board.rotate()["secret"]
    return board
