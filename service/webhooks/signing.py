"""The webhook signature scheme, shared by inbound triggers and outbound deliveries.

Header (the Stripe layout)::

    Valuestream-Signature: t=1764221400,v1=5257a869e7ec...8bd  (64 hex digits)

``t`` is the sender's clock in Unix seconds; each ``v1`` is the lowercase hex HMAC-SHA256 of
``f"{t}." + raw body`` keyed with a webhook secret (its UTF-8 bytes). During a secret rotation a
sender may put one ``v1`` per secret; one match is enough. Unknown schemes (``v0=``...) are
ignored so the scheme can grow. ``Valuestream-Delivery`` carries a unique id per delivery,
which receivers use to drop replays.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence

SIGNATURE_HEADER = "Valuestream-Signature"
DELIVERY_HEADER = "Valuestream-Delivery"
EVENT_HEADER = "Valuestream-Event"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix that marks secrets in leaks, no secret

# A header longer than this, or with more signatures, is refused unparsed: it can only be abuse.
MAX_HEADER_CHARS = 2048
MAX_SIGNATURES = 8
_HEX_DIGEST_CHARS = 64
_MAX_TIMESTAMP_DIGITS = 12


class SignatureError(Exception):
    """The request's signature does not authenticate it. ``reason`` is a stable code for logs."""

    reason = "signature_invalid"


class MissingSignature(SignatureError):
    reason = "signature_missing"


class MalformedSignature(SignatureError):
    reason = "signature_malformed"


class ExpiredTimestamp(SignatureError):
    reason = "timestamp_out_of_tolerance"


class NoMatchingSignature(SignatureError):
    reason = "signature_mismatch"


def new_secret() -> str:
    """A fresh webhook secret: ``whsec_`` and 32 random bytes, URL-safe base64."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def new_delivery_id() -> str:
    return str(uuid.uuid4())


def compute(secret: str, body: bytes, t: int) -> str:
    """The hex ``v1`` signature of ``body`` sent at ``t`` (Unix seconds)."""
    message = str(int(t)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str | Sequence[str], body: bytes, t: int) -> str:
    """The ``Valuestream-Signature`` header value; one ``v1`` per secret when given several."""
    keys = [secret] if isinstance(secret, str) else list(secret)
    if not keys:
        raise ValueError("at least one secret is needed to sign")
    return ",".join([f"t={int(t)}", *(f"{SCHEME}={compute(key, body, t)}" for key in keys)])


def parse(header: str | None) -> tuple[int, list[str]]:
    """``(t, [v1 signatures])`` of a header; raises ``MissingSignature``/``MalformedSignature``."""
    if header is None or not header.strip():
        raise MissingSignature(f"the {SIGNATURE_HEADER} header is missing")
    if len(header) > MAX_HEADER_CHARS:
        raise MalformedSignature(f"the {SIGNATURE_HEADER} header is too long")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise MalformedSignature(f"the {SIGNATURE_HEADER} header has a part without '='")
        if key == "t":
            if timestamp is not None:
                raise MalformedSignature(f"the {SIGNATURE_HEADER} header has two timestamps")
            if not value.isdigit() or not value.isascii() or len(value) > _MAX_TIMESTAMP_DIGITS:
                raise MalformedSignature("the timestamp t= must be Unix seconds")
            timestamp = int(value)
        elif key == SCHEME:
            value = value.lower()
            if len(value) != _HEX_DIGEST_CHARS or not all(c in "0123456789abcdef" for c in value):
                raise MalformedSignature("a v1= signature must be 64 hex digits")
            signatures.append(value)
            if len(signatures) > MAX_SIGNATURES:
                raise MalformedSignature(f"more than {MAX_SIGNATURES} v1= signatures")
    if timestamp is None:
        raise MalformedSignature(f"the {SIGNATURE_HEADER} header has no t= timestamp")
    if not signatures:
        raise MalformedSignature(f"the {SIGNATURE_HEADER} header has no v1= signature")
    return timestamp, signatures


def verify(
    secrets: Sequence[str],
    header: str | None,
    body: bytes,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_S,
) -> None:
    """Check ``header`` against ``body`` with any of ``secrets`` (the current ones).

    Raises ``MissingSignature``, ``MalformedSignature``, ``ExpiredTimestamp`` (the timestamp is
    more than ``tolerance`` seconds before or after ``now``) or ``NoMatchingSignature``. Every
    (secret, signature) pair is compared in constant time, so the time taken tells nothing
    about how close a forgery came.
    """
    timestamp, signatures = parse(header)
    if abs(now - timestamp) > tolerance:
        raise ExpiredTimestamp(
            f"the signature timestamp is more than {tolerance} seconds away from the server clock"
        )
    matched = False
    for secret in secrets:
        expected = compute(secret, body, timestamp)
        for signature in signatures:
            matched |= hmac.compare_digest(expected, signature)
    if not matched:
        raise NoMatchingSignature("no v1= signature matches the body with a current secret")
