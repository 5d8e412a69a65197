"""The board picker: after the OAuth callback a browser lists the connection's remote boards a
page at a time and imports one with a form button (CSRF-checked, no JavaScript)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from service.api.app import create_app
from service.settings import Settings
from testkit.builders import to_miro_dump
from testkit.standins.miro_server import MiroStandIn
from testkit.standins.mural_server import MuralStandIn
from testkit.standins.serving import serve
from tests.api import live_flow
from tests.api.conftest import Workspace
from tests.api.test_connections import BOARD, CALLBACK, miro_settings, miro_stand_in
from tests.api.test_mural_connections import CALLBACK as MURAL_CALLBACK
from tests.api.test_mural_connections import MURAL, mural_settings
from tests.api.test_mural_connections import workshop as mural_workshop
from tests.conftest import TestDatabase
from tests.web.test_front_door import ORIGIN, csrf_of, sign_in


@pytest.fixture
def miro() -> MiroStandIn:
    return miro_stand_in()


@contextmanager
def live_app(database: TestDatabase, engine: Engine, **providers: Any) -> Iterator[TestClient]:
    """The API with the given provider settings (``miro=...``, ``mural=...``) and a key."""
    settings = Settings(
        database_url=database.url,
        log_format="console",
        rate_limit=None,
        encryption_keys=[Fernet.generate_key().decode()],
        **providers,
    )
    app = create_app(settings, engine=engine, migrate=False, configure_logs=False)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def live_client(database: TestDatabase, engine: Engine, miro: MiroStandIn) -> Iterator[TestClient]:
    with (
        serve(miro.app()) as url,
        live_app(database, engine, miro=miro_settings(miro, url)) as client,
    ):
        yield client


def connected_in_a_browser(client: TestClient, who: Workspace) -> str:
    """Consent at the stand-in, call back as a browser; returns the page's picker link."""
    query = live_flow.authorize(client, who, "miro", CALLBACK)
    page = client.get("/v1/oauth/miro/callback", params=query, headers={"Accept": "text/html"})
    assert page.status_code == 200, page.text
    found = re.search(r'href="(/web/connections/\d+/boards)"', page.text)
    assert found, page.text
    return found.group(1)


def test_the_callback_page_links_a_picker_whose_button_imports_the_board(
    live_client: TestClient, alice: Workspace, miro: MiroStandIn
) -> None:
    picker = connected_in_a_browser(live_client, alice)
    sign_in(live_client, alice)

    listed = live_client.get(picker)
    added = live_client.post(
        picker,
        data={"csrf": csrf_of(listed.text), "external_id": BOARD},
        headers=ORIGIN,
        follow_redirects=False,
    )

    assert listed.status_code == 200
    assert "Workshop board" in listed.text
    assert f'name="external_id" value="{BOARD}"' in listed.text
    assert added.status_code == 303
    board_id = int(added.headers["location"].rsplit("/", 1)[1])
    sync = live_flow.sync_of(live_client, alice, board_id)
    assert (sync["provider"], sync["external_id"]) == ("miro", BOARD)
    assert live_flow.imported_job(live_client, alice, board_id, None)["status"] == "succeeded"


def test_a_pick_without_the_sessions_csrf_token_connects_nothing(
    live_client: TestClient, alice: Workspace
) -> None:
    picker = connected_in_a_browser(live_client, alice)
    sign_in(live_client, alice)

    refused = live_client.post(
        picker, data={"csrf": "forged", "external_id": BOARD}, headers=ORIGIN
    )
    from_elsewhere = live_client.post(
        picker,
        data={"csrf": csrf_of(live_client.get(picker).text), "external_id": BOARD},
        headers={"Origin": "https://evil.example"},
    )

    assert (refused.status_code, from_elsewhere.status_code) == (403, 403)
    boards = live_client.get("/v1/boards", headers=alice.headers).json()["items"]
    assert boards == []


def test_the_picker_pages_through_many_boards_and_escapes_their_names(
    live_client: TestClient, alice: Workspace, miro: MiroStandIn
) -> None:
    for n in range(24):
        miro.add_board(to_miro_dump([], board_id=f"uXjVOb{n:02d}=", name=f"<b>Board {n}</b>"))
    picker = connected_in_a_browser(live_client, alice)
    sign_in(live_client, alice)

    first = live_client.get(picker)
    following = re.search(r'<a href="(\?[^"]+)">Next page</a>', first.text)
    assert following, first.text
    second = live_client.get(picker + following.group(1).replace("&amp;", "&"))

    shown = re.findall(r'name="external_id" value="([^"]+)"', first.text + second.text)
    assert len(first.text.split('name="external_id"')) - 1 == 20
    assert len(shown) == len(set(shown)) == 25
    assert "<b>Board" not in first.text
    assert "&lt;b&gt;Board" in first.text
    assert "Next page" not in second.text


def test_another_workspaces_connection_has_no_picker(
    live_client: TestClient, alice: Workspace, bob: Workspace
) -> None:
    picker = connected_in_a_browser(live_client, alice)
    sign_in(live_client, bob)

    shown = live_client.get(picker)
    taken = live_client.post(
        picker, data={"csrf": csrf_of(shown.text), "external_id": BOARD}, headers=ORIGIN
    )

    assert shown.status_code == 404
    assert taken.status_code == 404
    assert live_client.get("/v1/boards", headers=bob.headers).json()["items"] == []


def test_the_mural_picker_walks_from_workspaces_to_murals(
    database: TestDatabase, engine: Engine, alice: Workspace
) -> None:
    mural = MuralStandIn(redirect_uris=(MURAL_CALLBACK,))
    mural.add_user("u1", "Ana", "Lee")
    mural.add_dump(mural_workshop())
    with (
        serve(mural.app()) as url,
        live_app(database, engine, mural=mural_settings(mural, url)) as client,
    ):
        connection = live_flow.connect(client, alice, "mural", MURAL_CALLBACK)
        sign_in(client, alice)
        picker = f"/web/connections/{connection['id']}/boards"
        workspaces = client.get(picker)
        link = re.search(r'href="(\?kind=murals[^"]+)"', workspaces.text)
        assert link, workspaces.text
        murals = client.get(picker + link.group(1).replace("&amp;", "&"))

    assert "Murals of this workspace" in workspaces.text
    assert 'name="external_id"' not in workspaces.text
    assert f'name="external_id" value="{MURAL}"' in murals.text
    assert "Order to cash" in murals.text


def test_the_picker_link_of_a_browser_without_a_session_signs_in_first(
    live_client: TestClient, alice: Workspace
) -> None:
    picker = connected_in_a_browser(live_client, alice)

    answer = live_client.get(picker, follow_redirects=False)

    assert answer.status_code == 303
    assert answer.headers["location"] == f"/web/login?next={picker}"
