"""Fixtures for the Mural connector tests: a stand-in Mural, in memory or on a real socket."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.standins.mural_server import MuralStandIn
from tests.standins.serving import serve


@pytest.fixture
def mural() -> MuralStandIn:
    """A stand-in Mural with one user (``u1``) and one workspace (``acme7380``)."""
    stand_in = MuralStandIn()
    stand_in.add_user("u1")
    stand_in.add_workspace("acme7380")
    return stand_in


@pytest.fixture
def mural_url(mural: MuralStandIn) -> Iterator[str]:
    """``mural`` served over a real socket; the base URL (scheme, host, port)."""
    with serve(mural.app()) as url:
        yield url


@pytest.fixture
async def redis_client() -> AsyncIterator[Any]:
    """Redis at VSM_TEST_REDIS_URL; skipped when absent locally, a failure in CI."""
    url = os.environ.get("VSM_TEST_REDIS_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("VSM_TEST_REDIS_URL must be set in CI")
        pytest.skip("needs Redis: set VSM_TEST_REDIS_URL (e.g. redis://localhost:6379/15)")
    import redis.asyncio

    client = redis.asyncio.from_url(url)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        if os.environ.get("CI"):
            pytest.fail(f"Redis at VSM_TEST_REDIS_URL is unreachable: {exc}")
        pytest.skip(f"Redis at VSM_TEST_REDIS_URL is unreachable: {exc}")
    yield client
    await client.aclose()
