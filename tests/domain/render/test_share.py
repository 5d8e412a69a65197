"""Share tokens: only the server's secret makes them, they expire, and tampering is caught."""

from __future__ import annotations

import base64
import hashlib

import pytest
from itsdangerous import URLSafeSerializer

from service.domain.render.share import (
    ShareGrant,
    ShareTokenError,
    ShareTokenExpired,
    ShareTokenRetired,
    derive_share_secret,
    sign_share_token,
    verify_share_token,
)

SECRET = derive_share_secret("test operator secret")
GRANT = ShareGrant(workspace_id=3, board_id=42, expires_at=1_800_000_000)


def test_a_signed_token_verifies_to_its_grant() -> None:
    token = sign_share_token(SECRET, GRANT)

    assert verify_share_token(SECRET, token, now=GRANT.expires_at - 1) == GRANT


def test_a_token_past_its_expiry_is_refused_as_expired() -> None:
    token = sign_share_token(SECRET, GRANT)

    with pytest.raises(ShareTokenExpired):
        verify_share_token(SECRET, token, now=GRANT.expires_at)


def test_a_token_from_another_secret_is_refused() -> None:
    token = sign_share_token(derive_share_secret("someone else's operator secret"), GRANT)

    with pytest.raises(ShareTokenError) as caught:
        verify_share_token(SECRET, token, now=0)
    assert not isinstance(caught.value, ShareTokenExpired)


def _swap_payload(token: str, payload: str) -> str:
    _, signature = token.rsplit(".", 1)
    encoded = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    return f"{encoded}.{signature}"


@pytest.mark.parametrize(
    "payload", ["[3,43,1800000000]", "[4,42,1800000000]", "[3,42,1900000000]", "[3,42,1800000000] "]
)
def test_changing_board_workspace_or_expiry_breaks_the_signature(payload: str) -> None:
    forged = _swap_payload(sign_share_token(SECRET, GRANT), payload)

    with pytest.raises(ShareTokenError):
        verify_share_token(SECRET, forged, now=0)


@pytest.mark.parametrize(
    "token",
    ["", "v1", "v1..", "v2.abc.def", "a.b.c", "x" * 500, "v1.äöü.sig", "v1.a.b\n", "v1.%%.$$"],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(ShareTokenError) as caught:
        verify_share_token(SECRET, token, now=0)
    assert not isinstance(caught.value, ShareTokenRetired | ShareTokenExpired)


def test_a_link_of_the_first_format_is_named_retired_not_forged() -> None:
    first_format = "v1.My40Mi4xODAwMDAwMDAw.q2Hc0o1w4bJ9qzY0kTnNnq2B0x7P8g9V5oZ8m7m3L0A"

    with pytest.raises(ShareTokenRetired):
        verify_share_token(SECRET, first_format, now=0)


def test_a_signed_payload_that_is_not_a_grant_is_refused() -> None:
    odd = URLSafeSerializer(
        SECRET, salt="vsm-share-link", signer_kwargs={"digest_method": hashlib.sha256}
    ).dumps({"board": 42})

    with pytest.raises(ShareTokenError):
        verify_share_token(SECRET, odd, now=0)


def test_a_short_secret_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least"):
        sign_share_token(b"short", GRANT)


def test_tokens_fit_in_a_url_without_escaping() -> None:
    token = sign_share_token(SECRET, GRANT)

    assert len(token) < 100
    assert all(c.isalnum() or c in "-_." for c in token)
