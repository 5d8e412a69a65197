"""POST /v1/hooks/boards/{id}: signed triggers re-import a board once; bad ones are refused."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import SecretStr
from structlog.testing import capture_logs

from service.api.routes import webhooks as webhooks_routes
from service.db import loop_reads
from service.webhooks import signing
from service.webhooks.signing import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from testkit.service_dumps import stream_dump
from tests.api.conftest import MakeClient, Workspace, import_dump
from tests.conftest import TestDatabase
from tests.webhooks.conftest import KEY, HookedBoard, wait_until


def finished(board: HookedBoard) -> list[dict]:
    return [j for j in board.jobs() if j["status"] not in ("queued", "running")]


def test_a_signed_trigger_is_acknowledged_and_re_imports_the_board_after_the_debounce(
    hooked: HookedBoard,
) -> None:
    response = hooked.post()

    assert response.status_code == 202
    assert response.json()["outcome"] == "accepted"
    wait_until(lambda: len(finished(hooked)) == 1)
    (job,) = hooked.jobs()
    assert (job["kind"], job["status"], job["board_id"]) == (
        "reclassify",
        "unchanged",
        hooked.board_id,
    )
    (entry,) = hooked.log()
    assert (entry["outcome"], entry["delivery_id"]) == ("accepted", response.json()["delivery_id"])


def test_a_tampered_body_is_rejected_and_logged(hooked: HookedBoard) -> None:
    body = b'{"reason": "x"}'
    t = int(time.time())
    response = hooked.client.post(
        hooked.url,
        content=body + b" ",
        headers={SIGNATURE_HEADER: sign(hooked.secret, body, t), DELIVERY_HEADER: "d-1"},
    )

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "signature_mismatch" in response.json()["detail"]
    (entry,) = hooked.log()
    assert (entry["outcome"], entry["reason"]) == ("rejected", "signature_mismatch")
    hooked.settle()
    assert hooked.jobs() == []


@pytest.mark.parametrize(
    ("kwargs", "status", "reason"),
    [
        ({"timestamp": int(time.time()) - 301}, 401, "timestamp_out_of_tolerance"),
        ({"timestamp": int(time.time()) + 3600}, 401, "timestamp_out_of_tolerance"),
        ({"secret": "whsec_wrong"}, 401, "signature_mismatch"),
        ({"headers": {SIGNATURE_HEADER: ""}}, 401, "signature_missing"),
        ({"headers": {SIGNATURE_HEADER: "t=1,v1=zz"}}, 401, "signature_malformed"),
        ({"headers": {DELIVERY_HEADER: ""}}, 422, "delivery_id_missing"),
        ({"headers": {DELIVERY_HEADER: "x" * 101}}, 422, "delivery_id_malformed"),
        ({"body": b'{"delivery_id": "someone-else"}'}, 401, "delivery_id_mismatch"),
        ({"body": b"x" * (64 * 1024 + 1)}, 413, "body_too_large"),
    ],
)
def test_bad_triggers_are_refused_before_any_work(
    hooked: HookedBoard, kwargs: dict, status: int, reason: str
) -> None:
    response = hooked.post(**kwargs)

    assert response.status_code == status, response.text
    (entry,) = hooked.log()
    assert (entry["outcome"], entry["reason"]) == ("rejected", reason)
    hooked.settle()
    assert hooked.jobs() == []


def test_a_missing_signature_header_is_refused(hooked: HookedBoard) -> None:
    response = hooked.client.post(hooked.url, content=b"{}", headers={DELIVERY_HEADER: "d-2"})

    assert response.status_code == 401
    assert hooked.log()[0]["reason"] == "signature_missing"


def test_a_replayed_delivery_is_rejected_and_queues_no_second_import(
    hooked: HookedBoard,
) -> None:
    first = hooked.post(delivery_id="delivery-1")
    wait_until(lambda: len(finished(hooked)) == 1)

    replay = hooked.post(delivery_id="delivery-1")

    assert (first.status_code, replay.status_code) == (202, 409)
    assert "replay" in replay.json()["detail"]
    hooked.settle()
    assert len(hooked.jobs()) == 1
    assert [e["reason"] for e in hooked.log()] == ["replay", None]


def test_the_same_request_sent_twice_at_once_queues_one_import(hooked: HookedBoard) -> None:
    body = json.dumps({"delivery_id": "twice"}).encode()
    headers = {
        SIGNATURE_HEADER: sign(hooked.secret, body, int(time.time())),
        DELIVERY_HEADER: "twice",
    }

    statuses = [
        hooked.client.post(hooked.url, content=body, headers=headers).status_code for _ in range(2)
    ]

    assert sorted(statuses) == [202, 409]
    wait_until(lambda: len(finished(hooked)) == 1)
    hooked.settle()
    assert len(hooked.jobs()) == 1


def test_many_triggers_within_the_debounce_window_make_one_pending_import(
    make_client: MakeClient, alice: Workspace
) -> None:
    # A window far longer than 30 requests take on any machine: the test states no speed.
    # That the pending import then runs once is the first test's subject.
    window = 3600.0
    with make_client(encryption_keys=[KEY], webhooks={"debounce_s": window}) as client:
        job = import_dump(client, alice, stream_dump(2))
        board = HookedBoard(client, alice, job["board_id"], "")
        board.secret = board.rotate()["secret"]

        outcomes = [board.post().json()["outcome"] for _ in range(30)]
        hook = client.get(f"/v1/boards/{job['board_id']}/webhook", headers=alice.headers).json()

        assert outcomes[0] == "accepted"
        assert set(outcomes[1:]) == {"coalesced"}
        assert hook["state"] == "pending"
        assert hook["due_at"] is not None
        assert board.jobs() == []


def test_a_trigger_after_the_import_starts_a_new_window(hooked: HookedBoard) -> None:
    hooked.post()
    wait_until(lambda: len(finished(hooked)) == 1)

    again = hooked.post()

    assert again.json()["outcome"] == "accepted"
    wait_until(lambda: len(finished(hooked)) == 2)


def test_rotation_keeps_the_old_secret_valid_during_the_overlap(hooked: HookedBoard) -> None:
    old = hooked.secret

    rotated = hooked.rotate()

    assert rotated["secret"] != old
    assert rotated["previous_secret_valid_until"] is not None
    assert hooked.post(secret=old).status_code == 202
    assert hooked.post(secret=rotated["secret"]).status_code == 202


def test_after_the_overlap_only_the_new_secret_verifies(
    make_client: MakeClient, alice: Workspace
) -> None:
    with make_client(encryption_keys=[KEY], webhooks={"secret_overlap_s": 0}) as client:
        job = import_dump(client, alice, stream_dump(2))
        board = HookedBoard(client, alice, job["board_id"], "")
        old = board.rotate()["secret"]
        board.secret = board.rotate()["secret"]

        refused = board.post(secret=old)
        accepted = board.post()

    assert (refused.status_code, accepted.status_code) == (401, 202)


def _answer(response: httpx.Response) -> tuple[int, str, dict[str, object]]:
    body = response.json()
    shown = {k: v for k, v in body.items() if k not in ("instance", "request_id")}
    return response.status_code, response.headers["content-type"], shown


@pytest.mark.parametrize(
    "headers",
    [
        {SIGNATURE_HEADER: sign("whsec_guess", b"{}", int(time.time())), DELIVERY_HEADER: "x"},
        {SIGNATURE_HEADER: "t=1,v1=zz", DELIVERY_HEADER: "x"},
        {SIGNATURE_HEADER: sign("whsec_guess", b"{}", int(time.time()))},
        {DELIVERY_HEADER: "x"},
    ],
)
def test_a_board_without_a_webhook_answers_like_a_board_whose_secret_is_unknown(
    hooked: HookedBoard, headers: dict[str, str]
) -> None:
    def trigger(board_id: int) -> httpx.Response:
        return hooked.client.post(f"/v1/hooks/boards/{board_id}", content=b"{}", headers=headers)

    assert _answer(trigger(hooked.board_id + 1000)) == _answer(trigger(hooked.board_id))


def test_a_board_without_a_webhook_checks_the_signature_as_a_hooked_board_does(
    hooked: HookedBoard, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same work on both paths is what makes both answers take the same time.
    checked: list[int] = []
    real_verify = signing.verify

    def recording_verify(secrets, *args, **kwargs):  # type: ignore[no-untyped-def]
        checked.append(len(secrets))
        return real_verify(secrets, *args, **kwargs)

    monkeypatch.setattr(signing, "verify", recording_verify)
    t = int(time.time())
    headers = {SIGNATURE_HEADER: sign("whsec_guess", b"{}", t), DELIVERY_HEADER: "x"}

    for board_id in (hooked.board_id, hooked.board_id + 1000):
        hooked.client.post(f"/v1/hooks/boards/{board_id}", content=b"{}", headers=headers)

    assert checked == [1, 1]


def test_a_deleted_secret_turns_the_trigger_off(hooked: HookedBoard) -> None:
    deleted = hooked.client.delete(
        f"/v1/boards/{hooked.board_id}/webhook-secret", headers=hooked.owner.headers
    )

    assert deleted.status_code == 204
    assert hooked.post().status_code == 401


def test_secrets_and_logs_belong_to_the_boards_workspace(
    hooked: HookedBoard, bob: Workspace
) -> None:
    for method, path in [
        ("post", f"/v1/boards/{hooked.board_id}/webhook-secret"),
        ("get", f"/v1/boards/{hooked.board_id}/webhook"),
        ("get", f"/v1/boards/{hooked.board_id}/hooks/deliveries"),
        ("delete", f"/v1/boards/{hooked.board_id}/webhook-secret"),
    ]:
        response = hooked.client.request(method, path, headers=bob.headers)
        assert response.status_code == 404, path
    assert hooked.post().status_code == 202


def test_secret_routes_need_an_api_key(hooked: HookedBoard) -> None:
    response = hooked.client.post(f"/v1/boards/{hooked.board_id}/webhook-secret")

    assert response.status_code == 401


def test_without_encryption_keys_secrets_cannot_be_created(
    client: TestClient, alice: Workspace
) -> None:
    job = import_dump(client, alice, stream_dump(2))

    response = client.post(f"/v1/boards/{job['board_id']}/webhook-secret", headers=alice.headers)

    assert response.status_code == 409
    assert "VSM_ENCRYPTION_KEYS" in response.json()["detail"]


def test_the_secret_is_shown_once_and_never_in_the_webhook_status(hooked: HookedBoard) -> None:
    status = hooked.client.get(
        f"/v1/boards/{hooked.board_id}/webhook", headers=hooked.owner.headers
    )

    assert status.status_code == 200
    assert hooked.secret not in status.text
    assert status.json()["state"] in ("idle", "pending", "running")


def test_the_trigger_log_is_paginated_newest_first(hooked: HookedBoard) -> None:
    ids = [str(uuid.uuid4()) for _ in range(5)]
    for delivery in ids:
        hooked.post(delivery_id=delivery)

    first = hooked.client.get(
        f"/v1/boards/{hooked.board_id}/hooks/deliveries?limit=3", headers=hooked.owner.headers
    ).json()
    second = hooked.client.get(
        f"/v1/boards/{hooked.board_id}/hooks/deliveries?limit=3&cursor={first['next_cursor']}",
        headers=hooked.owner.headers,
    ).json()

    shown = [e["delivery_id"] for e in first["items"] + second["items"]]
    assert shown == list(reversed(ids))
    assert second["next_cursor"] is None


def test_a_flood_of_rejected_triggers_is_answered_but_logged_only_up_to_a_limit(
    hooked: HookedBoard, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("service.webhooks.runtime.REJECTIONS_LOGGED_PER_MINUTE", 5)

    statuses = {hooked.post(secret="whsec_wrong").status_code for _ in range(12)}

    assert statuses == {401}
    assert len(hooked.log()) <= 6  # 5, or 6 when a minute boundary passed
    assert hooked.post().status_code == 202  # valid triggers are not limited


def test_a_trigger_whose_key_was_removed_answers_like_an_unknown_board_and_tells_the_operator(
    make_client: MakeClient, alice: Workspace
) -> None:
    with make_client(encryption_keys=[KEY]) as client:
        job = import_dump(client, alice, stream_dump(2))
        board = HookedBoard(client, alice, job["board_id"], "")
        board.secret = board.rotate()["secret"]
    other_key = Fernet.generate_key().decode()

    with make_client(encryption_keys=[other_key]) as client, capture_logs() as logs:
        board.client = client
        orphaned = board.post()
        unknown = client.post(
            f"/v1/hooks/boards/{board.board_id + 1000}",
            content=b"{}",
            headers={
                SIGNATURE_HEADER: sign(board.secret, b"{}", int(time.time())),
                DELIVERY_HEADER: "x",
            },
        )

    assert _answer(orphaned) == _answer(unknown)
    assert orphaned.status_code == 401
    (line,) = [entry for entry in logs if entry["event"] == "webhook_secret_unreadable"]
    assert (line["board_id"], line["log_level"]) == (board.board_id, "error")
    assert board.secret not in str(logs)


def test_the_route_behind_the_fast_path_answers_as_it_does(
    hooked: HookedBoard, monkeypatch: pytest.MonkeyPatch
) -> None:
    # service.api.hot.HotTrigger answers triggers before FastAPI's routing; a query string
    # goes on to the route. Both call answer_trigger: the answers differ in nothing else.
    called: list[int] = []
    real = webhooks_routes.answer_trigger

    async def counting(request: object, board_id: int) -> object:
        called.append(board_id)
        return await real(request, board_id)  # type: ignore[arg-type]

    url = hooked.url
    answers = []
    for suffix in ("", "?via=route"):
        monkeypatch.setattr(HookedBoard, "url", property(lambda _, to=url + suffix: to))
        accepted = hooked.post(delivery_id=f"d{suffix}")
        refused = hooked.post(secret="whsec_wrong", delivery_id="x")
        replayed = hooked.post(delivery_id=f"d{suffix}")
        shown = sorted(accepted.json())
        answers.append([accepted.status_code, shown, _answer(refused), replayed.status_code])
    monkeypatch.setattr(webhooks_routes, "answer_trigger", counting)
    hooked.post(delivery_id="counted")

    assert answers[0] == answers[1]
    assert answers[0][0::3] == [202, 409]
    assert called == [hooked.board_id]


def test_an_accepted_trigger_takes_one_transaction(
    make_client: MakeClient,
    alice: Workspace,
    database: TestDatabase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every statement on the connections the request's own threads check out (the in-process
    # worker's threads are named vsm-*; a long debounce keeps them idle): SQLite's trace
    # callback, PostgreSQL's protocol trace (libpq: a Query message per BEGIN and COMMIT, an
    # Execute per statement); and on PostgreSQL the event loop's asyncpg connections, whose
    # query logger sees each statement.
    loop_statements: list[str] = []
    real_connect = loop_reads._connect

    async def logged(dsn: str, timeout: float) -> Any:
        connection = await real_connect(dsn, timeout)
        connection.add_query_logger(lambda query: loop_statements.append(query.query))
        return connection

    monkeypatch.setattr(loop_reads, "_connect", logged)
    with make_client(encryption_keys=[KEY], webhooks={"debounce_s": 3600.0}) as client:
        job = import_dump(client, alice, stream_dump(2))
        board = HookedBoard(client, alice, job["board_id"], "")
        board.secret = board.rotate()["secret"]
        engine = client.app.state.runtime.engine  # type: ignore[attr-defined]
        statements: list[str] = []
        trace_path = tmp_path / "libpq.trace"

        def note(sql: str) -> None:
            statements.append(sql.split(None, 1)[0].upper())

        def trace(dbapi_connection: Any, _record: object, _proxy: object) -> None:
            if threading.current_thread().name.startswith("vsm-"):
                return
            if database.backend == "sqlite":
                dbapi_connection.set_trace_callback(note)
            else:
                dbapi_connection.pgconn.trace(trace_file.fileno())

        def untrace(dbapi_connection: Any, _record: object) -> None:
            if database.backend == "sqlite":
                dbapi_connection.set_trace_callback(None)
            else:
                dbapi_connection.pgconn.untrace()

        sa.event.listen(engine, "checkout", trace)
        sa.event.listen(engine, "checkin", untrace)
        try:
            with trace_path.open("w") as trace_file:
                accepted = [board.post().status_code for _ in range(3)]
        finally:
            sa.event.remove(engine, "checkout", trace)
            sa.event.remove(engine, "checkin", untrace)

    assert accepted == [202, 202, 202]
    if database.backend == "sqlite":
        transactions = "".join(
            {"BEGIN": "(", "COMMIT": ")", "ROLLBACK": "!"}.get(word, "w" if word in WRITES else "")
            for word in statements
        )
        assert transactions == "(www)" * 3  # remember the id, the coalescing update, the log entry
    else:
        transactions = "".join(_protocol_word(line) for line in trace_path.read_text().splitlines())
        transactions += "".join(
            {"BEGIN": "(", "COMMIT": ")", "ROLLBACK": "!"}.get(sql.strip().upper(), "s")
            for sql in loop_statements
        )
        assert transactions == "(ss)" * 3  # read the secrets, record the trigger (one statement)


def _protocol_word(line: str) -> str:
    """A libpq trace line as a letter: ``(`` BEGIN, ``)`` COMMIT, ``!`` ROLLBACK, ``s`` a
    statement of the extended protocol; nothing for the rest (answers, the pool's ping)."""
    fields = line.split("\t")
    sent = fields[fields.index("F") + 1 :] if "F" in fields else []
    if len(sent) < 2:
        return ""
    if sent[1] == "Execute":
        return "s"
    if sent[1] == "Query":
        text = sent[2].strip().strip('"').upper()
        return {"BEGIN": "(", "COMMIT": ")", "ROLLBACK": "!"}.get(text, "")
    return ""


WRITES = {"INSERT", "UPDATE", "DELETE"}


def test_triggers_are_counted_once_per_outcome_under_the_route_template(
    make_client: MakeClient, alice: Workspace
) -> None:
    token = "metrics-token-for-trigger-tests"
    with make_client(encryption_keys=[KEY], metrics_token=SecretStr(token)) as client:
        job = import_dump(client, alice, stream_dump(2))
        board = HookedBoard(client, alice, job["board_id"], "")
        board.secret = board.rotate()["secret"]
        statuses = [
            board.post().status_code,
            board.post().status_code,
            board.post(secret="whsec_wrong").status_code,
            board.post(b"x" * (64 * 1024 + 1)).status_code,
        ]
        text = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text

    assert statuses == [202, 202, 401, 413]
    for outcome, count in [("accepted", 1), ("coalesced", 1), ("rejected", 2)]:
        assert f'vsm_webhook_triggers_total{{outcome="{outcome}"}} {count}.0' in text
    route = 'method="POST",route="/v1/hooks/boards/{board_id}"'
    assert f'vsm_http_request_duration_seconds_count{{{route},status="202"}} 2.0' in text
    assert f"/v1/hooks/boards/{board.board_id}" not in text
