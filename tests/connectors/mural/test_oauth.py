"""Mural OAuth: PKCE, code exchange, rotating refresh with Basic client auth, refused grants."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from connectors.errors import AuthError, RateLimitedError, TransientError
from connectors.http import Clock
from connectors.mural.oauth import (
    DEFAULT_SCOPES,
    MuralTokens,
    authorize_url,
    exchange_code,
    new_pkce,
    refresh,
)
from testkit.standins.mural_server import MuralStandIn

AUTH = "https://app.mural.co/api/public/v1/authorization/oauth2/"
TOKEN = AUTH + "token"
REFRESH = AUTH + "refresh"
REDIRECT = "https://vsm.example/v1/oauth/mural/callback"


def _jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256'})}.{part(claims)}.c2ln"


def _form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def test_pkce_challenge_is_the_unpadded_base64url_sha256_of_a_fresh_verifier() -> None:
    verifier, challenge = new_pkce()
    other_verifier, _ = new_pkce()

    digest = hashlib.sha256(verifier.encode()).digest()
    assert challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert 43 <= len(verifier) <= 128
    assert verifier != other_verifier


def test_authorize_url_asks_for_a_code_with_an_s256_challenge_and_the_read_scopes() -> None:
    verifier, challenge = new_pkce()

    url = authorize_url(AUTH, "client-1", REDIRECT, "state-xyz", verifier)

    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert url.startswith(AUTH + "?")
    assert query == {
        "client_id": "client-1",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": " ".join(DEFAULT_SCOPES),
        "state": "state-xyz",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    assert verifier not in url


def test_a_verifier_outside_rfc_7636_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match=r"43\.\.128"):
        authorize_url(AUTH, "client-1", REDIRECT, "state-xyz", "too-short")


@pytest.mark.anyio
@respx.mock
async def test_code_exchange_sends_the_verifier_and_reads_the_lifetime_from_expires_in() -> None:
    route = respx.post(TOKEN).respond(
        json={"access_token": "acc-1", "refresh_token": "ref-1", "expires_in": 900}
    )

    async with httpx.AsyncClient() as http:
        tokens = await exchange_code(
            http,
            TOKEN,
            "client-1",
            "s3cret",
            "code-9",
            REDIRECT,
            "verifier-7",
            clock=Clock(time=lambda: 1000.0),
        )

    assert _form(route.calls.last.request) == {
        "grant_type": "authorization_code",
        "code": "code-9",
        "redirect_uri": REDIRECT,
        "client_id": "client-1",
        "client_secret": "s3cret",
        "code_verifier": "verifier-7",
    }
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_at) == (
        "acc-1",
        "ref-1",
        1900.0,
    )


@pytest.mark.anyio
@respx.mock
async def test_without_expires_in_the_lifetime_and_scopes_come_from_the_jwt() -> None:
    access = _jwt({"exp": 1_800_000_000, "scopes": ["murals:read", "identity:read"]})
    respx.post(TOKEN).respond(json={"access_token": access, "refresh_token": _jwt({"exp": 5})})

    async with httpx.AsyncClient() as http:
        tokens = await exchange_code(http, TOKEN, "c", "s", "code", REDIRECT, "v")

    assert tokens.expires_at == 1_800_000_000
    assert tokens.refresh_expires_at == 5
    assert tokens.scopes == ("murals:read", "identity:read")


@pytest.mark.anyio
@respx.mock
async def test_refresh_sends_basic_client_auth_and_returns_the_rotated_pair() -> None:
    route = respx.post(REFRESH).respond(
        json={"access_token": "acc-2", "refresh_token": "ref-2", "expires_in": 900}
    )

    async with httpx.AsyncClient() as http:
        tokens = await refresh(
            http, REFRESH, "client-1", "s3cret", "ref-1", clock=Clock(time=lambda: 0.0)
        )

    request = route.calls.last.request
    expected = "Basic " + base64.b64encode(b"client-1:s3cret").decode()
    assert request.headers["authorization"] == expected
    assert _form(request) == {"grant_type": "refresh_token", "refresh_token": "ref-1"}
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_at) == (
        "acc-2",
        "ref-2",
        900.0,
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "error"),
    [(400, "invalid_grant"), (401, "invalid_client"), (400, "invalid_request"), (403, None)],
)
@respx.mock
async def test_a_refused_refresh_is_an_auth_error_that_names_no_token(
    status: int, error: str | None
) -> None:
    body = {"error": error, "error_description": "bad ref-SECRET"} if error else {}
    respx.post(REFRESH).respond(status, json=body)

    async with httpx.AsyncClient() as http:
        with pytest.raises(AuthError) as caught:
            await refresh(http, REFRESH, "client-1", "s3cret", "ref-SECRET")

    assert caught.value.status == status
    assert "SECRET" not in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.anyio
@respx.mock
async def test_a_rate_limited_token_call_says_how_long_to_wait_from_the_reset_header() -> None:
    reset = int(time.time()) + 30
    respx.post(REFRESH).respond(429, headers={"x-ratelimit-reset": str(reset)})

    async with httpx.AsyncClient() as http:
        with pytest.raises(RateLimitedError) as caught:
            await refresh(http, REFRESH, "c", "s", "r")

    assert 25 <= caught.value.retry_after <= 30


@pytest.mark.anyio
@pytest.mark.parametrize(
    "side_effect", [httpx.Response(503), httpx.ConnectError("reset"), httpx.ReadTimeout("slow")]
)
@respx.mock
async def test_server_errors_and_network_failures_are_transient(side_effect: object) -> None:
    route = respx.post(TOKEN).mock(side_effect=lambda request: _raise_or_return(side_effect))

    async def no_sleep(seconds: float) -> None:
        return None

    async with httpx.AsyncClient() as http:
        with pytest.raises(TransientError):
            await exchange_code(
                http, TOKEN, "c", "s", "code", REDIRECT, "v", clock=Clock(sleep=no_sleep)
            )

    # A code is single use: only a connection that never reached Mural is tried again.
    assert route.call_count == (3 if isinstance(side_effect, httpx.ConnectError) else 1)


def _raise_or_return(outcome: object) -> httpx.Response:
    if isinstance(outcome, Exception):
        raise outcome
    assert isinstance(outcome, httpx.Response)
    return outcome


def test_token_repr_shows_no_token() -> None:
    tokens = MuralTokens("acc-SECRET", "ref-SECRET", expires_at=10.0)

    assert "SECRET" not in repr(tokens)


@pytest.mark.anyio
async def test_full_dance_against_the_stand_in_rotates_and_kills_the_old_refresh_token(
    mural: MuralStandIn, mural_url: str
) -> None:
    base = mural_url + mural.prefix + "/authorization/oauth2/"
    redirect = mural.redirect_uris[0]
    verifier, _ = new_pkce()
    async with httpx.AsyncClient() as http:
        consent = await http.get(authorize_url(base, mural.client_id, redirect, "st-1", verifier))
        callback = {
            k: v[0] for k, v in parse_qs(urlsplit(consent.headers["location"]).query).items()
        }
        first = await exchange_code(
            http,
            base + "token",
            mural.client_id,
            mural.client_secret,
            callback["code"],
            redirect,
            verifier,
        )
        second = await refresh(
            http, base + "refresh", mural.client_id, mural.client_secret, first.refresh_token or ""
        )
        with pytest.raises(AuthError):
            await refresh(
                http,
                base + "refresh",
                mural.client_id,
                mural.client_secret,
                first.refresh_token or "",
            )
        me = await http.get(
            mural_url + mural.prefix + "/users/me",
            headers={"Authorization": f"Bearer {second.access_token}"},
        )

    assert callback["state"] == "st-1"
    assert second.refresh_token != first.refresh_token
    assert set(second.scopes) == set(DEFAULT_SCOPES)
    assert me.json()["value"]["id"] == "u1"


@pytest.mark.anyio
async def test_the_stand_in_refuses_a_code_exchanged_with_the_wrong_verifier(
    mural: MuralStandIn, mural_url: str
) -> None:
    base = mural_url + mural.prefix + "/authorization/oauth2/"
    redirect = mural.redirect_uris[0]
    _, challenge = new_pkce()
    wrong_verifier, _ = new_pkce()
    async with httpx.AsyncClient() as http:
        consent = await http.get(authorize_url(base, mural.client_id, redirect, "s", challenge))
        code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
        with pytest.raises(AuthError):
            await exchange_code(
                http,
                base + "token",
                mural.client_id,
                mural.client_secret,
                code,
                redirect,
                wrong_verifier,
            )
