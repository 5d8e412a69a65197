"""Fixtures for the Mural connector tests: a stand-in Mural, in memory or on a real socket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.standins.mural_server import MuralStandIn
from testkit.standins.serving import serve


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
