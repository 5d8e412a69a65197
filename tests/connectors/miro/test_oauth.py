"""Miro OAuth: authorize link, code exchange, rotating refresh, revoke and token context."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from connectors.errors import AuthError, TransientError
from connectors.http import Clock
from connectors.miro.oauth import (
    MiroApp,
    MiroTokens,
    authorize_url,
    exchange_code,
    get_token_info,
    refresh,
    revoke,
)
from testkit.standins.miro_server import MiroStandIn

pytestmark = pytest.mark.anyio

API = "https://api.miro.test"
APP = MiroApp(
    client_id="cid",
    client_secret="csecret-do-not-leak",
    redirect_uri="https://vsm.example/v1/oauth/miro/callback",
    api_url=API,
    auth_url="https://miro.test/oauth/authorize",
)
NOW = 1_800_000_000.0
CLOCK = Clock(time=lambda: NOW)


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def test_the_authorize_url_carries_the_app_state_and_no_scope() -> None:
    url = authorize_url(APP, "st&ate=1", team_id="3458764500000099")

    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == APP.auth_url
    assert query == {
        "response_type": "code",
        "client_id": "cid",
        "redirect_uri": APP.redirect_uri,
        "state": "st&ate=1",
        "team_id": "3458764500000099",
    }


@respx.mock
async def test_the_code_exchange_posts_a_form_and_keeps_a_numeric_team_id_as_text() -> None:
    route = respx.post(f"{API}/v1/oauth/token").mock(
        return_value=httpx.Response(
            200,
            json={
                "access_token": "at-1",
                "token_type": "bearer",
                "scope": "boards:read identity:read",
                "user_id": "3458764500000001",
                "team_id": 3074457358607431473,
                "expires_in": 3599,
                "refresh_token": "rt-1",
            },
        )
    )

    async with httpx.AsyncClient() as http:
        tokens = await exchange_code(http, APP, "code-1", clock=CLOCK)

    assert tokens == MiroTokens(
        access_token="at-1",
        refresh_token="rt-1",
        expires_at=NOW + 3599,
        scopes=("boards:read", "identity:read"),
        team_id="3074457358607431473",
        user_id="3458764500000001",
    )
    sent = route.calls.last.request
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form(sent) == {
        "grant_type": "authorization_code",
        "client_id": "cid",
        "client_secret": "csecret-do-not-leak",
        "code": "code-1",
        "redirect_uri": APP.redirect_uri,
    }
    assert "code-1" not in str(sent.url)


@respx.mock
async def test_a_non_expiring_token_has_no_refresh_token_and_no_expiry() -> None:
    respx.post(f"{API}/v1/oauth/token").mock(
        return_value=httpx.Response(
            200, json={"access_token": "at", "scope": "boards:read", "team_id": "9", "user_id": "1"}
        )
    )

    async with httpx.AsyncClient() as http:
        tokens = await exchange_code(http, APP, "c", clock=CLOCK)

    assert (tokens.refresh_token, tokens.expires_at) == (None, None)
    assert not tokens.expires_within(10**9, NOW)


@respx.mock
async def test_refresh_sends_its_four_fields_in_the_query_and_returns_the_rotated_pair() -> None:
    route = respx.post(f"{API}/v1/oauth/token").mock(
        return_value=httpx.Response(
            200,
            json={"access_token": "at-2", "refresh_token": "rt-2", "expires_in": 3599, "scope": ""},
        )
    )

    async with httpx.AsyncClient() as http:
        tokens = await refresh(http, APP, "rt-1", clock=CLOCK)

    assert (tokens.access_token, tokens.refresh_token) == ("at-2", "rt-2")
    assert tokens.expires_within(120, NOW + 3500)
    sent = route.calls.last.request
    assert dict(sent.url.params) == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-1",
        "client_id": APP.client_id,
        "client_secret": APP.client_secret,
    }
    assert sent.content == b""


@respx.mock
@pytest.mark.parametrize("status", [400, 401])
async def test_invalid_grant_is_an_auth_error_that_names_no_secret(status: int) -> None:
    respx.post(f"{API}/v1/oauth/token").mock(
        return_value=httpx.Response(status, json={"error": "invalid_grant"})
    )

    async with httpx.AsyncClient() as http:
        with pytest.raises(AuthError, match="invalid_grant") as raised:
            await refresh(http, APP, "rt-secret-value", clock=CLOCK)

    message = str(raised.value)
    assert "rt-secret-value" not in message
    assert APP.client_secret not in message


@respx.mock
async def test_a_token_call_is_not_repeated_after_a_server_error() -> None:
    route = respx.post(f"{API}/v1/oauth/token").mock(return_value=httpx.Response(502))

    async with httpx.AsyncClient() as http:
        with pytest.raises(TransientError):
            await refresh(http, APP, "rt-1", clock=CLOCK)

    assert route.call_count == 1  # a second try could burn the single-use refresh token


@respx.mock
@pytest.mark.parametrize(("status", "revoked"), [(204, True), (400, False)])
async def test_revoke_posts_json_to_v2_and_reports_whether_it_revoked(
    status: int, revoked: bool
) -> None:
    route = respx.post(f"{API}/v2/oauth/revoke").mock(return_value=httpx.Response(status))

    async with httpx.AsyncClient() as http:
        assert await revoke(http, APP, "at-1") is revoked

    sent = route.calls.last.request
    assert json.loads(sent.content) == {
        "accessToken": "at-1",
        "clientId": "cid",
        "clientSecret": "csecret-do-not-leak",
    }
    assert "at-1" not in str(sent.url)


@respx.mock
async def test_token_info_reads_team_user_and_scopes() -> None:
    route = respx.get(f"{API}/v1/oauth-token").mock(
        return_value=httpx.Response(
            200,
            json={
                "type": "oauth_token",
                "scopes": ["boards:read"],
                "team": {"type": "team", "name": "Design", "id": 3458764500000099},
                "user": {"type": "user", "name": "Ada L", "id": "3458764500000001"},
                "createdBy": {"type": "user", "name": "Ada L", "id": "3458764500000001"},
            },
        )
    )

    async with httpx.AsyncClient() as http:
        info = await get_token_info(http, API, "at-1")

    assert (info.team_id, info.team_name, info.user_id) == (
        "3458764500000099",
        "Design",
        "3458764500000001",
    )
    assert info.organization_id is None
    assert info.scopes == ("boards:read",)
    assert route.calls.last.request.headers["authorization"] == "Bearer at-1"


@respx.mock
async def test_a_revoked_token_is_refused_by_token_info() -> None:
    respx.get(f"{API}/v1/oauth-token").mock(return_value=httpx.Response(401))

    async with httpx.AsyncClient() as http:
        with pytest.raises(AuthError):
            await get_token_info(http, API, "revoked")


def stand_in() -> tuple[MiroStandIn, MiroApp, httpx.AsyncClient]:
    """The stand-in Miro, an app registered there, and a client that talks to it in-process."""
    miro = MiroStandIn(
        redirect_uri=APP.redirect_uri, client_id="cid", client_secret=APP.client_secret
    )
    app = MiroApp(
        "cid",
        APP.client_secret,
        APP.redirect_uri,
        api_url="http://miro.test",
        auth_url=APP.auth_url,
    )
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=miro.app()), base_url="http://miro.test"
    )
    return miro, app, http


async def test_a_used_refresh_token_is_refused_by_the_stand_in() -> None:
    miro, app, client = stand_in()
    async with client as http:
        first = await exchange_code(http, app, miro.issue_code())
        assert first.refresh_token is not None
        second = await refresh(http, app, first.refresh_token)

        with pytest.raises(AuthError, match="invalid_grant"):
            await refresh(http, app, first.refresh_token)
        assert second.access_token != first.access_token
        assert second.team_id == miro.team_id


async def test_the_stand_in_refuses_refresh_fields_in_the_body_as_miro_does() -> None:
    miro, app, client = stand_in()
    async with client as http:
        first = await exchange_code(http, app, miro.issue_code())
        assert first.refresh_token is not None
        in_body = await http.post(
            "/v1/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": first.refresh_token,
                "client_id": "cid",
                "client_secret": APP.client_secret,
            },
        )
        info = await get_token_info(http, "http://miro.test", first.access_token)

    assert in_body.status_code == 400
    assert info.organization_id == miro.organization_id
