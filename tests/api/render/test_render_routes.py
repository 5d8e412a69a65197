"""The map, report page and share link routes: auth, isolation, headers, ETags, signatures."""

from __future__ import annotations

import base64
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from service.domain.render.html import CSP_HEADER
from service.domain.render.share import ShareGrant, derive_share_secret, sign_share_token
from tests.api.render.conftest import ENCRYPTION_KEY, Seeded, make_client

SVG = "{http://www.w3.org/2000/svg}"


def test_a_streams_map_is_served_as_svg(
    client: TestClient, seeded: Seeded, auth: dict[str, str]
) -> None:
    response = client.get(f"/v1/streams/{seeded.stream_id}/map.svg", headers=auth)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "script-src" not in response.headers["content-security-policy"]
    root = ET.fromstring(response.text)
    steps = [g for g in root.iter(f"{SVG}g") if g.get("class") == "step"]
    assert len(steps) == 5
    assert "<script" not in response.text


def test_an_unchanged_map_answers_304_to_its_etag(
    client: TestClient, seeded: Seeded, auth: dict[str, str]
) -> None:
    first = client.get(f"/v1/streams/{seeded.stream_id}/map.svg", headers=auth)

    again = client.get(
        f"/v1/streams/{seeded.stream_id}/map.svg",
        headers={**auth, "If-None-Match": first.headers["etag"]},
    )

    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize("path", ["/v1/streams/{stream}/map.svg", "/v1/boards/{board}/report.html"])
def test_maps_and_pages_need_an_api_key(client: TestClient, seeded: Seeded, path: str) -> None:
    url = path.format(stream=seeded.stream_id, board=seeded.board_id)

    response = client.get(url)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/streams/{stream}/map.svg",
        "/v1/boards/{board}/report.html",
    ],
)
def test_another_workspaces_board_is_not_found(
    client: TestClient, seeded: Seeded, auth: dict[str, str], path: str
) -> None:
    url = path.format(stream=seeded.other_stream_id, board=seeded.other_board_id)

    response = client.get(url, headers=auth)

    assert response.status_code == 404
    assert "Abo-Workshop" not in response.text


def test_the_report_page_is_served_with_a_strict_csp(
    client: TestClient, seeded: Seeded, auth: dict[str, str]
) -> None:
    response = client.get(f"/v1/boards/{seeded.board_id}/report.html", headers=auth)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-security-policy"] == CSP_HEADER
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "<svg" in response.text
    assert "revision 1" in response.text
    assert "<script" not in response.text
    assert "&lt;script&gt;window.pwned=1" in response.text


def test_an_unknown_revision_of_the_page_is_not_found(
    client: TestClient, seeded: Seeded, auth: dict[str, str]
) -> None:
    response = client.get(f"/v1/boards/{seeded.board_id}/report.html?revision=9", headers=auth)

    assert response.status_code == 404


def test_a_share_link_opens_the_page_without_an_api_key(
    client: TestClient, seeded: Seeded, auth: dict[str, str]
) -> None:
    created = client.post(f"/v1/boards/{seeded.board_id}/share", headers=auth)

    assert created.status_code == 201
    body = created.json()
    url = urlsplit(body["url"])
    assert f"{url.scheme}://{url.netloc}" == "https://vsm.example.test"
    expires = datetime.fromisoformat(body["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)

    page = client.get(url.path)

    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CSP_HEADER
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in page.headers["cache-control"]
    assert "Abo-Workshop" in page.text


def test_a_share_link_can_last_a_chosen_number_of_days(
    client: TestClient, seeded: Seeded, auth: dict[str, str]
) -> None:
    created = client.post(
        f"/v1/boards/{seeded.board_id}/share", headers=auth, json={"expires_in_days": 1}
    )

    expires = datetime.fromisoformat(created.json()["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=1))) < timedelta(minutes=1)


@pytest.mark.parametrize("days", [0, 91, "soon"])
def test_a_share_link_lifetime_out_of_range_is_refused(
    client: TestClient, seeded: Seeded, auth: dict[str, str], days: object
) -> None:
    response = client.post(
        f"/v1/boards/{seeded.board_id}/share", headers=auth, json={"expires_in_days": days}
    )

    assert response.status_code == 422
    assert "expires_in_days" in response.text


def test_sharing_needs_an_api_key_and_a_board_of_ones_own(
    client: TestClient, seeded: Seeded, auth: dict[str, str]
) -> None:
    assert client.post(f"/v1/boards/{seeded.board_id}/share").status_code == 401
    assert client.post(f"/v1/boards/{seeded.other_board_id}/share", headers=auth).status_code == 404


def _token(client: TestClient, seeded: Seeded, auth: dict[str, str]) -> str:
    url = client.post(f"/v1/boards/{seeded.board_id}/share", headers=auth).json()["url"]
    return str(urlsplit(url).path.split("/")[3])


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: "A" + t[1:] if not t.startswith("A") else "B" + t[1:],
        lambda t: t + "x",
        lambda t: "garbage",
        lambda t: "x" * 5000,
    ],
)
def test_a_tampered_share_link_is_not_found(
    client: TestClient, seeded: Seeded, auth: dict[str, str], tamper: object
) -> None:
    token = tamper(_token(client, seeded, auth))  # type: ignore[operator]

    response = client.get(f"/v1/shared/{token}/report.html")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "Abo-Workshop" not in response.text


def test_a_link_for_another_board_cannot_be_made_by_editing_the_token(
    client: TestClient, seeded: Seeded, auth: dict[str, str]
) -> None:
    _, signature = _token(client, seeded, auth).rsplit(".", 1)
    forged_payload = f"[{seeded.workspace_id},{seeded.other_board_id},9999999999]".encode()
    forged = f"{base64.urlsafe_b64encode(forged_payload).decode().rstrip('=')}.{signature}"

    assert client.get(f"/v1/shared/{forged}/report.html").status_code == 404


def test_an_expired_share_link_is_gone(client: TestClient, seeded: Seeded) -> None:
    grant = ShareGrant(seeded.workspace_id, seeded.board_id, int(time.time()) - 1)
    token = sign_share_token(derive_share_secret(ENCRYPTION_KEY), grant)

    response = client.get(f"/v1/shared/{token}/report.html")

    assert response.status_code == 410
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "https://valuestream.dev/problems/link-expired"
    assert "expired" in response.json()["detail"]


def test_a_share_link_of_the_first_format_is_gone_with_a_request_to_ask_again(
    client: TestClient, seeded: Seeded
) -> None:
    # The hand-made HMAC format of earlier releases: v1.<payload>.<signature>.
    old = f"{seeded.workspace_id}.{seeded.board_id}.9999999999"
    payload = base64.urlsafe_b64encode(old.encode())
    first_format = f"v1.{payload.decode().rstrip('=')}.{'A' * 43}"

    response = client.get(f"/v1/shared/{first_format}/report.html")

    assert response.status_code == 410
    assert response.json()["type"] == "https://valuestream.dev/problems/link-expired"
    assert "before this release" in response.json()["detail"]


def test_a_genuine_token_naming_a_board_outside_its_workspace_is_not_found(
    client: TestClient, seeded: Seeded
) -> None:
    grant = ShareGrant(seeded.workspace_id, seeded.other_board_id, int(time.time()) + 60)
    token = sign_share_token(derive_share_secret(ENCRYPTION_KEY), grant)

    assert client.get(f"/v1/shared/{token}/report.html").status_code == 404


def test_share_links_work_on_every_api_process_with_the_same_keys(
    engine: Engine, client: TestClient, seeded: Seeded, auth: dict[str, str]
) -> None:
    token = _token(client, seeded, auth)

    with make_client(engine) as other_process:
        assert other_process.get(f"/v1/shared/{token}/report.html").status_code == 200
    with make_client(engine, encryption_keys=["a-different-key-0123456789"]) as rotated:
        assert rotated.get(f"/v1/shared/{token}/report.html").status_code == 404


def test_without_encryption_keys_share_links_work_on_their_own_process_only(
    engine: Engine, seeded: Seeded, auth: dict[str, str]
) -> None:
    with make_client(engine, encryption_keys=[]) as embedded:
        token = _token(embedded, seeded, auth)
        opened = embedded.get(f"/v1/shared/{token}/report.html")
    with make_client(engine, encryption_keys=[]) as another_process:
        elsewhere = another_process.get(f"/v1/shared/{token}/report.html")

    assert opened.status_code == 200
    assert elsewhere.status_code == 404


def test_the_share_token_never_reaches_the_logs(
    client: TestClient, seeded: Seeded, auth: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    token = _token(client, seeded, auth)
    expired = sign_share_token(
        derive_share_secret(ENCRYPTION_KEY),
        ShareGrant(seeded.workspace_id, seeded.board_id, int(time.time()) - 1),
    )

    assert client.get(f"/v1/shared/{token}/report.html").status_code == 200
    assert client.get(f"/v1/shared/{expired}/report.html").status_code == 410
    assert client.get(f"/v1/shared/{token}x/report.html").status_code == 404

    logged = capsys.readouterr()
    assert "/v1/shared/" in logged.out
    for secret in (token, expired, token[10:40], expired[10:40]):
        assert secret not in logged.out + logged.err
