"""A live board's import job shows its provider fetch as it goes: ``fetching 50/131 items``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from service.api.app import create_app
from service.db.engine import create_session_factory
from service.db.tables import ImportJob
from service.settings import MiroSettings, Settings
from testkit.builders import Element, Frame, Note, to_miro_dump
from testkit.standins.miro_server import MiroStandIn
from testkit.standins.serving import serve
from tests.api import live_flow
from tests.api.conftest import Workspace
from tests.conftest import TestDatabase

pytestmark = pytest.mark.slow  # a stand-in Miro on a real socket, an OAuth flow, a live import

CALLBACK = "http://testserver/v1/oauth/miro/callback"
STEPS = 130


def big_board() -> dict[str, Any]:
    """A frame of ``STEPS`` stickies: three pages of the stand-in's items listing."""
    elements: list[Element] = [Frame("Current state", 0, 0, 400 * STEPS, 1600)]
    elements += [Note(f"Step {n}", -200 * STEPS + 400 * n, 0, parent=0) for n in range(STEPS)]
    return to_miro_dump(elements)


@pytest.fixture
def miro() -> MiroStandIn:
    stand_in = MiroStandIn(redirect_uri=CALLBACK)
    stand_in.add_board(big_board())
    return stand_in


Snapshot = tuple[str, str | None, int | None, int | None]


@pytest.fixture
def seen() -> list[Snapshot]:
    return []


@pytest.fixture
def live_client(
    database: TestDatabase, engine: Engine, miro: MiroStandIn, seen: list[Snapshot]
) -> Iterator[TestClient]:
    sessions = create_session_factory(engine)

    async def record(response: httpx.Response) -> None:
        """Before each items page is counted: the newest job as a client would see it."""
        if response.request.url.path.endswith("/items"):
            with sessions() as session:
                job = session.exec(select(ImportJob).order_by(col(ImportJob.id).desc())).first()
                assert job is not None
                seen.append((job.status, job.phase, job.items_done, job.items_total))

    def http() -> httpx.AsyncClient:
        return httpx.AsyncClient(follow_redirects=False, event_hooks={"response": [record]})

    with serve(miro.app()) as url:
        settings = Settings(
            database_url=database.url,
            log_format="console",
            encryption_keys=[Fernet.generate_key().decode()],
            miro=MiroSettings(
                client_id=miro.client_id,
                client_secret=SecretStr(miro.client_secret),
                redirect_uri=CALLBACK,
                api_url=url,
                auth_url=f"{url}/oauth/authorize",
            ),
        )
        app = create_app(
            settings, engine=engine, migrate=False, configure_logs=False, live_http_factory=http
        )
        with TestClient(app) as client:
            yield client


def test_a_live_import_shows_the_items_fetched_of_the_providers_total_while_it_fetches(
    live_client: TestClient, alice: Workspace, miro: MiroStandIn, seen: list[Snapshot]
) -> None:
    connection = live_flow.connect(live_client, alice, "miro", CALLBACK)
    board_id = live_flow.connect_board(
        live_client, alice, connection["id"], next(iter(miro.boards))
    )

    job = live_flow.imported_job(live_client, alice, board_id, None)

    total = STEPS + 1  # the frame is an item too
    assert job["status"] == "succeeded"
    assert len(seen) >= 3
    assert {snapshot[:2] for snapshot in seen} == {("running", "fetching")}
    progress = [(done, of) for _, _, done, of in seen[1:]]  # items, connectors, tags listings
    assert progress == sorted(progress)  # only grows
    assert progress[-1][1] == total
    assert any(0 < done < total for done, of in progress if of == total)  # seen mid-fetch
    assert job["progress_text"] == "done"
