"""Outbound notifications: subscriptions, signed deliveries, retries, give-up and SSRF refusals."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from service.db.engine import SessionFactory, create_session_factory
from service.db.tables import ImportJob, JobStatus, utcnow
from service.usecases import imports as imports_usecase
from service.usecases.imports import IMPORT_TASK
from service.usecases.keys import create_api_key
from service.webhooks import notify
from service.webhooks.config import SecretBox
from service.webhooks.egress import EgressPolicy
from service.webhooks.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, verify
from service.webhooks.tables import DeliveryAttempt, DeliveryStatus, SubscriptionDelivery
from testkit.service_dumps import stream_dump
from tests.api.conftest import MakeClient, Workspace, import_dump
from tests.webhooks.conftest import KEY, wait_until

BOX = SecretBox([KEY])


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []
    statuses: list[int] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers.items()), body))
        status = Receiver.statuses.pop(0) if Receiver.statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    Receiver.received, Receiver.statuses = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()
    server.server_close()


def subscribe(client: TestClient, who: Workspace, url: str, events: list[str]) -> dict[str, Any]:
    response = client.post(
        "/v1/subscriptions", json={"url": url, "events": events}, headers=who.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_a_new_revision_is_delivered_signed_to_the_subscriber(
    hook_client: TestClient, alice: Workspace, receiver: str
) -> None:
    subscription = subscribe(hook_client, alice, receiver, ["revision.created"])

    job = import_dump(hook_client, alice, stream_dump(3))
    wait_until(lambda: len(Receiver.received) == 1)

    headers, body = Receiver.received[0]
    verify([subscription["secret"]], headers[SIGNATURE_HEADER], body, now=time.time())
    event = json.loads(body)
    assert (event["type"], headers[EVENT_HEADER]) == ("revision.created", "revision.created")
    assert event["id"] == headers[DELIVERY_HEADER]
    assert event["data"]["board"]["id"] == job["board_id"]
    assert event["data"]["revision"]["number"] == 1
    wait_until(
        lambda: (
            hook_client.get(
                f"/v1/subscriptions/{subscription['id']}/deliveries", headers=alice.headers
            ).json()["items"][0]["status"]
            == "delivered"
        )
    )
    deliveries = hook_client.get(
        f"/v1/subscriptions/{subscription['id']}/deliveries", headers=alice.headers
    ).json()["items"]
    (delivery,) = deliveries
    assert (delivery["attempts"], delivery["last_status_code"]) == (1, 200)
    assert delivery["attempt_log"][0]["number"] == 1
    assert delivery["next_attempt_at"] is None


def test_an_unchanged_import_sends_nothing(
    hook_client: TestClient, alice: Workspace, receiver: str
) -> None:
    subscribe(hook_client, alice, receiver, ["revision.created", "import.failed"])
    import_dump(hook_client, alice, stream_dump(3))
    wait_until(lambda: len(Receiver.received) == 1)

    again = import_dump(hook_client, alice, stream_dump(3))

    assert again["status"] == "unchanged"
    assert hook_client.app.state.runtime.dispatcher.wait_idle(30)  # type: ignore[attr-defined]
    assert len(Receiver.received) == 1


def test_a_job_that_crashes_while_storing_ends_failed_and_is_announced_once(
    hook_client: TestClient, alice: Workspace, receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscription = subscribe(hook_client, alice, receiver, ["import.failed"])

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")

    monkeypatch.setattr(imports_usecase, "_insert_revision", refuse)
    job = import_dump(hook_client, alice, stream_dump(3))
    runtime = hook_client.app.state.runtime  # type: ignore[attr-defined]
    runtime.dispatcher.publish(IMPORT_TASK, job["id"])  # a redelivery, as after a restart
    assert runtime.dispatcher.wait_idle()

    assert job["status"] == "failed"
    assert "UnicodeEncodeError" in job["error"]
    wait_until(lambda: len(Receiver.received) == 1)
    event = json.loads(Receiver.received[0][1])
    assert event["type"] == "import.failed"
    assert event["data"]["import_job"]["id"] == job["id"]
    deliveries = hook_client.get(
        f"/v1/subscriptions/{subscription['id']}/deliveries", headers=alice.headers
    ).json()["items"]
    assert len(deliveries) == 1
    again = hook_client.get(f"/v1/imports/{job['id']}", headers=alice.headers).json()
    assert (again["status"], again["attempts"]) == ("failed", 1)


def test_subscriptions_are_listed_read_and_deleted_within_their_workspace(
    hook_client: TestClient, alice: Workspace, bob: Workspace, receiver: str
) -> None:
    created = subscribe(hook_client, alice, receiver, ["import.failed"])
    path = f"/v1/subscriptions/{created['id']}"

    listed = hook_client.get("/v1/subscriptions", headers=alice.headers).json()["items"]
    shown = hook_client.get(path, headers=alice.headers).json()

    assert [s["id"] for s in listed] == [created["id"]]
    assert "secret" not in shown
    assert created["secret"].startswith("whsec_")
    assert hook_client.get(path, headers=bob.headers).status_code == 404
    assert hook_client.delete(path, headers=bob.headers).status_code == 404
    assert hook_client.get(f"{path}/deliveries", headers=bob.headers).status_code == 404
    assert hook_client.delete(path, headers=alice.headers).status_code == 204
    assert hook_client.get(path, headers=alice.headers).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"url": "https://example.com/x", "events": []},
        {"url": "https://example.com/x", "events": ["board.deleted"]},
        {"url": "ftp://example.com/x", "events": ["import.failed"]},
        {"events": ["import.failed"]},
    ],
)
def test_bad_subscriptions_are_refused(
    hook_client: TestClient, alice: Workspace, body: dict[str, Any]
) -> None:
    response = hook_client.post("/v1/subscriptions", json=body, headers=alice.headers)

    assert response.status_code == 422


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://localhost/hook",
    ],
)
def test_internal_urls_are_refused_without_the_operator_setting(
    make_client: MakeClient, alice: Workspace, url: str
) -> None:
    with make_client(encryption_keys=[KEY]) as client:
        response = client.post(
            "/v1/subscriptions",
            json={"url": url, "events": ["import.failed"]},
            headers=alice.headers,
        )

    assert response.status_code == 422
    assert "cannot be called" in response.json()["detail"]


@pytest.fixture
def sessions(engine: Engine) -> SessionFactory:
    return create_session_factory(engine)


PUBLIC_POLICY = EgressPolicy(resolver=lambda host, port: ["93.184.216.34"])


def _failed_job_delivery(sessions: SessionFactory, url: str, policy: EgressPolicy) -> int:
    """A workspace subscribed to import.failed, one failed job, and the delivery it caused."""
    with sessions() as session:
        workspace_id = create_api_key(session, "carol").workspace.id
        assert workspace_id is not None
        notify.create_subscription(session, workspace_id, url, ["import.failed"], BOX, policy)
        job = ImportJob(
            workspace_id=workspace_id,
            status=JobStatus.FAILED,
            error="the dump is not valid JSON",
            finished_at=utcnow(),
        )
        session.add(job)
        session.commit()
        assert job.id is not None
        job_id = job.id
    with sessions() as session:
        (delivery_id,) = notify.emit_job_events(
            session, job_id, base_url="http://api.test", now=utcnow()
        )
    with sessions() as session:  # emitting again adds nothing
        assert notify.emit_job_events(session, job_id, base_url="x", now=utcnow()) == []
    return delivery_id


def _attempt(
    sessions: SessionFactory,
    delivery_id: int,
    number: int,
    transport: httpx.BaseTransport,
    *,
    now: datetime | None = None,
    policy: EgressPolicy = PUBLIC_POLICY,
) -> notify.AttemptResult:
    with sessions() as session, httpx.Client(transport=transport) as client:
        return notify.attempt_delivery(
            session,
            delivery_id,
            number,
            client=client,
            policy=policy,
            box=BOX,
            window_s=24 * 3600,
            now=lambda: now or utcnow(),
            rand=lambda: 1.0,  # the longest wait the jitter allows
        )


def _delivery(sessions: SessionFactory, delivery_id: int) -> SubscriptionDelivery:
    with sessions() as session:
        row = session.get(SubscriptionDelivery, delivery_id)
        assert row is not None
        return row


def _attempts(sessions: SessionFactory, delivery_id: int) -> list[tuple[int, int | None]]:
    with sessions() as session:
        rows = session.exec(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == delivery_id)
            .order_by(col(DeliveryAttempt.number))
        ).all()
        return [(row.number, row.status_code) for row in rows]


def test_a_failed_import_is_announced_and_a_500_is_retried_with_backoff(
    sessions: SessionFactory,
) -> None:
    delivery_id = _failed_job_delivery(sessions, "https://hooks.example.com/x", PUBLIC_POLICY)
    answers = iter([500, 503, 200])
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(next(answers))

    transport = httpx.MockTransport(handler)
    first = _attempt(sessions, delivery_id, 1, transport)
    second = _attempt(sessions, delivery_id, 2, transport)
    third = _attempt(sessions, delivery_id, 3, transport)

    assert [r.retry_in_s for r in (first, second, third)] == [30.0, 60.0, None]
    assert third.status == DeliveryStatus.DELIVERED
    assert _attempts(sessions, delivery_id) == [(1, 500), (2, 503), (3, 200)]
    event = json.loads(seen[0].content)
    assert event["type"] == "import.failed"
    assert event["data"]["import_job"]["error"] == "the dump is not valid JSON"
    assert {r.headers[DELIVERY_HEADER] for r in seen} == {event["id"]}


def test_a_duplicate_attempt_task_sends_nothing(sessions: SessionFactory) -> None:
    delivery_id = _failed_job_delivery(sessions, "https://hooks.example.com/x", PUBLIC_POLICY)
    calls: list[int] = []
    transport = httpx.MockTransport(lambda request: calls.append(1) or httpx.Response(500))

    _attempt(sessions, delivery_id, 1, transport)
    duplicate = _attempt(sessions, delivery_id, 1, transport)

    assert duplicate.status is None
    assert len(calls) == 1


def test_delivery_gives_up_when_the_day_is_over(sessions: SessionFactory) -> None:
    delivery_id = _failed_job_delivery(sessions, "https://hooks.example.com/x", PUBLIC_POLICY)
    transport = httpx.MockTransport(lambda request: httpx.Response(500))
    created = _delivery(sessions, delivery_id).created_at
    late = created + timedelta(hours=23, minutes=59, seconds=50)

    result = _attempt(sessions, delivery_id, 1, transport, now=late)

    assert (result.status, result.retry_in_s) == (DeliveryStatus.FAILED, None)
    row = _delivery(sessions, delivery_id)
    assert (row.status, row.next_attempt_at, row.last_status_code) == ("failed", None, 500)


def test_a_receivers_retry_after_is_honoured_exactly(sessions: SessionFactory) -> None:
    delivery_id = _failed_job_delivery(sessions, "https://hooks.example.com/x", PUBLIC_POLICY)
    busy = httpx.MockTransport(lambda request: httpx.Response(503, headers={"Retry-After": "7"}))

    result = _attempt(sessions, delivery_id, 1, busy)

    assert (result.status, result.retry_in_s) == (DeliveryStatus.PENDING, 7.0)


def test_the_retry_schedule_spans_the_day_with_growing_gaps() -> None:
    gaps = [notify.DELIVERY_RETRY.delay(n, None, lambda: 1.0) for n in range(40)]
    elapsed, attempts = 0.0, 1
    for gap in gaps:
        if elapsed + gap > 24 * 3600:
            break
        elapsed += gap
        attempts += 1

    assert gaps[:4] == [30.0, 60.0, 120.0, 240.0]
    assert max(gaps) == 3600.0
    assert 25 <= attempts <= 35


@pytest.mark.parametrize(
    ("address", "reason"),
    [("127.0.0.1", "loopback"), ("10.0.0.1", "private"), ("169.254.169.254", "link-local")],
)
def test_a_host_that_now_resolves_inside_is_refused_at_delivery(
    sessions: SessionFactory, address: str, reason: str
) -> None:
    delivery_id = _failed_job_delivery(sessions, "https://hooks.example.com/x", PUBLIC_POLICY)
    calls: list[int] = []
    transport = httpx.MockTransport(lambda request: calls.append(1) or httpx.Response(200))

    result = _attempt(
        sessions,
        delivery_id,
        1,
        transport,
        policy=EgressPolicy(resolver=lambda host, port: [address]),
    )

    assert result.status == DeliveryStatus.FAILED
    assert calls == []
    assert reason in (_delivery(sessions, delivery_id).last_error or "")


def test_a_redirect_to_loopback_is_not_followed(sessions: SessionFactory) -> None:
    delivery_id = _failed_job_delivery(sessions, "https://hooks.example.com/x", PUBLIC_POLICY)
    hops: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hops.append(str(request.url))
        return httpx.Response(307, headers={"Location": "http://127.0.0.1/admin"})

    policy = EgressPolicy(follow_redirects=True, resolver=PUBLIC_POLICY.resolver)
    result = _attempt(sessions, delivery_id, 1, httpx.MockTransport(handler), policy=policy)

    assert hops == ["https://hooks.example.com/x"]
    assert result.status == DeliveryStatus.FAILED
    assert "loopback" in (_delivery(sessions, delivery_id).last_error or "")
