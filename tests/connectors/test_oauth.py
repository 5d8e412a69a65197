"""The OAuth protocol parts every provider shares (authlib): PKCE S256, the authorization URL,
token requests with each way of authenticating the client."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from connectors.errors import AuthError
from connectors.http import Clock
from connectors.oauth import (
    TokenClient,
    authorization_url,
    code_challenge,
    new_code_verifier,
    request_token,
)

TOKEN = "https://auth.example/token"
CLOCK = Clock(time=lambda: 1_800_000_000.0)


def test_the_s256_challenge_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_fresh_verifiers_are_long_unreserved_and_never_repeat() -> None:
    verifiers = {new_code_verifier() for _ in range(50)}

    assert len(verifiers) == 50
    assert all(43 <= len(v) <= 128 and v.isalnum() for v in verifiers)


@pytest.mark.parametrize("verifier", ["", "x" * 42, "x" * 129, "a" * 42 + "ä", "a" * 43 + " "])
def test_a_verifier_outside_rfc_7636_has_no_challenge(verifier: str) -> None:
    with pytest.raises(ValueError, match="code_verifier"):
        code_challenge(verifier)


def test_the_authorization_url_keeps_the_endpoints_query_and_adds_the_challenge() -> None:
    verifier = new_code_verifier()

    url = authorization_url(
        "https://auth.example/authorize?tenant=7",
        "cid",
        "https://vsm.example/cb",
        "st&ate",
        scopes=("a:read", "b:read"),
        code_verifier=verifier,
    )

    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query == {
        "tenant": "7",
        "response_type": "code",
        "client_id": "cid",
        "redirect_uri": "https://vsm.example/cb",
        "scope": "a:read b:read",
        "state": "st&ate",
        "code_challenge": code_challenge(verifier),
        "code_challenge_method": "S256",
    }


@pytest.mark.anyio
@respx.mock
@pytest.mark.parametrize(
    ("auth", "body_keys", "query_keys", "basic"),
    [
        ("client_secret_post", {"grant_type", "code", "client_id", "client_secret"}, set(), False),
        ("client_secret_basic", {"grant_type", "code"}, set(), True),
        ("query", set(), {"grant_type", "code", "client_id", "client_secret"}, False),
    ],
)
async def test_token_requests_authenticate_the_client_where_the_provider_wants_it(
    auth: str, body_keys: set[str], query_keys: set[str], basic: bool
) -> None:
    route = respx.post(url__startswith=TOKEN).respond(json={"access_token": "at"})
    client = TokenClient("cid", "csecret", auth, "Acme")  # type: ignore[arg-type]

    async with httpx.AsyncClient() as http:
        payload = await request_token(
            http, TOKEN, client, "authorization_code", clock=CLOCK, code="c-1"
        )

    sent = route.calls.last.request
    assert payload == {"access_token": "at"}
    assert set(parse_qs(sent.content.decode())) == body_keys
    assert set(parse_qs(sent.url.query.decode())) == query_keys
    expected = "Basic " + base64.b64encode(b"cid:csecret").decode()
    assert (sent.headers.get("authorization") == expected) is basic


@pytest.mark.anyio
@respx.mock
async def test_a_refused_grant_names_the_oauth_error_and_is_sent_once() -> None:
    route = respx.post(TOKEN).respond(
        400, json={"error": "invalid_grant", "error_description": "code abc123 was used"}
    )
    client = TokenClient("cid", "csecret", "client_secret_post", "Acme")

    async with httpx.AsyncClient() as http:
        with pytest.raises(AuthError) as refused:
            await request_token(http, TOKEN, client, "authorization_code", clock=CLOCK, code="c")

    assert str(refused.value) == "Acme refused the authorization_code grant (invalid_grant)"
    assert route.call_count == 1
