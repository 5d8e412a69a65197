"""Per-API-key rate limits: 429 with ``Retry-After``, counted in Redis when a broker is set.

With a Redis broker every API process counts in the same Redis (``limits``' moving window), so
the limit holds across processes; without one each process counts in memory.
"""

from __future__ import annotations

import hashlib
import math
import time

import structlog
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = structlog.get_logger(__name__)


class RateLimiter:
    """The limits of ``spec`` (``limits`` notation: ``"300/10 seconds;3000/hour"``) per key."""

    def __init__(self, spec: str, storage_uri: str = "memory://") -> None:
        self._limits: list[RateLimitItem] = parse_many(spec)
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

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
