"""One client cannot take the service: a rate limit per API key and a cap on a workspace's
active imports, both answered 429 with Retry-After."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from service.api.ratelimit import RateLimiter
from testkit.service_dumps import stream_dump
from tests.api.conftest import MakeClient, Workspace
from tests.conftest import RedisServer


def test_an_api_key_past_its_rate_limit_gets_429_with_retry_after_and_others_do_not(
    make_client: MakeClient, alice: Workspace, bob: Workspace
) -> None:
    with make_client(rate_limit="5/minute") as client:
        allowed = [client.get("/v1/boards", headers=alice.headers).status_code for _ in range(5)]
        refused = client.get("/v1/boards", headers=alice.headers)
        other = client.get("/v1/boards", headers=bob.headers)

    assert allowed == [200] * 5
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/too-many-requests")
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert other.status_code == 200


def test_a_workspace_with_its_cap_of_active_imports_gets_429_and_another_workspace_does_not(
    make_client: MakeClient, alice: Workspace, bob: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    held: list[Any] = []
    with make_client(max_active_imports=2) as client:
        # Jobs are held (never run) so they stay queued.
        monkeypatch.setattr(
            client.app.state.runtime.dispatcher,  # type: ignore[attr-defined]
            "publish",
            lambda *args, **kwargs: held.append(args),
        )
        statuses = [
            client.post(
                "/v1/imports", json=stream_dump(2, board_id=f"b{n}"), headers=alice.headers
            ).status_code
            for n in range(3)
        ]
        refused = client.post("/v1/imports", json=stream_dump(2), headers=alice.headers)
        other = client.post("/v1/imports", json=stream_dump(2), headers=bob.headers)

    assert statuses == [202, 202, 429]
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert other.status_code == 202


@pytest.mark.redis
def test_with_redis_every_api_process_counts_against_the_same_limit(redis_url: str) -> None:
    key = f"key-{uuid.uuid4().hex}"
    first, second = RateLimiter("3/minute", redis_url), RateLimiter("3/minute", redis_url)

    answers = [limiter.wait_s(key) for limiter in (first, second, first, second)]

    assert answers[:3] == [None, None, None]
    assert answers[3] is not None
    assert answers[3] > 0


def test_an_unreachable_counting_store_lets_requests_through() -> None:
    limiter = RateLimiter("1/minute", "redis://127.0.0.1:1/6")

    assert [limiter.wait_s("k"), limiter.wait_s("k")] == [None, None]


@pytest.mark.redis
def test_counting_in_a_stalled_redis_leaves_the_event_loop_free(
    private_redis: RedisServer,
) -> None:
    limiter = RateLimiter("3/minute", private_redis.url)
    key = f"key-{uuid.uuid4().hex}"

    async def scenario() -> tuple[int, int | None]:
        private_redis.pause()  # accepts connections, answers nothing
        try:
            counting = asyncio.create_task(limiter.wait(key))
            turns = 0
            # A blocking call would hold the loop until Redis answers (or times out): the task
            # would be done by the first turn back here.
            while not counting.done() and turns < 200:
                await asyncio.sleep(0)
                turns += 1
        finally:
            private_redis.resume()
        return turns, await counting

    turns, answer = asyncio.run(scenario())

    assert turns == 200
    assert answer is None
