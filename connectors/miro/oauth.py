"""Miro OAuth 2.0: authorize link, code exchange, rotating refresh, revoke and token context.

Facts (/work/shared/reference/miro-api.md §1): the authorize link has no ``scope`` (scopes are set
in the app); token calls are form posts to ``{api_url}/v1/oauth/token``; expiring-token apps get
``expires_in`` + ``refresh_token`` and every refresh rotates both tokens, non-expiring apps get
neither; ``team_id`` may arrive as a JSON number; revocation is ``POST /v2/oauth/revoke`` with a
JSON body (the v1 form that puts the token in the URL is deprecated as vulnerable).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from connectors.errors import AuthError, ProviderError
from connectors.http import SYSTEM_CLOCK, Clock, RetryPolicy, json_object, request

DEFAULT_API_URL = "https://api.miro.com"
DEFAULT_AUTH_URL = "https://miro.com/oauth/authorize"

_ERROR_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_MAX_LIFETIME_S = 10 * 365 * 24 * 3600.0
# A code or refresh token is single use: never re-send one whose fate is unknown.
_TOKEN_POLICY = RetryPolicy(max_tries=3, max_total_wait=10.0, timeout=20.0)


@dataclass(frozen=True, slots=True)
class MiroApp:
    """The OAuth app registered at Miro, as the composition root reads it from settings."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    api_url: str = DEFAULT_API_URL
    auth_url: str = DEFAULT_AUTH_URL


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
    """The Miro page to send the user's browser to; Miro redirects back with ``code``+``state``."""
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": app.redirect_uri,
        "state": state,
    }
    if team_id:
        params["team_id"] = team_id
    separator = "&" if "?" in app.auth_url else "?"
    return f"{app.auth_url}{separator}{urlencode(params)}"


async def exchange_code(
    http: httpx.AsyncClient, app: MiroApp, code: str, *, clock: Clock = SYSTEM_CLOCK
) -> MiroTokens:
    """Trade an authorization code (single use, valid 10 minutes) for tokens.

    Raises :class:`AuthError` when Miro refuses the code or the client, ``TransientError`` /
    ``RateLimitedError`` as :func:`connectors.http.request` does.
    """
    form = {
        "grant_type": "authorization_code",
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "code": code,
        "redirect_uri": app.redirect_uri,
    }
    return await _token_call(http, app, form, clock)


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
    query = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": app.client_id,
        "client_secret": app.client_secret,
    }
    return await _token_call(http, app, query, clock, in_query=True)


async def revoke(http: httpx.AsyncClient, app: MiroApp, access_token: str) -> bool:
    """Revoke the token (and with it the refresh token) at Miro.

    Returns ``False`` when Miro says the token was already invalid (the goal is met either way).
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
        policy=_TOKEN_POLICY,
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
        policy=_TOKEN_POLICY,
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


async def _token_call(
    http: httpx.AsyncClient,
    app: MiroApp,
    form: Mapping[str, str],
    clock: Clock,
    *,
    in_query: bool = False,
) -> MiroTokens:
    """POST ``form`` to the token endpoint: as a form body, or ``in_query`` (the refresh)."""
    response = await request(
        http,
        "POST",
        f"{app.api_url.rstrip('/')}/v1/oauth/token",
        params=form if in_query else None,
        data=None if in_query else form,
        headers={"Accept": "application/json"},
        policy=_TOKEN_POLICY,
        clock=clock,
        idempotent=False,
        accept=(400, 401),
    )
    if response.status_code in (400, 401):
        raise AuthError(
            f"Miro refused the {form['grant_type']} grant ({_error_code(response)})",
            status=response.status_code,
        )
    return tokens_from_response(json_object(response), issued_at=clock.time())


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


def _error_code(response: httpx.Response) -> str:
    """The OAuth ``error`` (or Miro ``code``) of a refusal, only if it looks like a code."""
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
