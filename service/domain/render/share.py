"""Signed, expiring share links for a board's report page (HMAC-SHA256 over board and expiry).

A token is ``v1.<payload>.<signature>``, both parts base64url without padding; the payload is
``<workspace id>.<board id>.<expiry, unix seconds>``. The signature covers the version and the
payload, so nothing in a token can be changed without the server's secret. Tokens are not
stored: whoever holds one can read that board's report until it expires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

VERSION = "v1"
MAX_TOKEN_CHARS = 200
MIN_SECRET_BYTES = 16
_PAYLOAD = re.compile(r"(\d{1,18})\.(\d{1,18})\.(\d{1,12})")
_TOKEN = re.compile(r"[A-Za-z0-9_.-]+")


class ShareTokenError(ValueError):
    """The token is malformed or its signature does not match (tampered or another server's)."""


class ShareTokenExpired(ShareTokenError):
    """The token is genuine but past its expiry."""


@dataclass(frozen=True, slots=True)
class ShareGrant:
    """What a share token allows: reading one board's report until ``expires_at`` (unix s)."""

    workspace_id: int
    board_id: int
    expires_at: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, signed: str) -> bytes:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the share link secret must be at least {MIN_SECRET_BYTES} bytes")
    return hmac.new(secret, signed.encode("ascii"), hashlib.sha256).digest()


def sign_share_token(secret: bytes, grant: ShareGrant) -> str:
    """A token for ``grant``. Raises ``ValueError`` for a short secret or negative numbers."""
    if min(grant.workspace_id, grant.board_id, grant.expires_at) < 0:
        raise ValueError("share grants hold non-negative ids and expiry")
    payload = _b64(f"{grant.workspace_id}.{grant.board_id}.{grant.expires_at}".encode("ascii"))
    signed = f"{VERSION}.{payload}"
    return f"{signed}.{_b64(_signature(secret, signed))}"


def verify_share_token(secret: bytes, token: str, *, now: int) -> ShareGrant:
    """The grant of a genuine token that is still valid at ``now`` (unix seconds).

    Raises ``ShareTokenExpired`` for a genuine token past its expiry and ``ShareTokenError``
    for anything else (wrong shape, bad signature, other version). The signature is checked
    before the expiry, so a forged token never learns whether its expiry would have passed.
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not _TOKEN.fullmatch(token):
        raise ShareTokenError("malformed share token")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        raise ShareTokenError("malformed share token")
    try:
        given = _unb64(parts[2])
        payload = _unb64(parts[1]).decode("ascii")
    except (binascii.Error, ValueError) as exc:
        raise ShareTokenError("malformed share token") from exc
    expected = _signature(secret, f"{parts[0]}.{parts[1]}")
    if not hmac.compare_digest(given, expected):
        raise ShareTokenError("bad share token signature")
    match = _PAYLOAD.fullmatch(payload)
    if match is None:
        raise ShareTokenError("malformed share token payload")
    grant = ShareGrant(int(match[1]), int(match[2]), int(match[3]))
    if now >= grant.expires_at:
        raise ShareTokenExpired("share token expired")
    return grant


def derive_share_secret(key_material: str) -> bytes:
    """A share-link signing key derived from an operator secret (e.g. the newest encryption
    key), so one configured secret serves both purposes without reusing the same key."""
    return hmac.new(
        key_material.encode("utf-8"), b"valuestream share links v1", hashlib.sha256
    ).digest()
