"""Mural OAuth 2.0: authorization code with PKCE (S256), code exchange and rotating refresh.

The protocol parts are authlib's (:mod:`connectors.oauth`). Facts (mural-api.md §1): the
authorize URL takes ``code_challenge`` / ``code_challenge_method=S256``; the code exchange posts
the client credentials in the form body; the refresh posts ``grant_type=refresh_token`` with the
client credentials as HTTP Basic (body credentials were seen refused with ``invalid_client``);
every refresh returns a new refresh token, so the caller must store the new pair and never reuse
the old refresh token. Token responses carry no ``scope``; the access token is a JWT whose
claims may name them.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.errors import ProviderError
from connectors.http import SYSTEM_CLOCK, Clock
from connectors.oauth import (
    TokenClient,
    authorization_url,
    code_challenge,
    new_code_verifier,
    request_token,
)

DEFAULT_SCOPES = ("workspaces:read", "rooms:read", "murals:read", "identity:read")

# A JWT we only peek into for ``exp``/``scopes``; anything larger is not a token we trust.
_MAX_TOKEN_CHARS = 16_384
# Lifetimes beyond this are treated as nonsense from the provider, not as "never expires".
_MAX_LIFETIME_S = 10 * 365 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class MuralTokens:
    """A Mural token pair; the same fields as ``MiroTokens`` where they mean the same.

    Times are UNIX seconds, ``None`` when unknown (an unknown lifetime is handled by refreshing
    on the first 401). ``repr`` hides both tokens so a logged instance leaks nothing.
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float | None
    scopes: tuple[str, ...] = ()
    refresh_expires_at: float | None = None

    def expires_within(self, seconds: float, now: float) -> bool:
        """True when the access token expires less than ``seconds`` after ``now``."""
        return self.expires_at is not None and self.expires_at - now < seconds


def new_pkce() -> tuple[str, str]:
    """A fresh ``(code_verifier, code_challenge)`` pair for S256 (RFC 7636 §4.1-4.2)."""
    verifier = new_code_verifier()
    return verifier, code_challenge(verifier)


def authorize_url(
    auth_url: str,
    client_id: str,
    redirect_uri: str,
    state: str,
    code_verifier: str,
    scopes: tuple[str, ...] = DEFAULT_SCOPES,
) -> str:
    """The URL to send the user's browser to, with the S256 challenge of ``code_verifier``.
    ``auth_url`` is Mural's authorization endpoint (``.../authorization/oauth2/``, trailing
    slash kept as given)."""
    return authorization_url(
        auth_url, client_id, redirect_uri, state, scopes=scopes, code_verifier=code_verifier
    )


async def exchange_code(
    http: httpx.AsyncClient,
    token_url: str,
    client_id: str,
    client_secret: str,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> MuralTokens:
    """Trade an authorization code and its PKCE ``code_verifier`` for tokens (client
    credentials in the form body, as Mural's sample app posts them).

    Raises ``AuthError`` when Mural refuses (bad/used code, wrong verifier, bad client),
    ``RateLimitedError``/``TransientError`` as :func:`connectors.http.request` does. Repeated
    only when Mural surely did not receive it: a code is single use.
    """
    client = TokenClient(client_id, client_secret, "client_secret_post", "Mural")
    payload = await request_token(
        http,
        token_url,
        client,
        "authorization_code",
        clock=clock,
        redirect_uri=redirect_uri,
        code=code,
        code_verifier=code_verifier,
    )
    return tokens_from_response(payload, issued_at=clock.time())


async def refresh(
    http: httpx.AsyncClient,
    refresh_url: str,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    *,
    clock: Clock = SYSTEM_CLOCK,
) -> MuralTokens:
    """Use a refresh token once and get a new pair (Mural rotates the refresh token).

    The client credentials go as HTTP Basic: body credentials were seen refused with
    ``invalid_client`` (mural-api.md §1.4). The caller must persist the returned pair before
    using it and must serialise refreshes per connection: the old refresh token is dead once
    this returns. Raises ``AuthError`` when the refresh is refused (``invalid_grant``, revoked,
    reused token: the user must re-consent), ``RateLimitedError``/``TransientError`` as
    :func:`connectors.http.request` does.
    """
    client = TokenClient(client_id, client_secret, "client_secret_basic", "Mural")
    payload = await request_token(
        http, refresh_url, client, "refresh_token", clock=clock, refresh_token=refresh_token
    )
    tokens = tokens_from_response(payload, issued_at=clock.time())
    if tokens.refresh_token is None:
        # Mural always rotates; should a response ever omit the new token, the old one is the
        # only refresh token there is and dropping it would force a re-consent.
        return MuralTokens(
            access_token=tokens.access_token,
            refresh_token=refresh_token,
            expires_at=tokens.expires_at,
            refresh_expires_at=_jwt_exp(refresh_token),
            scopes=tokens.scopes,
        )
    return tokens


def tokens_from_response(payload: Mapping[str, Any], *, issued_at: float) -> MuralTokens:
    """Parse a token endpoint JSON body. Lifetime from ``expires_in``, else the JWT ``exp``.

    Raises ``ProviderError`` when there is no usable access token.
    """
    access = payload.get("access_token")
    if not isinstance(access, str) or not access or len(access) > _MAX_TOKEN_CHARS:
        raise ProviderError("Mural token response has no access_token", status=200)
    refresh_token = payload.get("refresh_token")
    if not isinstance(refresh_token, str) or not refresh_token:
        refresh_token = None
    expires_at = _lifetime_end(payload.get("expires_in"), issued_at)
    if expires_at is None:
        expires_at = _jwt_exp(access)
    return MuralTokens(
        access_token=access,
        refresh_token=refresh_token,
        expires_at=expires_at,
        refresh_expires_at=None if refresh_token is None else _jwt_exp(refresh_token),
        scopes=_scopes(payload, access),
    )


def _lifetime_end(expires_in: object, issued_at: float) -> float | None:
    if isinstance(expires_in, bool):
        return None
    if isinstance(expires_in, str):
        try:
            expires_in = float(expires_in)
        except ValueError:
            return None
    if not isinstance(expires_in, int | float):
        return None
    seconds = float(expires_in)
    if not math.isfinite(seconds) or seconds <= 0 or seconds > _MAX_LIFETIME_S:
        return None
    return issued_at + seconds


def _jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (we only read hints from our own token); {} if not one."""
    if len(token) > _MAX_TOKEN_CHARS:
        return {}
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    segment = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(segment.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _jwt_exp(token: str) -> float | None:
    exp = _jwt_claims(token).get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    value = float(exp)
    return value if math.isfinite(value) and value > 0 else None


def _scopes(payload: Mapping[str, Any], access_token: str) -> tuple[str, ...]:
    scope = payload.get("scope")
    if isinstance(scope, str) and scope.strip():
        return tuple(scope.split())
    claims = _jwt_claims(access_token)
    for key in ("scopes", "scope"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            return tuple(value.split())
        if isinstance(value, list):
            return tuple(s for s in value[:100] if isinstance(s, str) and s)
    return ()
