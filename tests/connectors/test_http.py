"""The shared provider call: retries, 429 handling, error mapping and rate budgets."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

import httpx
import pytest
import respx

from connectors.errors import (
    AuthError,
    ForbiddenError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    TransientError,
)
from connectors.http import (
    Clock,
    MemoryRateBudget,
    RateSnapshot,
    RedisRateBudget,
    RetryPolicy,
    StaticToken,
    SyncRedisScripts,
    budget_key,
    request,
)

pytestmark = pytest.mark.anyio

URL = "https://api.example.test/v2/things"
T0 = 1_800_000_000.0


class FakeClock:
    """Wall time that only moves when someone sleeps; records every sleep."""

    def __init__(self, start: float = T0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    @property
    def clock(self) -> Clock:
        return Clock(time=self.time, sleep=self.sleep)


@pytest.fixture
def fake() -> FakeClock:
    return FakeClock()


RetryWaits = Callable[[], list[float]]


@pytest.fixture
def retry_waits(caplog: pytest.LogCaptureFixture) -> RetryWaits:
    """The seconds each retry so far would have waited, read from its log line: stamina's
    test mode (``tests/conftest.py``) skips the waits themselves."""
    caplog.set_level(logging.INFO, logger="connectors.http")
    return lambda: [r.seconds for r in caplog.records if hasattr(r, "seconds")]


async def call(fake: FakeClock, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await request(http, "GET", URL, clock=fake.clock, rand=lambda: 1.0, **kwargs)  # type: ignore[arg-type]


@respx.mock
async def test_a_server_error_is_retried_with_backoff_until_it_succeeds(
    fake: FakeClock, retry_waits: RetryWaits
) -> None:
    route = respx.get(URL).mock(
        side_effect=[httpx.Response(502), httpx.Response(503), httpx.Response(200, json={})]
    )

    response = await call(fake)

    assert response.status_code == 200
    assert route.call_count == 3
    assert retry_waits() == [0.5, 1.0]  # full jitter with rand()=1: base * 2**attempt


@pytest.mark.parametrize(
    ("failures", "waited"),
    [
        ([RateLimitedError("busy", retry_after=7.25)], [7.25]),  # the server's wait, exactly
        ([TransientError("blip"), TransientError("blip")], [0.5, 1.0]),  # capped backoff
    ],
)
def test_a_retry_loop_waits_what_the_policy_says_and_then_succeeds(
    failures: list[Exception], waited: list[float]
) -> None:
    seen: list[float] = []
    retrying = RetryPolicy().retrying(
        lambda exc: True, rand=lambda: 1.0, on_retry=lambda n, exc, s: seen.append(s)
    )
    answers = iter([*failures, None])

    for attempt in retrying:
        with attempt:
            failure = next(answers)
            if failure is not None:
                raise failure

    assert seen == waited


@pytest.mark.parametrize(
    "failure", [RateLimitedError("busy", retry_after=45.0), NotFoundError("gone")]
)
def test_a_retry_loop_lets_a_too_long_server_wait_and_unwanted_failures_through(
    failure: Exception,
) -> None:
    retrying = RetryPolicy(max_inline_wait=20.0).retrying(
        lambda exc: not isinstance(exc, NotFoundError)
    )
    tries: list[int] = []

    def run() -> None:
        for attempt in retrying:
            with attempt:
                tries.append(1)
                raise failure

    with pytest.raises(type(failure)):
        run()
    assert len(tries) == 1


@respx.mock
async def test_a_5xx_storm_gives_up_after_max_tries_with_a_transient_error(
    fake: FakeClock, retry_waits: RetryWaits
) -> None:
    route = respx.get(URL).mock(return_value=httpx.Response(500))

    with pytest.raises(TransientError) as raised:
        await call(fake, policy=RetryPolicy(max_tries=4))

    assert route.call_count == 4
    assert raised.value.status == 500
    assert len(retry_waits()) == 3


@respx.mock
async def test_retries_stop_when_the_total_wait_would_pass_its_bound(
    fake: FakeClock, retry_waits: RetryWaits
) -> None:
    route = respx.get(URL).mock(return_value=httpx.Response(503))
    policy = RetryPolicy(max_tries=50, base_delay=1.0, max_delay=8.0, max_total_wait=10.0)

    with pytest.raises(TransientError):
        await call(fake, policy=policy)

    assert 0 < sum(retry_waits()) <= 10.0
    assert route.call_count < 50


@respx.mock
@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.ConnectError("reset"), httpx.RemoteProtocolError("x")],
)
async def test_timeouts_and_resets_are_retried_then_reported_as_transient(
    fake: FakeClock, failure: Exception
) -> None:
    route = respx.get(URL).mock(side_effect=failure)

    with pytest.raises(TransientError):
        await call(fake, policy=RetryPolicy(max_tries=3))

    assert route.call_count == 3


@respx.mock
async def test_a_timeout_then_success_returns_the_response(fake: FakeClock) -> None:
    respx.get(URL).mock(side_effect=[httpx.ReadTimeout("slow"), httpx.Response(200, json={})])

    assert (await call(fake)).status_code == 200


@respx.mock
async def test_429_with_retry_after_waits_that_long_and_repeats_the_call(
    fake: FakeClock, retry_waits: RetryWaits
) -> None:
    route = respx.get(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(200, json={}),
        ]
    )

    response = await call(fake)

    assert response.status_code == 200
    assert route.call_count == 2
    assert retry_waits() == [3.0]


@respx.mock
async def test_429_without_retry_after_waits_until_the_rate_limit_reset(fake: FakeClock) -> None:
    route = respx.get(URL).mock(
        side_effect=[
            httpx.Response(
                429, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(T0 + 7))}
            ),
            httpx.Response(200, json={}),
        ]
    )

    await call(fake, budget=MemoryRateBudget())

    assert route.call_count == 2
    assert sum(fake.sleeps) == pytest.approx(7.0)


@respx.mock
async def test_a_long_rate_limit_wait_goes_back_to_the_caller_instead_of_sleeping(
    fake: FakeClock,
) -> None:
    route = respx.get(URL).mock(return_value=httpx.Response(429, headers={"Retry-After": "45"}))

    with pytest.raises(RateLimitedError) as raised:
        await call(fake, policy=RetryPolicy(max_inline_wait=20))

    assert raised.value.retry_after == pytest.approx(45.0)
    assert route.call_count == 1
    assert fake.sleeps == []


@respx.mock
async def test_the_budget_paces_the_next_call_until_the_window_resets(fake: FakeClock) -> None:
    budget = MemoryRateBudget()
    headers = {"X-RateLimit-Remaining": "60", "X-RateLimit-Reset": str(int(T0 + 5))}
    route = respx.get(URL).mock(return_value=httpx.Response(200, headers=headers, json={}))

    await call(fake, budget=budget, cost=50)  # leaves 60 credits: one more call of 50
    await call(fake, budget=budget, cost=50)
    assert fake.sleeps == []
    await call(fake, budget=budget, cost=50)  # 10 left: wait for the reset

    assert route.call_count == 3
    assert fake.sleeps == [pytest.approx(5.0)]


@respx.mock
async def test_an_exhausted_budget_with_a_far_reset_raises_without_calling(fake: FakeClock) -> None:
    budget = MemoryRateBudget()
    await budget.observe(RateSnapshot(remaining=0, reset_at=T0 + 50), T0)
    route = respx.get(URL).mock(return_value=httpx.Response(200, json={}))

    with pytest.raises(RateLimitedError) as raised:
        await call(fake, budget=budget)

    assert route.call_count == 0
    assert raised.value.retry_after == pytest.approx(50.0)


@respx.mock
@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthError), (403, ForbiddenError), (404, NotFoundError), (409, ProviderError)],
)
async def test_client_errors_map_onto_the_error_tree_without_retrying(
    fake: FakeClock, status: int, error: type[Exception]
) -> None:
    route = respx.get(URL).mock(return_value=httpx.Response(status))

    with pytest.raises(error):
        await call(fake)

    assert route.call_count == 1


@respx.mock
async def test_a_non_idempotent_call_is_not_repeated_after_a_server_error(fake: FakeClock) -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(502))

    async with httpx.AsyncClient() as http:
        with pytest.raises(TransientError):
            await request(http, "POST", URL, clock=fake.clock, idempotent=False)

    assert route.call_count == 1


@respx.mock
async def test_error_messages_name_the_path_but_never_the_query_or_token(fake: FakeClock) -> None:
    secret = "tok-" + secrets.token_hex(8)
    respx.get(URL).mock(return_value=httpx.Response(401))

    async with httpx.AsyncClient() as http:
        with pytest.raises(AuthError) as raised:
            await request(
                http,
                "GET",
                URL,
                params={"access_token": secret},
                headers={"Authorization": f"Bearer {secret}"},
                clock=fake.clock,
            )

    assert "/v2/things" in str(raised.value)
    assert secret not in str(raised.value)


async def test_a_static_token_cannot_be_refreshed() -> None:
    token = StaticToken("abc")

    assert await token() == "abc"
    with pytest.raises(AuthError):
        await token(force_refresh=True)
    assert "abc" not in repr(token)


async def test_concurrent_callers_never_reserve_more_than_the_window_holds() -> None:
    budget = MemoryRateBudget()
    await budget.observe(RateSnapshot(remaining=500, reset_at=T0 + 60), T0)

    waits = await asyncio.gather(*(budget.reserve(100, T0 + 1) for _ in range(8)))

    assert sorted(waits) == [0.0] * 5 + [pytest.approx(59.0)] * 3


async def test_a_new_window_restores_the_last_known_limit() -> None:
    budget = MemoryRateBudget()
    await budget.observe(RateSnapshot(remaining=0, reset_at=T0 + 10, limit=1000), T0)

    assert await budget.reserve(100, T0 + 5) == pytest.approx(5.0)
    assert await budget.reserve(100, T0 + 10) == 0.0


@pytest.mark.redis
async def test_workers_sharing_a_token_share_one_redis_window(redis_client: object) -> None:
    identity = "connection-" + secrets.token_hex(6)
    first = RedisRateBudget(redis_client, provider="miro", identity=identity)  # type: ignore[arg-type]
    second = RedisRateBudget(redis_client, provider="miro", identity=identity)  # type: ignore[arg-type]
    await first.observe(RateSnapshot(remaining=150, reset_at=T0 + 30, limit=1000), T0)

    assert await second.reserve(100, T0 + 1) == 0.0
    assert await first.reserve(100, T0 + 2) == pytest.approx(28.0)
    assert await second.reserve(100, T0 + 31) == 0.0  # new window: the limit again

    keys = [k.decode() for k in await redis_client.keys("vsm:rate:miro:*")]  # type: ignore[attr-defined]
    assert budget_key("miro", identity) in keys
    assert not any(identity in key for key in keys)
    await redis_client.delete(budget_key("miro", identity))  # type: ignore[attr-defined]


@pytest.mark.redis
async def test_the_smallest_remaining_seen_in_a_window_wins_in_redis(redis_client: object) -> None:
    budget = RedisRateBudget(redis_client, provider="miro", identity=secrets.token_hex(6))  # type: ignore[arg-type]
    await budget.observe(RateSnapshot(remaining=300, reset_at=T0 + 30), T0)
    await budget.observe(RateSnapshot(remaining=100, reset_at=T0 + 30), T0)
    await budget.observe(RateSnapshot(remaining=250, reset_at=T0 + 30), T0)  # a late response

    assert await budget.reserve(100, T0 + 1) == 0.0
    assert await budget.reserve(100, T0 + 1) == pytest.approx(29.0)


@pytest.mark.redis
async def test_a_sync_redis_client_serves_the_budget_from_any_event_loop(
    redis_url: str,
) -> None:
    import redis

    sync_client = redis.Redis.from_url(redis_url)
    identity = secrets.token_hex(6)
    budget = RedisRateBudget(SyncRedisScripts(sync_client), provider="miro", identity=identity)
    await budget.observe(RateSnapshot(remaining=100, reset_at=T0 + 30), T0)

    assert await budget.reserve(100, T0 + 1) == 0.0
    assert await budget.reserve(100, T0 + 1) == pytest.approx(29.0)
    sync_client.delete(budget_key("miro", identity))
    sync_client.close()
