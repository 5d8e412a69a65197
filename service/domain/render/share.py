"""Signed, expiring share links for a board's report page (itsdangerous, HMAC-SHA256).

A token is itsdangerous's URL-safe signed form of ``[workspace id, board id, expiry in unix
seconds]`` under the salt ``vsm-share-link`` (so a session cookie signed with the same secret is
never a share token). Nothing in a token can be changed without the server's secret. Tokens are
not stored: whoever holds one can read that board's report until it expires.

Links of the first format (``v1.<payload>.<signature>``, hand-made HMAC) are no longer
accepted: :func:`verify_share_token` names them with :class:`ShareTokenRetired` so the API can
say "ask for a new link" (410) instead of "no such report".
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

MAX_TOKEN_CHARS = 200
MIN_SECRET_BYTES = 16
_SALT = "vsm-share-link"
_TOKEN = re.compile(r"[A-Za-z0-9_.-]+")
_RETIRED = re.compile(r"v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_MAX_ID = 10**18


class ShareTokenError(ValueError):
    """The token is malformed or its signature does not match (tampered or another server's)."""


class ShareTokenExpired(ShareTokenError):
    """The token is genuine but past its expiry."""


class ShareTokenRetired(ShareTokenError):
    """The token has the first link format, which this release no longer accepts."""


@dataclass(frozen=True, slots=True)
class ShareGrant:
    """What a share token allows: reading one board's report until ``expires_at`` (unix s)."""

    workspace_id: int
    board_id: int
    expires_at: int


def _serializer(secret: bytes) -> URLSafeSerializer:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the share link secret must be at least {MIN_SECRET_BYTES} bytes")
    return URLSafeSerializer(secret, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256})


def sign_share_token(secret: bytes, grant: ShareGrant) -> str:
    """A token for ``grant``. Raises ``ValueError`` for a short secret or negative numbers."""
    numbers = (grant.workspace_id, grant.board_id, grant.expires_at)
    if min(numbers) < 0 or max(numbers) >= _MAX_ID:
        raise ValueError("share grants hold non-negative ids and expiry below 10**18")
    return str(_serializer(secret).dumps(list(numbers)))


def verify_share_token(secret: bytes, token: str, *, now: int) -> ShareGrant:
    """The grant of a genuine token that is still valid at ``now`` (unix seconds).

    Raises ``ShareTokenExpired`` for a genuine token past its expiry, ``ShareTokenRetired``
    for a link of the first format and ``ShareTokenError`` for anything else (wrong shape, bad
    signature). The signature is checked before the expiry, so a forged token never learns
    whether its expiry would have passed.
    """
    serializer = _serializer(secret)
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not _TOKEN.fullmatch(token):
        raise ShareTokenError("malformed share token")
    if _RETIRED.fullmatch(token):
        raise ShareTokenRetired("share links of the first format are no longer accepted")
    try:
        payload = serializer.loads(token)
    except BadSignature as exc:
        raise ShareTokenError("bad share token signature") from exc
    if (
        not isinstance(payload, list)
        or len(payload) != 3
        or not all(type(n) is int and 0 <= n < _MAX_ID for n in payload)
    ):
        raise ShareTokenError("malformed share token payload")
    grant = ShareGrant(payload[0], payload[1], payload[2])
    if now >= grant.expires_at:
        raise ShareTokenExpired("share token expired")
    return grant


def derive_share_secret(key_material: str) -> bytes:
    """The share-link signing secret of an operator secret (e.g. the newest encryption key).

    itsdangerous derives a separate HMAC key for each salt from it, so share links and session
    cookies signed with one configured secret never validate as each other.
    """
    return key_material.encode("utf-8")
