"""Connector fixtures: an asyncio client of the test Redis (the shared rate budgets)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Any]:
    """A ``redis.asyncio`` client of ``redis_url`` (skipped locally, a failure in CI, when the
    test Redis is unreachable: see ``tests/conftest.py``)."""
    import redis.asyncio

    client = redis.asyncio.from_url(redis_url)
    yield client
    await client.aclose()
