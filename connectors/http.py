"""Provider-neutral HTTP calls: retries with jittered backoff, 429 handling and rate pacing.

Every provider client sends its requests through :func:`request`, which turns responses into the
error tree of :mod:`connectors.errors`. Short waits (a 5xx blip, a rate window that resets in a few
seconds) are slept out in-process; a wait longer than ``RetryPolicy.max_inline_wait`` raises
:class:`RateLimitedError` so a Celery task can retry with a countdown instead of holding a worker.

:class:`RetryPolicy` is the one retry policy of the code base (HTTP calls, jobs, the embedded
dispatcher, webhook deliveries, database write conflicts): a server-given wait is honoured
exactly, anything else gets full-jitter capped backoff. In-process retry loops run on stamina
(:meth:`RetryPolicy.retrying`), so ``stamina.set_testing`` takes every wait out of the tests.

Pacing is a :class:`RateBudget` passed in by the composition root: :class:`MemoryRateBudget` for
one process, :class:`RedisRateBudget` when several workers share one user's quota. Budgets count
abstract *credits*; the provider client says what each call costs.

Tokens never appear in messages or logs: errors name only the method, the URL path and the status.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import logging
import math
import random
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import httpx
import stamina

from connectors.errors import (
    AuthError,
    ForbiddenError,
    NotFoundError,
    ProviderError,
    RateLimitedError,
    TransientError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# A reset header below this is "seconds from now", above it a UNIX epoch. Miro documents the
# epoch form; some proxies send seconds (https://developers.miro.com/docs/rate-limiting).
_EPOCH_THRESHOLD = 1e9
_TRANSIENT_STATUSES = frozenset({500, 502, 503, 504, 520, 521, 522, 523, 524})


def _no_note(seconds: float) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Clock:
    """Wall time (UNIX seconds) and an async sleep; tests pass fakes. ``waiting(seconds)`` is
    told before each retry wait, which stamina sleeps (a progress display shows it)."""

    time: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    waiting: Callable[[float], None] = _no_note


SYSTEM_CLOCK = Clock()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds of the in-process retry loop.

    ``max_tries`` counts every attempt of one call (first one included). ``max_total_wait`` bounds
    the seconds one call may sleep in total (backoff, 429 and pacing waits). A single rate-limit
    wait longer than ``max_inline_wait`` is not slept: :class:`RateLimitedError` is raised.
    """

    max_tries: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_total_wait: float = 30.0
    max_inline_wait: float = 20.0
    timeout: float = 30.0

    def delay(
        self,
        attempt: int,
        exc: BaseException | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 0) after ``exc``.

        A server-given wait (``RateLimitedError.retry_after``: ``Retry-After`` or
        ``X-RateLimit-Reset``) is honoured exactly, never shortened; anything else gets
        full-jitter exponential backoff, uniform in ``[0, min(max_delay, base * 2**attempt)]``.
        """
        if isinstance(exc, RateLimitedError):
            return max(exc.retry_after, 0.0)
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(attempt, 30))
        return rand() * ceiling

    def gives_up(self, attempt: int) -> bool:
        """True when try number ``attempt + 1`` (counting from 0) was the last one allowed."""
        return attempt + 1 >= self.max_tries

    def retrying(
        self,
        worth_retrying: Callable[[Exception], bool],
        *,
        rand: Callable[[], float] = random.random,
        on_retry: Callable[[int, Exception, float], None] | None = None,
    ) -> Retrying:
        """One in-process retry loop under this policy (see :class:`Retrying`)."""
        return Retrying(self, worth_retrying, rand, on_retry)


class Retrying:
    """The tries of one operation under a :class:`RetryPolicy`, run by stamina::

        for attempt in policy.retrying(lambda exc: isinstance(exc, OperationalError)):
            with attempt:
                return write()

    (``async for`` in coroutines). A failure is tried again when ``worth_retrying(exc)`` and
    tries are left, after :meth:`RetryPolicy.delay` (a :class:`RateLimitedError`'s wait exactly,
    never when it is longer than ``max_inline_wait``), while all waits of the operation stay
    within ``max_total_wait``; otherwise the failure propagates. ``on_retry(try, exc, seconds)``
    runs before each wait (log lines). :meth:`spend` counts waits made outside the loop (rate
    pacing) against the same bound.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        worth_retrying: Callable[[Exception], bool],
        rand: Callable[[], float],
        on_retry: Callable[[int, Exception, float], None] | None,
    ) -> None:
        self.policy = policy
        self.waited = 0.0
        self._worth_retrying = worth_retrying
        self._rand = rand
        self._on_retry = on_retry
        self._tries = 0

    def spend(self, seconds: float) -> bool:
        """Count a wait of ``seconds`` made between tries; False (nothing counted) when it
        would pass ``max_total_wait``."""
        if self.waited + seconds > self.policy.max_total_wait:
            return False
        self.waited += seconds
        return True

    def _backoff(self, exc: Exception) -> bool | float:
        # stamina's backoff hook: False lets ``exc`` through, a float is the wait (stamina's
        # own backoff formula is not used: the policy's is the one formula).
        self._tries += 1
        policy = self.policy
        if not self._worth_retrying(exc) or policy.gives_up(self._tries - 1):
            return False
        if isinstance(exc, RateLimitedError) and exc.retry_after > policy.max_inline_wait:
            return False
        delay = policy.delay(self._tries - 1, exc, self._rand)
        if not self.spend(delay):
            return False
        if self._on_retry is not None:
            self._on_retry(self._tries, exc, delay)
        return delay

    def _context(self) -> Any:
        return stamina.retry_context(on=self._backoff, attempts=self.policy.max_tries, timeout=None)

    def __iter__(self) -> Iterator[stamina.Attempt]:
        return iter(self._context())

    def __aiter__(self) -> AsyncIterator[stamina.Attempt]:
        return self._context().__aiter__()  # type: ignore[no-any-return]


DEFAULT_POLICY = RetryPolicy()


@dataclass(frozen=True, slots=True)
class RateSnapshot:
    """What one response said about the quota; ``reset_at`` is UNIX seconds."""

    remaining: int | None
    reset_at: float | None
    limit: int | None = None


class RateBudget(Protocol):
    """Credits left in the current rate window of one identity (one user token)."""

    async def reserve(self, cost: int, now: float) -> float:
        """Take ``cost`` credits and return 0.0, or take nothing and return seconds to wait."""
        ...

    async def observe(self, snapshot: RateSnapshot, now: float) -> None:
        """Record the quota a response reported (a 429 reports ``remaining=0``)."""
        ...


@dataclass(slots=True)
class _Window:
    remaining: int | None = None
    reset_at: float | None = None
    limit: int | None = None
    uncounted: int = 0  # credits let through while no figure was known ...
    blind: int = 0  # ... by this many calls

    def reserve(self, cost: int, now: float) -> float:
        if self.reset_at is not None and now >= self.reset_at:
            # A new window started: until a response says otherwise, assume the full limit.
            self.remaining = self.limit
            self.reset_at = None
            self.uncounted = self.blind = 0
        if self.remaining is None:
            self.uncounted += cost
            self.blind += 1
            return 0.0
        if self.remaining >= cost:
            self.remaining -= cost
            return 0.0
        if self.reset_at is None:
            # Exhausted with no known reset: let the call go; the server's answer tells us more.
            return 0.0
        return max(self.reset_at - now, 0.0)

    def observe(self, snapshot: RateSnapshot, now: float) -> None:
        if snapshot.limit is not None:
            self.limit = snapshot.limit
        if snapshot.remaining is None:
            return
        if snapshot.reset_at is not None and snapshot.reset_at <= now:
            # A late answer from a window that has ended: taking its figures would bring back
            # that window and, once it "resets" again, the full limit a second time.
            return
        # A window later than the one we track replaces it. With no reset known we are in a
        # window ``reserve`` opened on its own (its credits already handed out), so the
        # figure only lowers ``remaining``, as for out-of-order answers of concurrent calls.
        new_window = (
            snapshot.reset_at is not None
            and self.reset_at is not None
            and snapshot.reset_at > self.reset_at + 0.5
        )
        if new_window or self.remaining is None:
            # The figure counts the answered call but not the other calls let through blind
            # that are still in flight (taken to cost the same on average).
            in_flight = self.uncounted * (self.blind - 1) // self.blind if self.blind else 0
            self.remaining = max(snapshot.remaining - in_flight, 0)
            self.uncounted = self.blind = 0
        else:
            self.remaining = min(self.remaining, snapshot.remaining)
        if snapshot.reset_at is not None and (new_window or self.reset_at is None):
            self.reset_at = snapshot.reset_at


class MemoryRateBudget:
    """A rate budget for callers in one process (CLI, tests, a single worker)."""

    def __init__(self) -> None:
        self._window = _Window()
        self._lock = asyncio.Lock()

    async def reserve(self, cost: int, now: float) -> float:
        async with self._lock:
            return self._window.reserve(cost, now)

    async def observe(self, snapshot: RateSnapshot, now: float) -> None:
        async with self._lock:
            self._window.observe(snapshot, now)


class NoRateBudget:
    """No pacing at all (calls that the provider does not meter, such as its token endpoint)."""

    async def reserve(self, cost: int, now: float) -> float:
        return 0.0

    async def observe(self, snapshot: RateSnapshot, now: float) -> None:
        return None


# Both scripts keep one hash per identity: remaining, reset_at, limit (empty = unknown) and
# uncounted/blind (credits and calls let through while remaining was unknown).
# They run atomically in Redis, so every worker sharing the token sees one window.
_RESERVE_LUA = """
local key = KEYS[1]
local cost = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local remaining = tonumber(redis.call('HGET', key, 'remaining') or '')
local reset_at = tonumber(redis.call('HGET', key, 'reset_at') or '')
local limit = tonumber(redis.call('HGET', key, 'limit') or '')
if reset_at and now >= reset_at then
  reset_at = nil
  remaining = limit
  redis.call('HDEL', key, 'reset_at', 'uncounted', 'blind')
  if remaining then redis.call('HSET', key, 'remaining', remaining)
  else redis.call('HDEL', key, 'remaining') end
end
if not remaining then
  redis.call('HINCRBY', key, 'uncounted', cost)
  redis.call('HINCRBY', key, 'blind', 1)
  redis.call('EXPIRE', key, ttl)
  return '0'
end
if remaining >= cost then
  redis.call('HSET', key, 'remaining', remaining - cost)
  redis.call('EXPIRE', key, ttl)
  return '0'
end
if not reset_at then return '0' end
return tostring(reset_at - now)
"""

_OBSERVE_LUA = """
local key = KEYS[1]
local seen_remaining = tonumber(ARGV[1])
local seen_reset = tonumber(ARGV[2])
local seen_limit = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
if seen_limit then redis.call('HSET', key, 'limit', seen_limit) end
if seen_reset and now and seen_reset <= now then seen_remaining = nil end
if seen_remaining then
  local remaining = tonumber(redis.call('HGET', key, 'remaining') or '')
  local reset_at = tonumber(redis.call('HGET', key, 'reset_at') or '')
  local new_window = seen_reset and reset_at and seen_reset > reset_at + 0.5
  if new_window or not remaining then
    local uncounted = tonumber(redis.call('HGET', key, 'uncounted') or '') or 0
    local blind = tonumber(redis.call('HGET', key, 'blind') or '') or 0
    local in_flight = 0
    if blind > 0 then in_flight = math.floor(uncounted * (blind - 1) / blind) end
    redis.call('HSET', key, 'remaining', math.max(seen_remaining - in_flight, 0))
    redis.call('HDEL', key, 'uncounted', 'blind')
  elseif seen_remaining < remaining then
    redis.call('HSET', key, 'remaining', seen_remaining)
  end
  if seen_reset and (new_window or not reset_at) then
    redis.call('HSET', key, 'reset_at', seen_reset)
  end
end
redis.call('EXPIRE', key, ttl)
return 1
"""


class _AsyncRedis(Protocol):
    """The part of ``redis.asyncio.Redis`` the budget uses."""

    def register_script(self, script: str) -> Any: ...


def budget_key(provider: str, identity: str) -> str:
    """Redis key of one identity's window: a hash, so the raw token or id is never stored."""
    digest = hashlib.sha256(identity.encode()).hexdigest()
    return f"vsm:rate:{provider}:{digest}"


class SyncRedisScripts:
    """A synchronous ``redis.Redis`` behind the async ``register_script`` the budget calls.

    One sync client (one connection pool) serves a whole process, whichever event loop calls:
    ``redis.asyncio`` connections belong to the loop that opened them, and workers run each job
    in a fresh ``asyncio.run``, which would leave a client per job behind. Scripts run in a
    worker thread.
    """

    def __init__(self, client: Any) -> None:
        self._client = client

    def register_script(self, script: str) -> Callable[..., Awaitable[Any]]:
        sync_script = self._client.register_script(script)

        async def run(*, keys: list[str], args: list[Any]) -> Any:
            return await asyncio.to_thread(sync_script, keys=keys, args=args)

        return run


class RedisRateBudget:
    """A rate budget shared through Redis by every worker that uses the same identity.

    ``identity`` is the stable connection id where there is one (tokens rotate), else the token;
    only its SHA-256 reaches Redis. ``ttl`` (seconds) lets idle windows expire.
    """

    def __init__(self, redis: _AsyncRedis, *, provider: str, identity: str, ttl: int = 180) -> None:
        self._key = budget_key(provider, identity)
        self._ttl = ttl
        self._reserve = redis.register_script(_RESERVE_LUA)
        self._observe = redis.register_script(_OBSERVE_LUA)

    async def reserve(self, cost: int, now: float) -> float:
        wait = await self._reserve(keys=[self._key], args=[cost, repr(now), self._ttl])
        text = wait.decode() if isinstance(wait, bytes) else str(wait)
        return max(float(text), 0.0)

    async def observe(self, snapshot: RateSnapshot, now: float) -> None:
        args = [
            "" if snapshot.remaining is None else snapshot.remaining,
            "" if snapshot.reset_at is None else repr(snapshot.reset_at),
            "" if snapshot.limit is None else snapshot.limit,
            self._ttl,
            repr(now),
        ]
        await self._observe(keys=[self._key], args=args)


class TokenProvider(Protocol):
    """Returns the current access token; ``force_refresh=True`` after the provider said 401.

    Implementations refresh shortly before expiry on their own and raise
    :class:`connectors.errors.AuthError` when a refresh is refused.
    """

    async def __call__(self, *, force_refresh: bool = False) -> str: ...


@dataclass(frozen=True, slots=True)
class StaticToken:
    """A token that cannot be refreshed (CLI ``--token``, non-expiring app tokens)."""

    token: str = field(repr=False)

    async def __call__(self, *, force_refresh: bool = False) -> str:
        if force_refresh:
            raise AuthError("the access token was refused and cannot be refreshed", status=401)
        return self.token


class RefreshingToken:
    """The bearer token one client's calls share: a call the provider refuses (``AuthError``)
    is repeated once with a refreshed token, and one refresh serves every call in flight that
    was refused the same token, so a rotated token pair is spent at most once per refusal."""

    def __init__(self, tokens: TokenProvider) -> None:
        self._tokens = tokens
        self._lock = asyncio.Lock()

    async def call(self, send: Callable[[str], Awaitable[T]]) -> T:
        """``send(token)``; after an ``AuthError``, ``send`` again with a refreshed token (a
        second refusal propagates)."""
        token = await self._tokens()
        try:
            return await send(token)
        except AuthError:
            token = await self._refreshed_after(token)
        return await send(token)

    async def _refreshed_after(self, refused: str) -> str:
        async with self._lock:
            current = await self._tokens()
            if current != refused:
                return current  # another call already refreshed
            return await self._tokens(force_refresh=True)


class BearerCalls:
    """The GETs one provider client makes for one user: each through :func:`request` with the
    bearer token (repeated once with a refreshed token after a refusal), the user's pacing
    ``budget`` and further ``quotas``, one retry ``policy`` and one ``clock``."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token_provider: TokenProvider,
        budget: RateBudget,
        *,
        quotas: Sequence[Quota] = (),
        policy: RetryPolicy = DEFAULT_POLICY,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._http = http
        self._token = RefreshingToken(token_provider)
        self._budget = budget
        self._quotas = tuple(quotas)
        self._policy = policy
        self._clock = clock

    async def get(
        self,
        url: str,
        read: Callable[[httpx.Response], T],
        *,
        params: Mapping[str, str | int] | None = None,
        cost: int = 1,
        accept: Collection[int] = (),
    ) -> T:
        """``read(response)`` of ``GET url``; ``read`` runs inside the token's refusal retry,
        so an ``AuthError`` it raises (a provider's own way of saying "expired") refreshes."""

        async def send(token: str) -> T:
            response = await request(
                self._http,
                "GET",
                url,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                params=params,
                budget=self._budget,
                cost=cost,
                policy=self._policy,
                clock=self._clock,
                accept=accept,
                quotas=self._quotas,
            )
            return read(response)

        return await self._token.call(send)


def _header_float(headers: httpx.Headers, name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def rate_snapshot(
    headers: httpx.Headers, now: float, *, prefix: str = "x-ratelimit-"
) -> RateSnapshot:
    """Read ``X-RateLimit-Limit/Remaining/Reset`` (reset as epoch, or seconds when small).

    ``prefix`` names another quota's headers (Mural's per-app quota: ``x-ratelimit-app-``).
    """
    remaining = _header_float(headers, f"{prefix}remaining")
    limit = _header_float(headers, f"{prefix}limit")
    reset = _header_float(headers, f"{prefix}reset")
    if reset is not None and reset < _EPOCH_THRESHOLD:
        reset = now + max(reset, 0.0)
    return RateSnapshot(
        remaining=None if remaining is None else max(int(remaining), 0),
        reset_at=reset,
        limit=None if limit is None else max(int(limit), 0),
    )


def retry_after_seconds(headers: httpx.Headers, now: float) -> float | None:
    """Seconds to wait after a 429: ``Retry-After`` (seconds or HTTP date), else the reset."""
    raw = headers.get("retry-after")
    if raw is not None:
        raw = raw.strip()
        try:
            seconds = float(raw)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(raw)
            except (TypeError, ValueError, IndexError):
                when = None
            if when is not None:
                return max(when.timestamp() - now, 0.0)
        else:
            if math.isfinite(seconds):
                return max(seconds, 0.0)
    reset_at = rate_snapshot(headers, now).reset_at
    if reset_at is not None:
        return max(reset_at - now, 0.0)
    return None


@dataclass(frozen=True, slots=True)
class Quota:
    """A further rate budget charged on every call beside ``budget``, which the provider reports
    under its own header prefix (Mural: ``x-ratelimit-app-*`` for the quota all users of one app
    share, beside the per-user ``x-ratelimit-*``)."""

    budget: RateBudget
    prefix: str


def _log_retry(message: str, call: str, attempt: int, seconds: float, status: int | None) -> None:
    """One line per retry, its fields as ``extra`` (``service.logs`` keeps them as keys)."""
    fields = {"call": call, "try": attempt, "seconds": round(seconds, 3), "status": status}
    log.info(message, extra=fields)


def _describe(method: str, url: httpx.URL) -> str:
    # The path only: query strings may carry codes or tokens on some provider endpoints.
    return f"{method} {url.path}"


def _error_for(status: int, what: str) -> ProviderError:
    if status == 401:
        return AuthError(f"{what}: the access token was refused (401)", status=status)
    if status == 403:
        return ForbiddenError(f"{what}: access forbidden (403)", status=status)
    if status in (404, 410):
        return NotFoundError(f"{what}: not found ({status})", status=status)
    if status in _TRANSIENT_STATUSES or status >= 500:
        return TransientError(f"{what}: server error ({status})", status=status)
    return ProviderError(f"{what}: unexpected status {status}", status=status)


async def request(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str | int] | None = None,
    json: Any = None,
    data: Mapping[str, str] | None = None,
    content: bytes | None = None,
    budget: RateBudget | None = None,
    cost: int = 1,
    policy: RetryPolicy = DEFAULT_POLICY,
    clock: Clock = SYSTEM_CLOCK,
    rand: Callable[[], float] = random.random,
    idempotent: bool = True,
    accept: Collection[int] = (),
    quotas: Sequence[Quota] = (),
) -> httpx.Response:
    """Send one call and return its 2xx response (or one whose status is in ``accept``).

    Raises :class:`TransientError` after ``policy.max_tries`` failed attempts (5xx, timeout,
    reset) or when the waits would pass ``policy.max_total_wait``; :class:`RateLimitedError`
    (``retry_after`` in seconds) when a rate-limit wait is too long to sleep here;
    :class:`AuthError` on 401, :class:`ForbiddenError` on 403, :class:`NotFoundError` on
    404/410 and :class:`ProviderError` on any other status. A non-``idempotent`` call (a token
    exchange) is retried only where the provider surely did not act on it: connection failures
    and 429.

    Each of ``quotas`` is reserved after ``budget`` (a credit taken from ``budget`` before a
    quota says "wait" stays spent: pacing errs on the slow side), observed from its own headers,
    and after a 429 its reset is waited for when its headers say it is exhausted.
    """
    pacing: RateBudget = budget if budget is not None else NoRateBudget()
    what = _describe(method, httpx.URL(url))
    # Whether the failure just raised may be tried again (stamina asks after the raise).
    retryable = False

    def log_retry(tries: int, exc: Exception, seconds: float) -> None:
        status = exc.status if isinstance(exc, ProviderError) else None
        if isinstance(exc, RateLimitedError):
            message = "rate limited, waiting"
        elif status is None:
            message = "provider call failed, retrying"
        else:
            message = "server error, retrying"
        _log_retry(message, what, tries, seconds, status)
        clock.waiting(seconds)

    retrying = policy.retrying(lambda exc: retryable, rand=rand, on_retry=log_retry)

    async def paced() -> None:
        """Wait until every budget lets the call go (rate windows the provider reported)."""
        while True:
            wait = await pacing.reserve(cost, clock.time())
            for quota in quotas:
                if wait > 0:
                    break
                wait = await quota.budget.reserve(cost, clock.time())
            if wait <= 0:
                return
            limited = RateLimitedError(f"{what}: rate budget exhausted", retry_after=wait)
            if wait > policy.max_inline_wait or not retrying.spend(wait):
                raise limited
            await clock.sleep(wait)

    async def send(attempt: int) -> httpx.Response:
        nonlocal retryable
        retryable = False
        await paced()
        try:
            response = await http.request(
                method,
                url,
                headers=headers,
                params=params,
                json=json,
                data=data,
                content=content,
                timeout=policy.timeout,
            )
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            sure_not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            retryable = idempotent or sure_not_sent
            raise TransientError(f"{what}: {type(exc).__name__} after {attempt} tries") from None

        now = clock.time()
        quota_waits = [0.0]
        observed = [pacing.observe(rate_snapshot(response.headers, now), now)]
        for quota in quotas:
            seen = rate_snapshot(response.headers, now, prefix=quota.prefix)
            observed.append(quota.budget.observe(seen, now))
            if seen.remaining == 0 and seen.reset_at is not None:
                quota_waits.append(seen.reset_at - now)
        # Separate windows (Mural: the user's and the app's): recorded side by side, one
        # round trip to a shared budget's store instead of one per quota
        if len(observed) == 1:
            await observed[0]
        else:
            await asyncio.gather(*observed)
        status = response.status_code

        if status == 429:
            told = retry_after_seconds(response.headers, now)
            if max(quota_waits) > 0:
                told = max(told or 0.0, *quota_waits)
            if told is None:
                # No wait given: back off, never sooner than the base delay.
                told = policy.delay(attempt - 1, None, rand) + policy.base_delay
            await pacing.observe(RateSnapshot(remaining=0, reset_at=now + told), now)
            retryable = True
            raise RateLimitedError(f"{what}: rate limited (429)", retry_after=told)

        if 200 <= status < 300 or status in accept:
            return response

        error = _error_for(status, what)
        if isinstance(error, TransientError):
            retryable = idempotent
            if attempt > 1:
                error = TransientError(
                    f"{what}: server error ({status}) after {attempt} tries", status=status
                )
        raise error

    async for attempt in retrying:
        with attempt:
            return await send(attempt.num)
    raise AssertionError("unreachable: stamina re-raises the last failure")


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The response body as a JSON object, or :class:`ProviderError` naming the call."""
    what = _describe(response.request.method, response.request.url)
    try:
        body = response.json()
    except ValueError:
        raise ProviderError(f"{what}: response is not JSON", status=response.status_code) from None
    if not isinstance(body, dict):
        raise ProviderError(f"{what}: response is not a JSON object", status=response.status_code)
    return body
