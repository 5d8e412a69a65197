"""The web front door: sign in with a key or a one-time link, see boards, maps and imports."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from service.db.engine import create_session_factory
from service.db.tables import ApiKey, ImportJob
from service.usecases.keys import revoke_api_key
from service.usecases.web_login import create_login_ticket
from tests.api.conftest import Workspace, import_dump

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "miro-abo-workshop.json"
ORIGIN = {"Origin": "http://testserver"}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def sign_in(client: TestClient, who: Workspace) -> str:
    """Sign in through the form; returns the session's CSRF token (from the next page)."""
    form = client.get("/web/login")
    answer = client.post(
        "/web/login",
        data={"api_key": who.key, "csrf": csrf_of(form.text)},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/web/boards").text)


def ticket_for(engine: Engine, who: Workspace, **kwargs: object) -> str:
    with create_session_factory(engine)() as session:
        key = session.exec(select(ApiKey).where(ApiKey.prefix == who.key[:12])).one()
        assert key.id is not None
        ticket = create_login_ticket(session, key.id, **kwargs)  # type: ignore[arg-type]
        session.commit()
    return ticket


def test_a_page_without_a_session_sends_the_browser_to_sign_in(client: TestClient) -> None:
    answer = client.get("/web/boards/7", follow_redirects=False)

    assert answer.status_code == 303
    assert answer.headers["location"] == "/web/login?next=/web/boards/7"


def test_signing_in_with_a_key_sets_a_strict_httponly_cookie_without_the_key(
    client: TestClient, alice: Workspace
) -> None:
    form = client.get("/web/login")
    answer = client.post(
        "/web/login",
        data={"api_key": alice.key, "csrf": csrf_of(form.text)},
        headers=ORIGIN,
        follow_redirects=False,
    )

    cookie = next(v for k, v in answer.headers.multi_items() if v.startswith("vsm_session="))
    assert answer.status_code == 303
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
    assert alice.key not in cookie
    assert alice.key[4:12] not in cookie


def test_a_wrong_key_is_refused_on_the_form(client: TestClient, alice: Workspace) -> None:
    form = client.get("/web/login")
    answer = client.post(
        "/web/login",
        data={"api_key": alice.key + "x", "csrf": csrf_of(form.text)},
        headers=ORIGIN,
    )

    assert answer.status_code == 401
    assert "unknown or revoked" in answer.text
    assert "vsm_session" not in client.cookies


@pytest.mark.parametrize(
    "headers", [{"Origin": "https://evil.example"}, {"Referer": "https://evil.example/x"}]
)
def test_a_sign_in_posted_from_another_site_is_refused(
    client: TestClient, alice: Workspace, headers: dict[str, str]
) -> None:
    form = client.get("/web/login")
    answer = client.post(
        "/web/login",
        data={"api_key": alice.key, "csrf": csrf_of(form.text)},
        headers=headers,
    )

    assert answer.status_code == 403
    assert "vsm_session" not in client.cookies


def test_a_form_without_the_sessions_csrf_token_changes_nothing(
    client: TestClient, alice: Workspace
) -> None:
    sign_in(client, alice)

    answer = client.post("/web/logout", data={"csrf": "guess"}, headers=ORIGIN)

    assert answer.status_code == 403
    assert client.get("/web/boards", follow_redirects=False).status_code == 200


def test_the_board_list_shows_only_the_workspaces_boards_with_their_names_escaped(
    client: TestClient, alice: Workspace, bob: Workspace
) -> None:
    dump = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    hostile = {**dump["board"], "name": "Q&A <3 Abo"}
    import_dump(client, alice, {**dump, "board": hostile})
    import_dump(client, bob, {**dump, "board": {**dump["board"], "name": "Bobs Board"}})
    sign_in(client, alice)

    html = client.get("/web/boards").text

    assert "Q&amp;A &lt;3 Abo" in html
    assert "<3" not in html
    assert "Bobs Board" not in html


def test_a_signed_in_browser_opens_the_report_and_the_map_of_its_board(
    client: TestClient, alice: Workspace
) -> None:
    job = import_dump(client, alice, json.loads(EXAMPLE.read_text(encoding="utf-8")))
    sign_in(client, alice)

    board = client.get(f"/web/boards/{job['board_id']}")
    map_link = re.search(r'href="(/web/streams/\d+/map\?revision=\d+)"', board.text)
    assert map_link
    map_page = client.get(map_link.group(1))
    svg = re.search(r'<img src="([^"]+)"', map_page.text)
    assert svg
    report = client.get(f"/v1/boards/{job['board_id']}/report.html")
    picture = client.get(svg.group(1).replace("&amp;", "&"))

    assert board.status_code == 200
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/html")
    assert picture.status_code == 200
    assert picture.headers["content-type"] == "image/svg+xml"


def test_the_session_cookie_never_authorises_a_write_to_the_api(
    client: TestClient, alice: Workspace
) -> None:
    sign_in(client, alice)

    answer = client.post("/v1/imports", json=json.loads(EXAMPLE.read_text(encoding="utf-8")))

    assert answer.status_code == 401


def test_another_workspaces_board_is_not_found_for_a_browser(
    client: TestClient, alice: Workspace, bob: Workspace
) -> None:
    job = import_dump(client, bob, json.loads(EXAMPLE.read_text(encoding="utf-8")))
    sign_in(client, alice)

    page = client.get(f"/web/boards/{job['board_id']}")
    report = client.get(f"/v1/boards/{job['board_id']}/report.html")

    assert page.status_code == 404
    assert report.status_code == 404


def test_a_one_time_link_signs_in_once(
    client: TestClient, engine: Engine, alice: Workspace
) -> None:
    ticket = ticket_for(engine, alice)

    first = client.get(f"/web/login/{ticket}")
    signed_in = client.get("/web/boards", follow_redirects=False).status_code
    client.cookies.clear()
    second = client.get(f"/web/login/{ticket}")

    assert first.status_code == 200
    assert signed_in == 200
    assert second.status_code == 410
    assert "vsm_session" not in client.cookies


def test_an_expired_one_time_link_does_not_sign_in(
    client: TestClient, engine: Engine, alice: Workspace
) -> None:
    ticket = ticket_for(engine, alice, ttl=timedelta(seconds=-1))

    assert client.get(f"/web/login/{ticket}").status_code == 410


def test_revoking_the_key_ends_its_browser_sessions(
    client: TestClient, engine: Engine, alice: Workspace
) -> None:
    sign_in(client, alice)
    with create_session_factory(engine)() as session:
        revoke_api_key(session, alice.key[:12])
        session.commit()

    answer = client.get("/web/boards", follow_redirects=False)

    assert answer.status_code == 303


def test_signing_out_ends_the_session(client: TestClient, alice: Workspace) -> None:
    csrf = sign_in(client, alice)

    answer = client.post("/web/logout", data={"csrf": csrf}, headers=ORIGIN)

    assert answer.status_code == 200
    assert client.get("/web/boards", follow_redirects=False).status_code == 303


def test_uploading_a_dump_from_the_page_shows_the_import_with_its_progress(
    client: TestClient, alice: Workspace
) -> None:
    csrf = sign_in(client, alice)

    answer = client.post(
        "/web/imports",
        data={"csrf": csrf},
        files={"file": ("board.json", EXAMPLE.read_bytes(), "application/json")},
        headers=ORIGIN,
        follow_redirects=False,
    )
    job_page = client.get(answer.headers["location"])

    assert answer.status_code == 303
    assert job_page.status_code == 200
    assert "<progress" in job_page.text


def test_the_pages_load_nothing_from_outside_and_run_no_script(
    client: TestClient, alice: Workspace
) -> None:
    sign_in(client, alice)

    answer = client.get("/web/boards")

    assert "script-src" not in answer.headers["content-security-policy"]
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert "<script" not in answer.text
    assert not re.search(r'(src|href)="(https?:)?//', answer.text)


def test_a_job_fetching_from_the_provider_shows_its_items_on_the_page(
    client: TestClient, alice: Workspace, engine: Engine
) -> None:
    with Session(engine) as session:
        key = session.exec(select(ApiKey).where(ApiKey.prefix == alice.key[:12])).one()
        job = ImportJob(
            workspace_id=key.workspace_id,
            status="running",
            phase="fetching",
            items_done=3200,
            items_total=15147,
            trigger="poll",
            provider="miro",
            board_name="Onboarding",
        )
        session.add(job)
        session.commit()
        job_id = job.id
    sign_in(client, alice)

    page = client.get(f"/web/imports/{job_id}")
    listing = client.get("/web/imports")

    assert "fetching 3,200/15,147 items" in page.text
    assert "fetching 3,200/15,147 items" in listing.text
    assert re.search(r'<progress[^>]*value="(\d+)"', page.text)
