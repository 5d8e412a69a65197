"""Per-API-key rate limits: 429 with ``Retry-After``, counted in Redis when a broker is set.

With a Redis broker every API process counts in the same Redis (``limits``' moving window), so
the limit holds across processes; without one each process counts in memory. Counting in Redis
is a network round trip on a synchronous client: :meth:`RateLimiter.wait` runs it on the
threadpool so a slow Redis never stalls the event loop (an in-memory count runs inline).
"""

from __future__ import annotations

import hashlib
import math
import time

import structlog
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool

log = structlog.get_logger(__name__)

# A Redis that does not answer within this many seconds is treated as down (fail open).
REDIS_TIMEOUT_S = 1.0


class RateLimiter:
    """The limits of ``spec`` (``limits`` notation: ``"300/10 seconds;3000/hour"``) per key."""

    def __init__(self, spec: str, storage_uri: str = "memory://") -> None:
        self._limits: list[RateLimitItem] = parse_many(spec)
        self._remote = not storage_uri.startswith("memory://")
        options = (
            {"socket_timeout": REDIS_TIMEOUT_S, "socket_connect_timeout": REDIS_TIMEOUT_S}
            if self._remote
            else {}
        )
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri, **options))

    async def wait(self, api_key: str) -> int | None:
        """:meth:`wait_s` for async callers: on the threadpool when counted in Redis."""
        if self._remote:
            return await run_in_threadpool(self.wait_s, api_key)
        return self.wait_s(api_key)

    def wait_s(self, api_key: str) -> int | None:
        """Count one request of ``api_key``; None when it is allowed, else the seconds until it
        would be. Fails open (allows, logs) when the counting store is unreachable: a Redis
        outage must not take the whole API down with it."""
        key = hashlib.sha256(api_key.encode()).hexdigest()[:32]  # never the key itself in Redis
        try:
            for limit in self._limits:
                if not self._limiter.test(limit, key):
                    reset = self._limiter.get_window_stats(limit, key).reset_time
                    return max(1, math.ceil(reset - time.time()))
            for limit in self._limits:
                self._limiter.hit(limit, key)
        except Exception as exc:
            log.warning("rate_limit_unavailable", error=type(exc).__name__)
        return None
