"""Live Miro end to end against the stand-in Miro on a real socket: authorize, callback,
connect, import, poll, re-import after a change; state misuse, refresh, re-auth, revocation."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import select

import service.usecases.connections as connections_module
from service.api.app import create_app
from service.db.engine import create_session_factory
from service.db.tables import Connection, OAuthState
from service.settings import MiroSettings, Settings
from service.usecases.connections import StoredTokens
from testkit.builders import to_miro_dump
from testkit.standins.miro_server import MiroStandIn
from testkit.standins.serving import serve
from tests.api import live_flow
from tests.api.conftest import Workspace
from tests.api.live_flow import imported_job, sync_of, until, wait_for_a_poll, workshop_shapes
from tests.conftest import TestDatabase

BOARD = "uXjVO1a2b3c="
CALLBACK = "http://testserver/v1/oauth/miro/callback"


def workshop(step_two: str = "Credit check\nLT 2 d") -> dict[str, Any]:
    return to_miro_dump(workshop_shapes(step_two))


def miro_settings(miro: MiroStandIn, url: str) -> MiroSettings:
    """The OAuth app registered at the stand-in on ``url``, polled every second."""
    return MiroSettings(
        client_id=miro.client_id,
        client_secret=SecretStr(miro.client_secret),
        redirect_uri=CALLBACK,
        api_url=url,
        auth_url=f"{url}/oauth/authorize",
        poll_interval_s=1.0,
        poll_jitter=0.0,
    )


def miro_stand_in() -> MiroStandIn:
    """The stand-in Miro with the workshop board, registered for ``CALLBACK``."""
    stand_in = MiroStandIn(redirect_uri=CALLBACK)
    stand_in.add_board(workshop(), modified_at="2026-03-02T15:20:11Z")
    return stand_in


@pytest.fixture
def miro() -> MiroStandIn:
    return miro_stand_in()


@pytest.fixture
def miro_url(miro: MiroStandIn) -> Iterator[str]:
    with serve(miro.app()) as url:
        yield url


@pytest.fixture
def live_client(
    database: TestDatabase, engine: Engine, miro: MiroStandIn, miro_url: str
) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database.url,
        log_format="console",
        encryption_keys=[Fernet.generate_key().decode()],
        miro=miro_settings(miro, miro_url),
    )
    app = create_app(settings, engine=engine, migrate=False, configure_logs=False, live_tick_s=0.1)
    with TestClient(app) as client:  # the lifespan starts and stops the live runner
        yield client


def authorize(client: TestClient, who: Workspace) -> dict[str, str]:
    return live_flow.authorize(client, who, "miro", CALLBACK)


def connect(client: TestClient, who: Workspace) -> dict[str, Any]:
    return live_flow.connect(client, who, "miro", CALLBACK)


def connect_board(client: TestClient, who: Workspace, connection_id: int) -> int:
    return live_flow.connect_board(client, who, connection_id, BOARD)


def test_a_board_is_connected_imported_polled_and_reimported_after_a_change(
    live_client: TestClient, alice: Workspace, miro: MiroStandIn
) -> None:
    connection = connect(live_client, alice)
    assert connection["status"] == "active"
    assert connection["account_id"] == miro.team_id  # a JSON number at Miro, text here
    assert connection["scopes"] == ["boards:read"]
    assert "token" not in str(connection).replace("expires_at", "")

    remote = live_client.get(
        f"/v1/connections/{connection['id']}/remote-boards",
        params={"query": "workshop"},
        headers=alice.headers,
    )
    assert remote.status_code == 200, remote.text
    assert [(b["kind"], b["id"]) for b in remote.json()["items"]] == [("board", BOARD)]
    assert remote.json()["next_cursor"] is None

    board_id = connect_board(live_client, alice, connection["id"])
    first = imported_job(live_client, alice, board_id, None)
    assert first["status"] == "succeeded"
    board = live_client.get(f"/v1/boards/{board_id}", headers=alice.headers).json()
    assert (board["latest_revision"], board["source"]) == (1, "miro")

    # Polls without a change queue nothing.
    wait_for_a_poll(live_client, alice, board_id)
    assert sync_of(live_client, alice, board_id)["last_import_job_id"] == first["id"]

    miro.boards[BOARD]["items"] = workshop("Credit check\nLT 3 d")["items"]
    miro.touch(BOARD, "2026-03-03T08:00:00Z")
    second = imported_job(live_client, alice, board_id, first["id"])

    assert second["status"] == "succeeded"
    assert second["trigger"] == "poll"
    board = live_client.get(f"/v1/boards/{board_id}", headers=alice.headers).json()
    assert board["latest_revision"] == 2
    assert sync_of(live_client, alice, board_id)["remote_modified_at"] == "2026-03-03T08:00:00Z"


def test_the_api_never_shows_or_stores_tokens_in_clear(
    live_client: TestClient, alice: Workspace, engine: Engine, miro: MiroStandIn
) -> None:
    connect(live_client, alice)

    with create_session_factory(engine)() as session:
        row = session.exec(select(Connection)).one()
    listed = live_client.get("/v1/connections", headers=alice.headers).text
    issued = miro.issued_tokens()
    assert row.refresh_token is not None
    stored = row.access_token + row.refresh_token
    # the tokens themselves, not a prefix such as "rt-" that ciphertext may contain by chance
    assert len(issued) == 2
    for token in issued:
        assert token.encode() not in stored
        assert token not in listed


def _for_another_workspace(state: str) -> str:
    """The state with its signed ``[workspace, nonce]`` payload moved to the next workspace,
    signature kept."""
    payload, rest = state.split(".", 1)
    workspace, nonce = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    moved = json.dumps([workspace + 1, nonce], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(moved).decode().rstrip("=") + "." + rest


@pytest.mark.parametrize(
    "spoil",
    [
        lambda q: {k: v for k, v in q.items() if k != "state"},  # missing
        lambda q: {**q, "state": q["state"][:-4] + "AAAA"},  # forged signature
        lambda q: {**q, "state": _for_another_workspace(q["state"])},
        lambda q: {**q, "state": "garbage"},
    ],
    ids=["missing", "forged", "other-workspace", "garbage"],
)
def test_a_bad_state_is_refused_and_nothing_is_stored(
    live_client: TestClient, alice: Workspace, engine: Engine, spoil: Callable[..., Any]
) -> None:
    query = authorize(live_client, alice)

    response = live_client.get("/v1/oauth/miro/callback", params=spoil(query))

    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-oauth-state")
    assert live_client.get("/v1/connections", headers=alice.headers).json() == []


def test_a_state_is_single_use(live_client: TestClient, alice: Workspace) -> None:
    query = authorize(live_client, alice)
    assert live_client.get("/v1/oauth/miro/callback", params=query).status_code == 200

    again = live_client.get("/v1/oauth/miro/callback", params=query)

    assert again.status_code == 400
    assert len(live_client.get("/v1/connections", headers=alice.headers).json()) == 1


def test_an_expired_state_is_refused(
    live_client: TestClient, alice: Workspace, engine: Engine
) -> None:
    query = authorize(live_client, alice)
    with create_session_factory(engine)() as session:
        for row in session.exec(select(OAuthState)).all():
            row.expires_at = row.expires_at.replace(year=2000)
            session.add(row)
        session.commit()

    response = live_client.get("/v1/oauth/miro/callback", params=query)

    assert response.status_code == 400
    assert "expired" in response.json()["detail"]
    assert live_client.get("/v1/connections", headers=alice.headers).json() == []


def test_an_expired_token_is_refreshed_with_rotation_and_the_import_goes_on(
    live_client: TestClient, alice: Workspace, miro: MiroStandIn, engine: Engine
) -> None:
    connection = connect(live_client, alice)
    with create_session_factory(engine)() as session:
        before = session.exec(select(Connection)).one().refresh_token
    miro.expire_all_tokens()  # Miro now answers 401 although our expiry lies ahead

    board_id = connect_board(live_client, alice, connection["id"])
    job = imported_job(live_client, alice, board_id, None)

    assert job["status"] == "succeeded"
    assert miro.refreshes() == 1
    with create_session_factory(engine)() as session:
        assert session.exec(select(Connection)).one().refresh_token != before


def test_a_refused_refresh_marks_the_connection_and_its_boards_for_reauthorization(
    live_client: TestClient, alice: Workspace, miro: MiroStandIn
) -> None:
    connection = connect(live_client, alice)
    miro.expire_all_tokens()
    miro.drop_refresh_tokens()

    board_id = connect_board(live_client, alice, connection["id"])
    sync = until(
        lambda: (s := sync_of(live_client, alice, board_id))["status"] == "needs_reauth" and s
    )

    assert "invalid_grant" in sync["error"]
    shown = live_client.get(f"/v1/connections/{connection['id']}", headers=alice.headers).json()
    assert shown["status"] == "needs_reauth"
    refused = live_client.post(
        "/v1/boards",
        json={"connection_id": connection["id"], "external_id": BOARD},
        headers=alice.headers,
    )
    assert refused.status_code == 409

    connect(live_client, alice)  # consenting again repairs the connection and its boards
    shown = live_client.get(f"/v1/connections/{connection['id']}", headers=alice.headers).json()
    assert shown["status"] == "active"
    assert sync_of(live_client, alice, board_id)["status"] == "ok"


def test_deleting_a_connection_revokes_the_token_at_miro(
    live_client: TestClient, alice: Workspace, miro: MiroStandIn
) -> None:
    connection = connect(live_client, alice)
    board_id = connect_board(live_client, alice, connection["id"])
    imported_job(live_client, alice, board_id, None)

    response = live_client.delete(f"/v1/connections/{connection['id']}", headers=alice.headers)

    assert response.status_code == 204
    assert miro.revoked() == 1
    assert live_client.get("/v1/connections", headers=alice.headers).json() == []
    assert sync_of(live_client, alice, board_id)["status"] == "needs_reauth"


def test_connections_and_live_boards_are_private_to_their_workspace(
    live_client: TestClient, alice: Workspace, bob: Workspace
) -> None:
    connection = connect(live_client, alice)

    assert (
        live_client.get(f"/v1/connections/{connection['id']}", headers=bob.headers).status_code
        == 404
    )
    response = live_client.post(
        "/v1/boards",
        json={"connection_id": connection["id"], "external_id": BOARD},
        headers=bob.headers,
    )
    assert response.status_code == 404


def test_a_forbidden_board_says_so(
    live_client: TestClient, alice: Workspace, miro: MiroStandIn
) -> None:
    miro.forbidden_boards.add(BOARD)
    connection = connect(live_client, alice)

    board_id = connect_board(live_client, alice, connection["id"])

    sync = until(lambda: (s := sync_of(live_client, alice, board_id))["status"] != "pending" and s)
    assert sync["status"] == "forbidden"


def refresh_from_two_threads(
    client: TestClient, engine: Engine
) -> tuple[list[str], list[BaseException]]:
    """Make the stored token due for refresh, then ask two providers for it at once."""
    live = client.app.state.runtime.providers["miro"].live  # type: ignore[attr-defined]
    with create_session_factory(engine)() as session:
        row = session.exec(select(Connection)).one()
        row.expires_at = row.expires_at.replace(year=2000)  # due for refresh
        session.add(row)
        session.commit()
        connection_id = row.id
    providers = [
        StoredTokens(
            live.session_factory, connection_id, live.cipher, live.refresh, live.http_factory
        )
        for _ in range(2)
    ]
    results: list[str] = []
    errors: list[BaseException] = []

    def run(provider: StoredTokens) -> None:
        try:
            results.append(provider._current(False))
        except BaseException as exc:
            errors.append(exc)

    with _threads(run, providers):
        pass
    return results, errors


def test_two_workers_refreshing_at_once_spend_the_refresh_token_once(
    live_client: TestClient, alice: Workspace, miro: MiroStandIn, engine: Engine
) -> None:
    connect(live_client, alice)

    results, errors = refresh_from_two_threads(live_client, engine)

    assert errors == []
    assert miro.refreshes() == 1
    assert len(set(results)) == 1


def test_the_database_lock_alone_keeps_two_processes_from_refreshing_twice(
    live_client: TestClient,
    alice: Workspace,
    miro: MiroStandIn,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connect(live_client, alice)
    # Two processes share no in-process lock: only the write transaction stands between them
    # (PostgreSQL: SELECT ... FOR UPDATE; SQLite: BEGIN IMMEDIATE).
    monkeypatch.setattr(connections_module, "_process_lock", lambda _id: threading.Lock())

    results, errors = refresh_from_two_threads(live_client, engine)

    assert errors == []
    assert miro.refreshes() == 1
    assert len(set(results)) == 1


@contextmanager
def _threads(target: Callable[[Any], None], args: list[Any]) -> Iterator[None]:
    threads = [threading.Thread(target=target, args=(arg,)) for arg in args]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for thread in threads:
            thread.join(timeout=30)


def test_a_non_expiring_token_connects_and_imports(
    live_client: TestClient, alice: Workspace, miro: MiroStandIn
) -> None:
    miro.expiring_tokens = False
    connection = connect(live_client, alice)
    assert connection["expires_at"] is None

    board_id = connect_board(live_client, alice, connection["id"])

    assert imported_job(live_client, alice, board_id, None)["status"] == "succeeded"
    assert miro.refreshes() == 0


@pytest.mark.parametrize(
    ("accept", "kind"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
    ],
)
def test_the_callback_answers_a_browser_with_a_page_and_a_client_with_json(
    live_client: TestClient, alice: Workspace, accept: str, kind: str
) -> None:
    query = authorize(live_client, alice)

    response = live_client.get("/v1/oauth/miro/callback", params=query, headers={"Accept": accept})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(kind)
    if kind == "text/html":
        assert "Miro connected" in response.text
        assert 'href="/web/connections/' in response.text  # the board picker
    else:
        assert response.json()["provider"] == "miro"


def test_remote_boards_page_with_items_and_next_cursor_like_every_list(
    live_client: TestClient, alice: Workspace, miro: MiroStandIn
) -> None:
    for n in range(4):
        miro.add_board(to_miro_dump([], board_id=f"uXjVOboard{n}=", name=f"Workshop {n}"))
    connection = connect(live_client, alice)
    url = f"/v1/connections/{connection['id']}/remote-boards"

    pages, cursor = [], None
    for _ in range(10):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        answer = live_client.get(url, params=params, headers=alice.headers).json()
        pages.append([b["id"] for b in answer["items"]])
        cursor = answer["next_cursor"]
        if cursor is None:
            break

    assert [len(p) for p in pages] == [2, 2, 1]  # five boards, two a page
    assert len({b for p in pages for b in p}) == 5
    offsets = [q.get("offset") for _, path, q in miro.calls("/v2/boards")]
    assert offsets == ["0", "2", "4"]


@pytest.mark.parametrize(
    ("params", "kind"),
    [
        ({"cursor": "not-a-cursor"}, "invalid-cursor"),
        ({"cursor": "eyJvZmZzZXQiOiItMSJ9"}, "invalid-cursor"),  # {"offset":"-1"}
        ({"kind": "murals"}, "validation-error"),
    ],
)
def test_a_remote_listing_that_cannot_be_answered_is_a_problem_not_a_provider_call(
    live_client: TestClient, alice: Workspace, miro: MiroStandIn, params: dict[str, str], kind: str
) -> None:
    connection = connect(live_client, alice)

    response = live_client.get(
        f"/v1/connections/{connection['id']}/remote-boards", params=params, headers=alice.headers
    )

    assert response.status_code in (400, 422)
    assert response.json()["type"].endswith(f"/{kind}")
    assert not miro.calls("/v2/boards")


@pytest.mark.parametrize("path", ["/v1/connections/acme/authorize", "/v1/oauth/acme/callback"])
def test_a_provider_that_is_not_registered_is_a_404_problem(
    live_client: TestClient, alice: Workspace, path: str
) -> None:
    response = live_client.get(path, headers=alice.headers)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "acme" in response.json()["detail"]
