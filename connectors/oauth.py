"""OAuth 2.0 protocol parts every provider shares, built with authlib: the authorization URL
(RFC 6749 §4.1.1), PKCE S256 (RFC 7636), token request bodies and client authentication.

authlib's protocol helpers build what is sent; the sending stays with
:func:`connectors.http.request` (our retry policy, never re-sending a single-use code or refresh
token whose fate is unknown, only the URL's path in logs). authlib's own HTTP clients are not
used for that reason. What a provider does differently (Miro's refresh in the query string,
Mural's Basic credentials on refresh) is the provider's ``oauth`` module's business.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from connectors.errors import AuthError
from connectors.http import Clock, RetryPolicy, json_object, request

ClientAuthMethod = Literal["client_secret_post", "client_secret_basic"]

# RFC 7636 §4.1: 43..128 characters of [A-Za-z0-9-._~]; 64 random letters and digits carry
# about 380 bits.
VERIFIER_LENGTH = 64
CODE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# A code or refresh token is single use: never re-send one whose fate is unknown.
TOKEN_POLICY = RetryPolicy(max_tries=3, max_total_wait=10.0, timeout=20.0)
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


@dataclass(frozen=True, slots=True)
class OAuthApp:
    """An OAuth app registered at a provider, as the composition root reads it from settings.

    ``auth_url`` is the provider's authorization endpoint, ``api_url`` its REST API base; where
    the token endpoints are follows from them in each provider's ``oauth`` module.
    """

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    api_url: str
    auth_url: str


def new_code_verifier() -> str:
    """A fresh PKCE ``code_verifier`` (RFC 7636 §4.1), kept server-side with the state."""
    return str(generate_token(VERIFIER_LENGTH))


def code_challenge(verifier: str) -> str:
    """The S256 ``code_challenge`` of ``verifier``: base64url(SHA-256), no padding."""
    if not CODE_VERIFIER.fullmatch(verifier):
        raise ValueError("a PKCE code_verifier is 43..128 characters of [A-Za-z0-9-._~]")
    return str(create_s256_code_challenge(verifier))


def authorization_url(
    endpoint: str,
    client_id: str,
    redirect_uri: str,
    state: str,
    *,
    scopes: tuple[str, ...] = (),
    code_verifier: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> str:
    """The authorization request URL (``response_type=code``); with ``code_verifier`` it
    carries the S256 challenge. ``extra`` adds provider parameters (Miro's ``team_id``)."""
    params: dict[str, str] = dict(extra or {})
    if code_verifier is not None:
        params["code_challenge"] = code_challenge(code_verifier)
        params["code_challenge_method"] = "S256"
    return str(
        prepare_grant_uri(
            endpoint,
            client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=list(scopes) or None,
            state=state,
            **params,
        )
    )


def token_body(grant_type: str, *, redirect_uri: str | None = None, **fields: str | None) -> str:
    """An ``application/x-www-form-urlencoded`` token request body; empty fields are left out."""
    present = {key: value for key, value in fields.items() if value}
    return str(prepare_token_request(grant_type, redirect_uri=redirect_uri, **present))


def authenticate_client(
    method: ClientAuthMethod, client_id: str, client_secret: str, body: str
) -> tuple[dict[str, str], str]:
    """The headers and body of a token request that authenticates the client with ``method``
    (RFC 6749 §2.3.1: HTTP Basic, or the credentials in the body)."""
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    _, headers, body = ClientAuth(client_id, client_secret, method).prepare(
        "POST", "", headers, body
    )
    return dict(headers), str(body)


@dataclass(frozen=True, slots=True)
class TokenClient:
    """Who asks a token endpoint and how it proves it: ``auth`` is an RFC 6749 §2.3.1 method,
    or ``"query"`` for a provider that wants every field in the query string (Miro's
    refresh). ``label`` names the provider in errors."""

    client_id: str
    client_secret: str = field(repr=False)
    auth: ClientAuthMethod | Literal["query"]
    label: str


async def request_token(
    http: httpx.AsyncClient,
    url: str,
    client: TokenClient,
    grant_type: str,
    *,
    clock: Clock,
    redirect_uri: str | None = None,
    **fields: str,
) -> dict[str, Any]:
    """POST one token request (``grant_type`` with ``fields``) and return its JSON object.

    A refusal (400, 401, 403) raises :class:`AuthError` naming only the OAuth ``error`` code
    (the description is provider text we do not echo); the request is not repeated unless the
    provider surely did not receive it (a code or refresh token is single use).
    """
    body: str | None = token_body(grant_type, redirect_uri=redirect_uri, **fields)
    params: dict[str, str] | None = None
    if client.auth == "query":
        params = dict(parse_qsl(body or ""))
        params.update(client_id=client.client_id, client_secret=client.client_secret)
        headers, body = {"Accept": "application/json"}, None
    else:
        headers, body = authenticate_client(
            client.auth, client.client_id, client.client_secret, body or ""
        )
    response = await request(
        http,
        "POST",
        url,
        params=params,
        content=body.encode("ascii") if body is not None else None,
        headers=headers,
        policy=TOKEN_POLICY,
        clock=clock,
        idempotent=False,
        accept=(400, 401, 403),
    )
    if response.status_code >= 400:
        raise AuthError(
            f"{client.label} refused the {grant_type} grant ({error_code(response)})",
            status=response.status_code,
        )
    return json_object(response)


def error_code(response: httpx.Response) -> str:
    """The OAuth ``error`` (or Miro's ``code``) of a refusal, only if it looks like a code."""
    try:
        body = response.json()
    except ValueError:
        return "no error code"
    if isinstance(body, dict):
        for key in ("error", "code"):
            value = body.get(key)
            if isinstance(value, str) and _ERROR_CODE.fullmatch(value):
                return value
    return "no error code"
