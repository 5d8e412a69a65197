"""Webhook settings (``VSM_WEBHOOKS__*``) and the secret box that keeps webhook secrets at rest."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import BaseModel, Field


class WebhookSettings(BaseModel):
    """The ``webhooks`` group of ``Settings``: ``VSM_WEBHOOKS__DEBOUNCE_S=10`` and so on."""

    debounce_s: float = Field(
        default=10.0, ge=0, le=3600, description="Triggers within this window make one import."
    )
    secret_overlap_s: int = Field(
        default=24 * 3600,
        ge=0,
        description="After a rotation the previous secret keeps verifying this long.",
    )
    tolerance_s: int = Field(
        default=300, ge=1, le=3600, description="Largest clock difference a signature may have."
    )
    max_body_bytes: int = Field(default=64 * 1024, ge=1, le=1024 * 1024)
    log_retention_days: int = Field(
        default=14, ge=1, description="Trigger log and finished deliveries are kept this long."
    )
    delivery_window_s: int = Field(
        default=24 * 3600, ge=60, description="Outbound deliveries are retried this long."
    )
    delivery_timeout_s: float = Field(default=10.0, gt=0, le=60)
    allow_private_targets: bool = Field(
        default=False,
        description="Let subscriptions call loopback and private addresses (receivers on "
        "this host or LAN, tests). Link-local and cloud metadata addresses stay refused.",
    )
    follow_redirects: bool = Field(
        default=False, description="Follow redirects of subscription URLs (each hop re-checked)."
    )


class SecretBoxError(Exception):
    """No usable encryption key: the message says what to set."""


class SecretBox:
    """Fernet encryption of webhook secrets with the settings' keys (newest first, rotatable)."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SecretBoxError(
                "webhook secrets are stored encrypted: set VSM_ENCRYPTION_KEYS to one or more "
                "Fernet keys (python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            )
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except (ValueError, TypeError) as exc:
            raise SecretBoxError(
                "VSM_ENCRYPTION_KEYS holds a key that is not a Fernet key"
            ) from exc

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, blob: bytes) -> str:
        """The secret; ``SecretBoxError`` when no configured key opens it."""
        try:
            return self._fernet.decrypt(blob).decode()
        except InvalidToken:
            raise SecretBoxError(
                "a stored webhook secret cannot be decrypted (was its key removed from "
                "VSM_ENCRYPTION_KEYS?): rotate the secret"
            ) from None
