"""The browser session: a signed cookie holding the API key's id and a CSRF token.

The cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it)
and signed with itsdangerous under the app's signing key; it carries no key secret. Every
request re-checks the key, so revoking the key ends its browser sessions. Forms that change
something carry the session's CSRF token and must come from our own origin.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session

from service.usecases.web_login import SignedInKey, active_key

COOKIE = "vsm_session"
LOGIN_CSRF_COOKIE = "vsm_login_csrf"
MAX_AGE_S = 12 * 3600
_SALT = "vsm-web-session"


@dataclass(frozen=True, slots=True)
class WebSession:
    key: SignedInKey
    csrf: str


def _serializer(request: Request) -> URLSafeTimedSerializer:
    # The app factory's signing key: derived from VSM_ENCRYPTION_KEYS, so all API processes
    # accept one cookie; the salt keeps these signatures apart from share links.
    secret: bytes = request.app.state.runtime.share_secret
    return URLSafeTimedSerializer(secret, salt=_SALT)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def start_session(request: Request, response: Response, key: SignedInKey) -> None:
    """Set the session cookie for ``key`` on ``response`` (a fresh CSRF token each sign-in)."""
    value = _serializer(request).dumps({"k": key.key_id, "c": secrets.token_urlsafe(24)})
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_AGE_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/web")


def end_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


def current_session(request: Request, session: Session) -> WebSession | None:
    """The signed-in browser's key and CSRF token, or None (no cookie, forged, expired, or the
    key was revoked)."""
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 500:
        return None
    try:
        data = _serializer(request).loads(raw, max_age=MAX_AGE_S)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    key_id, csrf = data.get("k"), data.get("c")
    if not isinstance(key_id, int) or not isinstance(csrf, str):
        return None
    key = active_key(session, key_id)
    return None if key is None else WebSession(key=key, csrf=csrf)


def workspace_from_cookie(request: Request, session: Session) -> int | None:
    """The workspace of a signed-in browser for a safe (GET/HEAD) API request, else None.

    Lets the pages link the API's own pictures (report.html, map.svg, explain.svg) directly.
    Only reads: a cookie never authorises a write to the JSON API."""
    if request.method not in ("GET", "HEAD") or COOKIE not in request.cookies:
        return None
    signed_in = current_session(request, session)
    return None if signed_in is None else signed_in.key.workspace_id


def same_origin(request: Request) -> bool:
    """False when the browser says the form came from another origin (``Origin``, else
    ``Referer``); browsers send one of them on every cross-origin POST."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed or claimed == "null":
        return claimed is None
    own = f"{request.url.scheme}://{request.url.netloc}"
    return claimed == own or claimed.startswith(own + "/")


def tokens_match(expected: str, given: object) -> bool:
    return isinstance(given, str) and bool(expected) and secrets.compare_digest(expected, given)
