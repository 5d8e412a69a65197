"""Miro OAuth 2.0: authorize link, code exchange, rotating refresh, revoke and token context.

The protocol parts are authlib's (:mod:`connectors.oauth`); this module adds Miro's quirks.

Facts (/work/shared/reference/miro-api.md §1): the authorize link has no ``scope`` (scopes are set
in the app); token calls are form posts to ``{api_url}/v1/oauth/token``; expiring-token apps get
``expires_in`` + ``refresh_token`` and every refresh rotates both tokens, non-expiring apps get
neither; ``team_id`` may arrive as a JSON number; revocation is ``POST /v2/oauth/revoke`` with a
JSON body (the v1 form that puts the token in the URL is deprecated as vulnerable).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.errors import ProviderError
from connectors.http import SYSTEM_CLOCK, Clock, json_object, request
from connectors.oauth import (
    TOKEN_POLICY,
    OAuthApp,
    TokenClient,
    authorization_url,
    request_token,
)

DEFAULT_API_URL = "https://api.miro.com"
DEFAULT_AUTH_URL = "https://miro.com/oauth/authorize"

_MAX_LIFETIME_S = 10 * 365 * 24 * 3600.0


MiroApp = OAuthApp
"""Miro's OAuth app (``api_url`` defaults to :data:`DEFAULT_API_URL` in the settings)."""


@dataclass(frozen=True, slots=True)
class MiroTokens:
    """A Miro token pair. ``expires_at`` is UNIX seconds, ``None`` for non-expiring tokens.

    ``repr`` hides both tokens so a logged instance leaks nothing.
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float | None
    scopes: tuple[str, ...] = ()
    team_id: str | None = None
    user_id: str | None = None

    def expires_within(self, seconds: float, now: float) -> bool:
        """True when the access token expires less than ``seconds`` after ``now``."""
        return self.expires_at is not None and self.expires_at - now < seconds


@dataclass(frozen=True, slots=True)
class MiroTokenInfo:
    """``GET /v1/oauth-token``: whose token it is and what it may do."""

    team_id: str | None
    team_name: str | None
    user_id: str | None
    user_name: str | None
    organization_id: str | None
    scopes: tuple[str, ...]


def authorize_url(app: MiroApp, state: str, *, team_id: str | None = None) -> str:
    """The Miro page to send the user's browser to; Miro redirects back with ``code``+``state``.

    No PKCE: Miro's OAuth reference documents no ``code_challenge`` (miro-api.md §1), and the
    client secret authenticates the exchange.
    """
    extra = {"team_id": team_id} if team_id else None
    return authorization_url(app.auth_url, app.client_id, app.redirect_uri, state, extra=extra)


async def exchange_code(
    http: httpx.AsyncClient, app: MiroApp, code: str, *, clock: Clock = SYSTEM_CLOCK
) -> MiroTokens:
    """Trade an authorization code (single use, valid 10 minutes) for tokens.

    The client credentials go in the form body, as Miro's reference asks. Raises
    :class:`AuthError` when Miro refuses the code or the client, ``TransientError`` /
    ``RateLimitedError`` as :func:`connectors.http.request` does.
    """
    client = TokenClient(app.client_id, app.client_secret, "client_secret_post", "Miro")
    payload = await request_token(
        http,
        _token_url(app),
        client,
        "authorization_code",
        clock=clock,
        redirect_uri=app.redirect_uri,
        code=code,
    )
    return tokens_from_response(payload, issued_at=clock.time())


async def refresh(
    http: httpx.AsyncClient, app: MiroApp, refresh_token: str, *, clock: Clock = SYSTEM_CLOCK
) -> MiroTokens:
    """Use a refresh token once; both returned tokens replace the old pair, which is now dead.

    The caller stores the new pair atomically before using it and serialises refreshes per
    connection. ``invalid_grant`` (reused, expired or revoked refresh token) raises
    :class:`AuthError`: the user must connect again.
    """
    # Miro's reference and its official clients send all four in the query string, not the
    # body (https://developers.miro.com/v1.0/reference/get-new-access-token-using-refresh-token;
    # miro-api.md §1). Only the URL's path is ever logged (connectors.http).
    client = TokenClient(app.client_id, app.client_secret, "query", "Miro")
    payload = await request_token(
        http, _token_url(app), client, "refresh_token", clock=clock, refresh_token=refresh_token
    )
    return tokens_from_response(payload, issued_at=clock.time())


async def revoke(http: httpx.AsyncClient, app: MiroApp, access_token: str) -> bool:
    """Revoke the token (and with it the refresh token) at Miro.

    Returns ``False`` when Miro says the token was already invalid (the goal is met either way).
    Miro's v2 revocation takes a JSON body, not RFC 7009's form (miro-api.md §1).
    """
    response = await request(
        http,
        "POST",
        f"{app.api_url.rstrip('/')}/v2/oauth/revoke",
        json={
            "accessToken": access_token,
            "clientId": app.client_id,
            "clientSecret": app.client_secret,
        },
        policy=TOKEN_POLICY,
        accept=(400, 401),
    )
    return response.status_code < 400


async def get_token_info(http: httpx.AsyncClient, api_url: str, access_token: str) -> MiroTokenInfo:
    """``GET /v1/oauth-token``: team, user, organization and scopes of ``access_token``."""
    response = await request(
        http,
        "GET",
        f"{api_url.rstrip('/')}/v1/oauth-token",
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        policy=TOKEN_POLICY,
    )
    body = json_object(response)
    team, user, org = (_object(body.get(key)) for key in ("team", "user", "organization"))
    return MiroTokenInfo(
        team_id=_id(team.get("id")),
        team_name=_text(team.get("name")),
        user_id=_id(user.get("id")),
        user_name=_text(user.get("name")),
        organization_id=_id(org.get("id")),
        scopes=_scope_list(body.get("scopes")),
    )


def _token_url(app: MiroApp) -> str:
    return f"{app.api_url.rstrip('/')}/v1/oauth/token"


def tokens_from_response(payload: Mapping[str, Any], *, issued_at: float) -> MiroTokens:
    """Parse a token endpoint body; ``team_id``/``user_id`` become strings whatever JSON type."""
    access = payload.get("access_token")
    if not isinstance(access, str) or not access:
        raise ProviderError("Miro token response has no access_token")
    refresh_token = payload.get("refresh_token")
    scope = payload.get("scope")
    return MiroTokens(
        access_token=access,
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
        expires_at=_lifetime_end(payload.get("expires_in"), issued_at),
        scopes=tuple(scope.split()) if isinstance(scope, str) else _scope_list(scope),
        team_id=_id(payload.get("team_id")),
        user_id=_id(payload.get("user_id")),
    )


def _lifetime_end(expires_in: object, issued_at: float) -> float | None:
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float | str):
        return None
    try:
        seconds = float(expires_in)
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds <= 0 or seconds > _MAX_LIFETIME_S:
        return None
    return issued_at + seconds


def _id(value: object) -> str | None:
    # Miro ids are 64-bit numbers; some bodies send them unquoted. Keep them as text.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value and len(value) <= 64:
        return value
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _scope_list(value: object) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()
