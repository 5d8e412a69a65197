"""Fixtures for the Miro connector tests: a stand-in Miro, in process or on a real socket."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from testkit.standins.miro_server import MiroStandIn
from testkit.standins.serving import serve


@pytest.fixture
def miro() -> MiroStandIn:
    """An empty stand-in Miro; tests add boards with ``miro.add_board(dump)``."""
    return MiroStandIn()


@pytest.fixture
def miro_url(miro: MiroStandIn) -> Iterator[str]:
    """``miro`` served over a real socket; the base URL (scheme, host, port)."""
    with serve(miro.app()) as url:
        yield url


@pytest.fixture
async def miro_http(miro: MiroStandIn) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client wired to ``miro`` in process (base URL ``http://miro.test``)."""
    transport = httpx.ASGITransport(app=miro.app())
    async with httpx.AsyncClient(transport=transport, base_url="http://miro.test") as http:
        yield http
