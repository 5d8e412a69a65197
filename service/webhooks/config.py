"""The secret box that keeps webhook secrets at rest (Fernet, keys from ``VSM_ENCRYPTION_KEYS``)."""

from __future__ import annotations

from collections.abc import Sequence

from service.crypto import Keyring, KeyringError


class SecretBoxError(Exception):
    """No usable encryption key: the message says what to set."""


class SecretBox:
    """Webhook secrets at rest, sealed with the process's one :class:`Keyring`."""

    def __init__(self, keys: Sequence[str]) -> None:
        try:
            self._keyring = Keyring(keys)
        except KeyringError as exc:
            raise SecretBoxError(f"webhook secrets are stored encrypted: {exc}") from None

    def seal(self, secret: str) -> bytes:
        return self._keyring.encrypt(secret)

    def open(self, blob: bytes) -> str:
        """The secret; ``SecretBoxError`` when no configured key opens it."""
        try:
            return self._keyring.decrypt(blob, what="a stored webhook secret")
        except KeyringError as exc:
            raise SecretBoxError(f"{exc}: rotate the secret") from None
