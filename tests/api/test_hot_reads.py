"""The hot reads' fast path (service.api.hot) answers as the routes do, without a session."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from structlog.testing import capture_logs

from service.api.app import create_app
from service.api.hot import HotReads
from service.api.ratelimit import RateLimiter
from service.settings import Settings
from service.usecases.keys import KeyCache
from testkit.service_dumps import stream_dump
from tests.api.conftest import MakeClient, Workspace, import_dump
from tests.conftest import TestDatabase

# Headers that must be the same whichever path answered (x-request-id differs by design).
_SAME = (
    "content-type",
    "etag",
    "cache-control",
    "content-security-policy",
    "x-content-type-options",
)


@contextmanager
def hot_client(database: TestDatabase, engine: Engine, now: list[float]) -> Iterator[TestClient]:
    settings = Settings(database_url=database.url, log_format="console", rate_limit=None)
    app = create_app(
        settings,
        engine=engine,
        migrate=False,
        configure_logs=False,
        key_cache=KeyCache(ttl_s=1.0, clock=lambda: now[0]),
    )
    with TestClient(app) as client:
        yield client


@contextmanager
def transactions(engine: Engine) -> Iterator[list[str]]:
    """The transactions the request's threads begin (the in-process worker's are vsm-*)."""
    begun: list[str] = []

    def count(_connection: object) -> None:
        name = threading.current_thread().name
        if not name.startswith("vsm-"):
            begun.append(name)

    sa.event.listen(engine, "begin", count)
    try:
        yield begun
    finally:
        sa.event.remove(engine, "begin", count)


def hot_paths(client: TestClient, who: Workspace) -> list[str]:
    job = import_dump(client, who, stream_dump(6, problems=[(1, "Wartezeit (2)")]))
    board = job["board_id"]
    stream = client.get(f"/v1/boards/{board}/streams", headers=who.headers).json()["items"][0]
    return [
        "/v1/boards",
        f"/v1/boards/{board}",
        f"/v1/boards/{board}/streams",
        f"/v1/boards/{board}/revisions/1",
        f"/v1/boards/{board}/report",
        f"/v1/boards/{board}/report.html",
        f"/v1/streams/{stream['id']}",
        f"/v1/streams/{stream['id']}/map.svg",
    ]


def test_the_fast_path_answers_as_the_routes_do_without_a_transaction(
    database: TestDatabase, engine: Engine, alice: Workspace
) -> None:
    now = [100.0]
    with hot_client(database, engine, now) as client:
        for path in hot_paths(client, alice):
            # A query string (ignored by the routes) sends the request to the routes; without
            # one the fast path answers: the first time rendering what it keeps, then from
            # memory; with an expired key too, which it looks up itself.
            with transactions(engine) as routed_begun:
                routed = client.get(f"{path}?via=routes", headers=alice.headers)
            now[0] += 2.0
            client.get(path, headers=alice.headers)
            with transactions(engine) as fast_begun:
                fast = client.get(path, headers=alice.headers)

            assert (routed.status_code, fast.status_code) == (200, 200), path
            # (the stream route itself reads without a session already)
            assert routed_begun or "/v1/streams/" in path, path
            assert fast_begun == [], path
            if fast.headers["content-type"].startswith("application/json"):
                assert fast.json() == routed.json(), path
            else:
                assert fast.content == routed.content, path
            assert [fast.headers.get(h) for h in _SAME] == [routed.headers.get(h) for h in _SAME]
            etag = fast.headers.get("etag")
            if etag is not None:
                again = client.get(path, headers={**alice.headers, "If-None-Match": etag})
                assert again.status_code == 304, path
                assert again.headers["etag"] == etag


def test_the_fast_path_keeps_other_workspaces_out_and_follows_new_revisions(
    database: TestDatabase, engine: Engine, alice: Workspace, bob: Workspace
) -> None:
    now = [100.0]
    with hot_client(database, engine, now) as client:
        paths = hot_paths(client, alice)
        client.get("/v1/boards", headers=bob.headers)  # bob's key is remembered
        for path in paths[1:]:
            assert client.get(path, headers=bob.headers).status_code == 404, path
        assert client.get("/v1/boards", headers=bob.headers).json()["items"] == []

        report, page, listed, stream = paths[4], paths[5], paths[2], paths[6]
        first = client.get(report, headers=alice.headers).json()
        first_page = client.get(page, headers=alice.headers)
        # Read twice: the second answer is the one kept.
        first_streams = [client.get(listed, headers=alice.headers).json() for _ in range(2)]
        first_stream = [client.get(stream, headers=alice.headers).json() for _ in range(2)]
        import_dump(client, alice, stream_dump(7, problems=[(1, "Wartezeit (2)")]))
        second = client.get(report, headers=alice.headers).json()
        second_page = client.get(page, headers=alice.headers)
        second_streams = client.get(listed, headers=alice.headers).json()
        second_stream = client.get(stream, headers=alice.headers).json()

    assert first_streams[0] == first_streams[1]
    assert first_stream[0] == first_stream[1]
    assert [item["revision"] for item in first_streams[1]["items"]] == [1]
    assert [item["revision"] for item in second_streams["items"]] == [2]
    assert (first_stream[1]["revision"], second_stream["revision"]) == (1, 2)
    assert len(first_stream[1]["stream"]["steps"]) == 6
    assert len(second_stream["stream"]["steps"]) == 7
    assert (first["revision"], second["revision"]) == (1, 2)
    assert first_page.headers["etag"] != second_page.headers["etag"]
    assert "Schritt 7" in second_page.text
    assert "Schritt 7" not in first_page.text


def test_a_request_the_fast_path_sends_on_counts_once_against_the_rate_limit(
    make_client: MakeClient, alice: Workspace
) -> None:
    with make_client(rate_limit="3/minute") as client:
        missing = [
            client.get("/v1/boards/999", headers=alice.headers).status_code for _ in range(2)
        ]
        third = client.get("/v1/boards", headers=alice.headers).status_code
        fourth = client.get("/v1/boards", headers=alice.headers).status_code

    assert (missing, third, fourth) == ([404, 404], 200, 429)


class CountingWhere(RateLimiter):
    """A Redis-backed limiter that notes whether each count ran on the event loop."""

    def __init__(self, redis_url: str) -> None:
        super().__init__("1000/minute", redis_url)
        self.on_loop: list[bool] = []

    def wait_s(self, api_key: str) -> int | None:
        try:
            asyncio.get_running_loop()
            self.on_loop.append(True)
        except RuntimeError:  # a threadpool thread runs no loop
            self.on_loop.append(False)
        return super().wait_s(api_key)


@pytest.mark.redis
def test_the_fast_path_counts_in_redis_off_the_event_loop(
    make_client: MakeClient, alice: Workspace, redis_url: str
) -> None:
    # A stalled Redis must not stall every request of the process (docs/service.md).
    with make_client() as client:
        paths = hot_paths(client, alice)
        limiter = CountingWhere(redis_url)
        client.app.state.rate_limiter = limiter  # type: ignore[attr-defined]
        statuses = [client.get(path, headers=alice.headers).status_code for path in paths]

    assert statuses == [200] * len(paths)
    assert limiter.on_loop == [False] * len(paths)


def test_an_error_in_the_fast_path_is_answered_by_the_routes_and_logged(
    make_client: MakeClient, alice: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(HotReads, "_board", broken)
    with make_client() as client:
        board = import_dump(client, alice, stream_dump(2))["board_id"]
        with capture_logs() as logs:
            response = client.get(f"/v1/boards/{board}", headers=alice.headers)

    assert response.status_code == 200
    assert response.json()["id"] == board
    assert {"event": "hot_read_fell_back", "route": "board", "error": "OperationalError"} in [
        {k: entry.get(k) for k in ("event", "route", "error")} for entry in logs
    ]
