"""Live Mural end to end against the stand-in Mural on a real socket: authorize (PKCE),
callback, browse, connect, import, poll, re-import after a change; refresh with rotation,
refused refresh, missing scope, vanished mural, deletion."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import select

from service.api.app import create_app
from service.db.engine import create_session_factory
from service.db.tables import Connection, OAuthState
from service.settings import MuralSettings, Settings
from testkit.builders import Frame, Note, to_miro_dump, to_mural_dump
from testkit.standins.miro_server import MiroStandIn
from testkit.standins.mural_server import MuralStandIn
from testkit.standins.serving import serve
from tests.api import live_flow
from tests.api.conftest import Workspace
from tests.api.live_flow import imported_job, sync_of, until, wait_for_a_poll, workshop_shapes
from tests.api.test_connections import BOARD as MIRO_BOARD
from tests.api.test_connections import CALLBACK as MIRO_CALLBACK
from tests.api.test_connections import miro_settings
from tests.conftest import TestDatabase

MURAL = "acme7380.1754493659737"
CALLBACK = "http://testserver/v1/oauth/mural/callback"


def workshop(step_two: str = "Credit check\nLT 2 d") -> dict[str, Any]:
    return to_mural_dump(workshop_shapes(step_two), mural_id=MURAL, title="Order to cash")


def mural_settings(mural: MuralStandIn, url: str) -> MuralSettings:
    """The OAuth app registered at the stand-in on ``url``, polled every second."""
    api = url + mural.prefix
    return MuralSettings(
        client_id=mural.client_id,
        client_secret=SecretStr(mural.client_secret),
        redirect_uri=CALLBACK,
        api_url=api,
        auth_url=f"{api}/authorization/oauth2/",
        poll_interval_s=1.0,
        poll_jitter=0.0,
    )


@pytest.fixture
def mural() -> MuralStandIn:
    stand_in = MuralStandIn(redirect_uris=(CALLBACK,))
    stand_in.add_user("u1", "Ana", "Lee")
    stand_in.add_dump(workshop())
    return stand_in


@pytest.fixture
def mural_url(mural: MuralStandIn) -> Iterator[str]:
    with serve(mural.app()) as url:
        yield url


@pytest.fixture
def live_client(
    database: TestDatabase, engine: Engine, mural: MuralStandIn, mural_url: str
) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database.url,
        log_format="console",
        encryption_keys=[Fernet.generate_key().decode()],
        mural=mural_settings(mural, mural_url),
    )
    app = create_app(settings, engine=engine, migrate=False, configure_logs=False, live_tick_s=0.1)
    with TestClient(app) as client:
        yield client


def authorize(client: TestClient, who: Workspace) -> dict[str, str]:
    return live_flow.authorize(client, who, "mural", CALLBACK)


def connect(client: TestClient, who: Workspace) -> dict[str, Any]:
    return live_flow.connect(client, who, "mural", CALLBACK)


def connect_mural(
    client: TestClient, who: Workspace, connection_id: int, mural_id: str = MURAL
) -> int:
    return live_flow.connect_board(client, who, connection_id, mural_id)


def test_a_mural_is_connected_imported_polled_and_reimported_after_a_change(
    live_client: TestClient, alice: Workspace, mural: MuralStandIn
) -> None:
    connection = connect(live_client, alice)
    assert (connection["provider"], connection["status"]) == ("mural", "active")
    assert (connection["user_id"], connection["user_name"]) == ("u1", "Ana Lee")
    assert set(connection["scopes"]) == {
        "workspaces:read",
        "rooms:read",
        "murals:read",
        "identity:read",
    }

    workspaces = live_client.get(
        f"/v1/connections/{connection['id']}/remote-murals", headers=alice.headers
    )
    murals = live_client.get(
        f"/v1/connections/{connection['id']}/remote-murals",
        params={"kind": "murals", "workspace_id": "acme7380"},
        headers=alice.headers,
    )
    assert workspaces.status_code == 200, workspaces.text
    assert [(w["kind"], w["id"]) for w in workspaces.json()["items"]] == [("workspace", "acme7380")]
    assert [(m["kind"], m["id"], m["name"]) for m in murals.json()["items"]] == [
        ("board", MURAL, "Order to cash")
    ]

    board_id = connect_mural(live_client, alice, connection["id"])
    first = imported_job(live_client, alice, board_id, None)
    assert first["status"] == "succeeded"
    board = live_client.get(f"/v1/boards/{board_id}", headers=alice.headers).json()
    assert (board["latest_revision"], board["source"], board["provider"]) == (1, "mural", "mural")
    streams = live_client.get(f"/v1/boards/{board_id}/streams", headers=alice.headers).json()
    assert "Credit check" in str(streams)

    # A poll that finds updatedOn unchanged queues nothing.
    wait_for_a_poll(live_client, alice, board_id)
    assert sync_of(live_client, alice, board_id)["last_import_job_id"] == first["id"]
    widget_listings = len(mural.api_calls("/widgets"))

    mural.widgets[MURAL] = workshop("Credit check\nLT 3 d")["widgets"]
    mural.touch(MURAL)
    second = imported_job(live_client, alice, board_id, first["id"])

    assert second["status"] == "succeeded"
    assert second["trigger"] == "poll"
    board = live_client.get(f"/v1/boards/{board_id}", headers=alice.headers).json()
    assert board["latest_revision"] == 2
    assert sync_of(live_client, alice, board_id)["remote_modified_at"] == str(
        mural.murals[MURAL]["updatedOn"]
    )
    assert len(mural.api_calls("/widgets")) == widget_listings + 1  # listed only on the change


def test_the_authorize_link_carries_an_s256_challenge_whose_verifier_stays_server_side(
    live_client: TestClient, alice: Workspace, engine: Engine
) -> None:
    response = live_client.get("/v1/connections/mural/authorize", headers=alice.headers)

    query = parse_qs(urlsplit(response.json()["authorize_url"]).query)
    with create_session_factory(engine)() as session:
        (state,) = session.exec(select(OAuthState)).all()
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert state.provider == "mural"
    assert state.code_verifier is not None
    assert state.code_verifier not in response.text


def test_a_state_is_single_use(live_client: TestClient, alice: Workspace) -> None:
    query = authorize(live_client, alice)
    assert live_client.get("/v1/oauth/mural/callback", params=query).status_code == 200

    again = live_client.get("/v1/oauth/mural/callback", params=query)

    assert again.status_code == 400
    assert again.json()["type"].endswith("/invalid-oauth-state")
    assert len(live_client.get("/v1/connections", headers=alice.headers).json()) == 1


def test_an_expired_token_is_refreshed_with_basic_auth_and_rotation(
    live_client: TestClient, alice: Workspace, mural: MuralStandIn, engine: Engine
) -> None:
    connection = connect(live_client, alice)
    with create_session_factory(engine)() as session:
        before = session.exec(select(Connection)).one().refresh_token
    for grant in mural.access_tokens.values():
        grant.expires_at = 0  # Mural answers 401 TOKEN_EXPIRED although our expiry lies ahead

    board_id = connect_mural(live_client, alice, connection["id"])
    job = imported_job(live_client, alice, board_id, None)

    refreshes = [r for r in mural.requests if r.path.endswith("/oauth2/refresh")]
    assert job["status"] == "succeeded"
    assert [r.status for r in refreshes] == [200]  # Basic auth accepted, new pair issued
    with create_session_factory(engine)() as session:
        assert session.exec(select(Connection)).one().refresh_token != before


def test_a_refused_refresh_marks_the_connection_and_its_mural_for_reauthorization(
    live_client: TestClient, alice: Workspace, mural: MuralStandIn
) -> None:
    connection = connect(live_client, alice)
    for grant in mural.access_tokens.values():
        grant.expires_at = 0
    mural.refresh_tokens.clear()  # revoked at app.mural.co/account/api

    board_id = connect_mural(live_client, alice, connection["id"])
    sync = until(
        lambda: (s := sync_of(live_client, alice, board_id))["status"] == "needs_reauth" and s
    )

    assert "Mural connection needs re-authorization" in sync["error"]
    listed = live_client.get(f"/v1/connections/{connection['id']}", headers=alice.headers)
    assert listed.json()["status"] == "needs_reauth"


def lose_the_murals_scope(stand_in: MuralStandIn) -> None:
    for grant in stand_in.access_tokens.values():
        grant.scopes = frozenset({"identity:read"})  # Mural then answers 403 INVALID_SCOPE


def delete_the_mural(stand_in: MuralStandIn) -> None:
    del stand_in.murals[MURAL]  # Mural then answers 404 MURAL_NOT_FOUND


@pytest.mark.parametrize(
    ("spoil", "status"),
    [(lose_the_murals_scope, "forbidden"), (delete_the_mural, "not_found")],
    ids=["missing-scope", "mural-deleted"],
)
def test_provider_refusals_become_the_murals_sync_state(
    live_client: TestClient,
    alice: Workspace,
    mural: MuralStandIn,
    spoil: Callable[[MuralStandIn], None],
    status: str,
) -> None:
    connection = connect(live_client, alice)
    spoil(mural)

    board_id = connect_mural(live_client, alice, connection["id"])
    sync = until(lambda: (s := sync_of(live_client, alice, board_id))["status"] == status and s)

    assert sync["last_import_job_id"] is None
    listed = live_client.get(f"/v1/connections/{connection['id']}", headers=alice.headers)
    assert listed.json()["status"] == "active"


def test_an_id_that_is_not_a_mural_id_is_refused(live_client: TestClient, alice: Workspace) -> None:
    connection = connect(live_client, alice)

    response = live_client.post(
        "/v1/boards",
        json={"connection_id": connection["id"], "external_id": "uXjVO1a2b3c="},
        headers=alice.headers,
    )

    assert response.status_code == 422
    assert "Mural" in response.text


def test_deleting_a_mural_connection_forgets_its_tokens_and_stops_its_murals(
    live_client: TestClient, alice: Workspace, mural: MuralStandIn, engine: Engine
) -> None:
    connection = connect(live_client, alice)
    board_id = connect_mural(live_client, alice, connection["id"])
    imported_job(live_client, alice, board_id, None)

    response = live_client.delete(f"/v1/connections/{connection['id']}", headers=alice.headers)

    assert response.status_code == 204
    with create_session_factory(engine)() as session:
        assert session.exec(select(Connection)).all() == []
    assert sync_of(live_client, alice, board_id)["status"] == "needs_reauth"


def test_miro_and_mural_live_side_by_side_each_poll_only_their_own_boards(
    database: TestDatabase, engine: Engine, mural: MuralStandIn, mural_url: str, alice: Workspace
) -> None:
    miro = MiroStandIn(redirect_uri=MIRO_CALLBACK)
    miro.add_board(
        to_miro_dump(
            [Frame("Current state", 0, 0, 3000, 1600), Note("Order entry", 0, 0, parent=0)]
        )
    )
    with serve(miro.app()) as miro_url:
        settings = Settings(
            database_url=database.url,
            log_format="console",
            encryption_keys=[Fernet.generate_key().decode()],
            miro=miro_settings(miro, miro_url),
            mural=mural_settings(mural, mural_url),
        )
        app = create_app(
            settings, engine=engine, migrate=False, configure_logs=False, live_tick_s=0.1
        )
        with TestClient(app) as client:
            miro_connection = live_flow.connect(client, alice, "miro", MIRO_CALLBACK)
            mural_connection = connect(client, alice)
            miro_board = live_flow.connect_board(client, alice, miro_connection["id"], MIRO_BOARD)
            mural_board = connect_mural(client, alice, mural_connection["id"])
            imported_job(client, alice, miro_board, None)
            imported_job(client, alice, mural_board, None)
            for board_id in (miro_board, mural_board):  # one poll of each after the import
                wait_for_a_poll(client, alice, board_id)

            syncs = [sync_of(client, alice, b)["status"] for b in (miro_board, mural_board)]
            browsed = client.get(
                f"/v1/connections/{mural_connection['id']}/remote-boards", headers=alice.headers
            )

    assert syncs == ["ok", "ok"]
    # A Mural connection's listing asks Mural: its token is never sent to Miro.
    assert [w["kind"] for w in browsed.json()["items"]] == ["workspace"]
    assert not miro.calls("/v2/boards")
    assert not [r for r in mural.requests if MIRO_BOARD in r.path]
    assert not [c for c in miro.calls() if MURAL in c[1]]


@pytest.mark.parametrize("path", ["remote-boards", "remote-murals"])
def test_murals_page_with_the_same_limit_on_every_page_under_both_paths(
    live_client: TestClient, alice: Workspace, mural: MuralStandIn, path: str
) -> None:
    for n in range(4):
        mural.add_mural(f"acme7380.175449365980{n}", f"Workshop {n}")
    connection = connect(live_client, alice)
    url = f"/v1/connections/{connection['id']}/{path}"
    filters = {"kind": "murals", "workspace_id": "acme7380", "limit": 2}

    first = live_client.get(url, params=filters, headers=alice.headers).json()
    second = live_client.get(
        url, params={**filters, "cursor": first["next_cursor"]}, headers=alice.headers
    ).json()
    third = live_client.get(
        url, params={**filters, "cursor": second["next_cursor"]}, headers=alice.headers
    ).json()

    assert [len(p["items"]) for p in (first, second, third)] == [2, 2, 1]
    assert third["next_cursor"] is None
    assert {m["kind"] for p in (first, second, third) for m in p["items"]} == {"board"}
    # Mural wants the same limit on every page of a listing (mural-api.md §2.1).
    listings = mural.api_calls("/workspaces/acme7380/murals")
    assert [r.query.get("limit") for r in listings] == ["2", "2", "2"]
    assert [r.status for r in listings] == [200, 200, 200]


@pytest.mark.parametrize(
    "params",
    [{"kind": "murals"}, {"kind": "rooms"}, {"kind": "boards"}],
    ids=["murals-without-container", "rooms-without-workspace", "unknown-kind"],
)
def test_a_mural_listing_without_what_mural_needs_is_a_422(
    live_client: TestClient, alice: Workspace, mural: MuralStandIn, params: dict[str, str]
) -> None:
    connection = connect(live_client, alice)
    calls = len(mural.api_calls())

    response = live_client.get(
        f"/v1/connections/{connection['id']}/remote-boards", params=params, headers=alice.headers
    )

    assert response.status_code == 422
    assert len(mural.api_calls()) == calls
